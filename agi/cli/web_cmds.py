"""`grenswacht web`: the supervisor console (console/), served by uvicorn on `[web] listen`."""

from __future__ import annotations

import argparse
import os
import socket

from agi.cli.common import Subparsers, UsageError, add_command
from agi.config import Config, split_host_port


def bind(listen: str) -> socket.socket:
    """The listening socket, bound here so a busy or forbidden address is one sentence."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise UsageError(f"web.listen {listen}: {reason}.") from None
    return sock


async def web_cmd(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from agi import logs
    from console.app import create_app

    logs.configure(mask=config.numbers.mask_in_logs, region=config.numbers.default_region)
    sock = bind(config.web.listen)
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
