"""`grenswacht web`: the supervisor console (console/), served by uvicorn on `[web] listen`."""

from __future__ import annotations

import argparse

from agi.cli.common import Subparsers, add_command, bind, config_source
from agi.config import Config


async def web_cmd(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from agi import logs
    from console.app import create_app

    logs.configure(mask=config.numbers.mask_in_logs, region=config.numbers.default_region)
    sock = bind(config.web.listen, "web.listen")
    host, port = sock.getsockname()[:2]
    where = f"[{host}]" if ":" in host else host
    logs.get_logger("grenswacht.web").info(
        "web-listening", url=f"http://{where}:{port}/", config=config_source(args) or "built-in defaults"
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips=config.web.trusted_proxies,
            access_log=False,
        )
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
    return 0


def register(sub: Subparsers) -> None:
    add_command(sub, "web", "serve the supervisor web console on [web] listen", web_cmd)
