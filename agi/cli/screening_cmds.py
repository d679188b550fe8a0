"""`grenswacht serve` and `grenswacht screen`."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import time

from agi.actions import logbook
from agi.cli.common import (
    Subparsers,
    UsageError,
    add_command,
    config_source,
    emit_json,
    iso,
    journal_problem,
    number_arg,
    open_store,
    ports_free,
)
from agi.config import Config


def open_fastagi(config: Config) -> str | None:
    """Why FastAGI is open beyond this machine without a shared secret (pure), or None. Then any
    host that reaches the port and is in [agi] peers can log incidents, and with them ban callers."""
    if config.agi.secret:
        return None
    host = config.agi.host_port[0]
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only localhost is this machine
        local = host == "localhost"
    nets = [ipaddress.ip_network(peer) for peer in config.agi.peers]
    outside = [str(n) for n in nets if not (n.network_address.is_loopback and n.broadcast_address.is_loopback)]
    if local or not outside:
        return None
    return (
        f"agi.listen {config.agi.listen} accepts the peers {', '.join(outside)} from beyond this machine "
        "without a shared secret, so any of them can log incidents and ban callers; set "
        "GRENSWACHT_AGI_SECRET (dialplan/README.md, section 6)"
    )


async def serve(args: argparse.Namespace, config: Config) -> int:
    from agi import logs, workers

    problem = config.fd_problem()
    if problem is not None:
        raise UsageError(problem)
    logs.configure(mask=config.numbers.mask_in_logs, region=config.numbers.default_region)
    # Every port this service listens on, before anything starts: a busy one is exit code 2 and a
    # sentence naming its setting, never a service running without its metrics (or its calls).
    ports_free({"agi.listen": config.agi.listen, "metrics.listen": config.metrics.listen})
    problem = journal_problem(config.storage.journal_path)
    if problem is not None:
        raise UsageError(problem)
    log = logs.get_logger("grenswacht.serve")
    log.info("config-loaded", path=config_source(args) or "built-in defaults (no --config, no GRENSWACHT_CONFIG)")
    open_without_secret = open_fastagi(config)
    if open_without_secret:
        log.warning("fastagi-open-without-secret", problem=open_without_secret)
    try:
        if config.agi.workers > 1:  # the parent of N worker processes (agi.workers); blocks until stopped
            return workers.run_parent(config, args.config)
        workers.adopt_orphan_journals(config.storage.journal_path, 1)  # left by a run with workers > 1
        from agi.service import Service

        await Service(config, config_path=args.config).run()
    except OSError as exc:
        # Binding the listen address fails with one of these and no file name (a file the
        # service cannot open has one); anything else is for main to report.
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) or exc.filename:
            raise
        raise UsageError(f"agi.listen {config.agi.listen}: {os.strerror(exc.errno).lower()}.") from None
    return 0


async def screen_cmd(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config, valid=False)
    async with open_store(config) as store:
        view = await logbook.caller_view(config, store, number, time.time(), did=args.did)
    d = view.decision
    out = {
        "caller": number,
        "did": args.did,
        "protocol": view.protocol,
        "action": d.action.value,
        "reason": d.reason.value,
        "score": d.score,
        "incidents": d.incidents,
        "ban_until": iso(d.ban_until) or None,
        "would_set_ban_until": iso(d.new_ban.until) if d.new_ban else None,
    }
    if args.json:
        emit_json(out)
    else:
        print(
            f"{number}: {d.action.value} ({d.reason.value}); score {d.score} from {d.incidents} incident(s) "
            f"in the window of protocol '{view.protocol}'"
            + (f"; banned until {iso(d.ban_until)}" if d.ban_until else "")
        )
    return 0


def register(sub: Subparsers) -> None:
    add_command(sub, "serve", "run the FastAGI service", serve)
    p = add_command(sub, "screen", "show what would happen to a caller now, and why", screen_cmd, json_output=True)
    p.add_argument("number")
    p.add_argument("--did", help="the dialled number (selects the protocol)")
