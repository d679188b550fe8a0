"""Reloading the configuration on SIGHUP, and telling systemd how the service is doing.

A reload reads the file again. A file that does not load is refused and the running configuration
kept (one log line). Of a good file, the sections in ``HOT`` take effect at once: every route
reads ``deps.config`` per request, so a call in progress finishes on the configuration it started
with and the next one gets the new one; nothing is restarted and no call dropped. A change to any
other section (``[redis]``, ``[agi]``, ``[ami]``, ``[storage]``, ``[metrics]``: sockets, pools and
files opened at start) is logged as "needs restart", one line, and not applied.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

from agi.config import ENV_CONFIG, Config, ConfigError, load_config
from agi.logs import get_logger

log = get_logger("grenswacht.reload")

# Sections a running service takes over from a reloaded file.
HOT = ("numbers", "protocols", "dids", "prompts", "routing", "features", "aftercare", "callbacks")


@dataclass(frozen=True)
class Plan:
    config: Config  # what to run with: the new HOT sections, the rest as running
    changed: tuple[str, ...]  # HOT sections that changed (applied)
    needs_restart: tuple[str, ...]  # other sections that changed (not applied)


def plan(running: Config, new: Config) -> Plan:
    """What a reload from ``running`` to ``new`` changes (pure)."""
    new = _as_worker(running, new)
    sections = tuple(type(running).model_fields)
    changed = tuple(s for s in sections if getattr(running, s) != getattr(new, s))
    keep = {s: getattr(running, s) for s in sections if s not in HOT}
    return Plan(
        new.model_copy(update=keep), tuple(s for s in changed if s in HOT), tuple(s for s in changed if s not in HOT)
    )


def _as_worker(running: Config, new: Config) -> Config:
    """A worker runs with its own journal, <journal_path>.wK (agi.workers): that is the same setting."""
    path = running.storage.journal_path
    if re.fullmatch(re.escape(new.storage.journal_path) + r"\.w[0-9]+", path):
        return new.model_copy(update={"storage": new.storage.model_copy(update={"journal_path": path})})
    return new


def config_path(given: str | None) -> str | None:
    return given or os.environ.get(ENV_CONFIG) or None


def reread(path: str | None, running: Config) -> Plan | None:
    """Load the file again and plan the change; None (and one log line) when it cannot be used."""
    if path is None:
        log.error("config-reload-refused", problem="the service was started without a config file")
        return None
    try:
        new = load_config(path)
    except ConfigError as exc:
        log.error("config-reload-refused", path=path, problem=str(exc), kept="the running configuration")
        return None
    result = plan(running, new)
    if result.needs_restart:
        log.warning(
            "config-needs-restart",
            sections=list(result.needs_restart),
            hint="these changes take effect when the service is restarted",
        )
    log.info("config-reloaded", path=path, changed=list(result.changed))
    return result


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to systemd when it started us with Type=notify; never raises."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("sd-notify-failed", state=state, error=type(exc).__name__)
        return False
