"""`grenswacht web`: the supervisor console (console/), served by uvicorn on `[web] listen`."""

from __future__ import annotations

import argparse
import ipaddress
import os

from agi.cli.common import Subparsers, UsageError, add_command, bind, config_source
from agi.config import Config, split_host_port


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tls_options(config: Config) -> dict[str, str]:
    """uvicorn's own TLS from `[web] tls_certificate` / `tls_key`; both or neither (one sentence)."""
    cert, key = config.web.tls_certificate, config.web.tls_key
    if bool(cert) != bool(key):
        raise UsageError("web.tls_certificate and web.tls_key go together: set both, or neither.")
    for name, path in (("tls_certificate", cert), ("tls_key", key)):
        if path and not os.access(path, os.R_OK):
            raise UsageError(f"web.{name} {path}: not a readable file.")
    return {"ssl_certfile": cert, "ssl_keyfile": key} if cert else {}


async def web_cmd(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from agi import logs
    from console.app import create_app

    logs.configure(mask=config.numbers.mask_in_logs, region=config.numbers.default_region)
    tls = tls_options(config)
    sock = bind(config.web.listen, "web.listen")
    host, port = split_host_port(config.web.listen)
    scheme = "https" if tls else "http"
    log = logs.get_logger("grenswacht.web")
    if not tls and not loopback(host):
        log.warning(
            "console-plain-http-beyond-loopback",
            listen=config.web.listen,
            detail="passwords and session cookies cross the network unencrypted: put a TLS reverse proxy "
            "in front and listen on 127.0.0.1, or set [web] tls_certificate and tls_key (docs/console.md)",
        )
    port = sock.getsockname()[1]
    where = f"[{host}]" if ":" in host else host
    log.info("web-listening", url=f"{scheme}://{where}:{port}/", config=config_source(args) or "built-in defaults")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips=config.web.trusted_proxies,
            access_log=False,
            **tls,  # type: ignore[arg-type]
        )
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
    return 0


def register(sub: Subparsers) -> None:
    add_command(sub, "web", "serve the supervisor web console on [web] listen", web_cmd)
