"""Helpers shared by the CLI commands: output, dates, the store."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from agi.actions import ActionError
from agi.actions.formats import iso as iso  # the commands print times as the audit trail writes them
from agi.config import ENV_CONFIG, Config, split_host_port
from agi.numbers import parse_operator_number
from redis_schema.store import Store


class UsageError(Exception):
    """Operator error: printed as one sentence, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one sentence and exit code 2 (via UsageError)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message[0].upper() + message[1:].rstrip(".") + f" (see '{self.prog} --help').")


# What `add_subparsers(parser_class=Parser)` returns: where the commands are registered.
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"
# A command: an async function of the parsed arguments and the configuration, giving the exit code.
Command: TypeAlias = Callable[[argparse.Namespace, Config], Awaitable[int]]


def add_group(sub: Subparsers, name: str, help: str, default: Command | None = None) -> Subparsers:
    """A command with actions of its own (`incidents list`, `warnings sent`); ``default`` runs without one."""
    p = sub.add_parser(name, help=help, description=help)
    if default is not None:
        p.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(run=default)
    return p.add_subparsers(dest=f"{name}_action", required=default is None, metavar="ACTION", parser_class=Parser)


def add_command(sub: Subparsers, name: str, help: str, run: Command, *, json_output: bool = False) -> Parser:
    """A sub-command that also takes --config (and --json for read commands)."""
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file")
    if json_output:
        p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)
    return p


@asynccontextmanager
async def open_store(config: Config) -> AsyncIterator[Store]:
    """The store, for one command; a refused supervisor action (agi.actions) becomes a UsageError."""
    from agi import wiring  # here: the whole service's parts, which a command's start need not load

    store = wiring.build_store(config)
    try:
        await store.server.ping()
        yield store
    except ActionError as exc:
        raise UsageError(str(exc)) from None
    finally:
        await store.close()


def number_arg(raw: str, config: Config, *, valid: bool = True) -> str:
    """A typed number, exactly; ``valid=False`` for look-ups, unban and erasure (see parse_operator_number)."""
    return parse_operator_number(raw, config.numbers.default_region, valid=valid)


# Dates an operator may type: --since from the Unix epoch (nothing is older), --at from 2000;
# both at most a day ahead (clock skew, time zones). Anything else is a typo.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_AT = datetime(2000, 1, 1, tzinfo=UTC)


def parse_date(raw: str, earliest: datetime = EPOCH, zone: tzinfo = UTC) -> float:
    """YYYY-MM-DD or an ISO 8601 timestamp (in ``zone`` unless it says otherwise), from ``earliest`` to tomorrow.

    The reading commands pass the console's zone, ``[web] timezone``: a day is the same day in both.
    """
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{raw!r} is not a date (expected YYYY-MM-DD or an ISO 8601 time).") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    latest = datetime.now(UTC) + timedelta(days=1)
    if not earliest <= dt <= latest:
        raise UsageError(f"{raw!r} is out of range (expected a date from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}).")
    return dt.timestamp()


def actor(args: argparse.Namespace) -> str:
    """--actor, else the user behind sudo, else the login name; a name (agi.actions.bounds) or ActionError."""
    from agi.actions.bounds import actor_name

    return actor_name(getattr(args, "actor", None) or os.environ.get("SUDO_USER") or getpass.getuser())


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def cell(value: Any) -> str:
    """A value on one line of a table: a line break or another control character is shown escaped
    (\\n), so that no stored text (a note, or data from an older version) can add a row of its own."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [[cell(v) for v in row] for row in rows]
    if not rows:
        print("(none)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def listing(rows: Sequence[Mapping[str, Any]], as_json: bool) -> int:
    """A list command's output: the rows as JSON objects (``--json``), else a table whose columns
    are their keys; the exit code."""
    if as_json:
        emit_json(rows)
    else:
        table(list(rows[0]) if rows else [], [tuple(r.values()) for r in rows])
    return 0


# ---- start-up: where the configuration came from, and the ports a command listens on ------------
def config_source(args: argparse.Namespace) -> str | None:
    """The configuration file this command loaded (--config, else $GRENSWACHT_CONFIG); None: the defaults."""
    return getattr(args, "config", None) or os.environ.get(ENV_CONFIG) or None


def bind(listen: str, setting: str) -> socket.socket:
    """A socket bound to ``listen`` (HOST:PORT), so that a busy or forbidden address is one
    sentence naming ``setting`` (e.g. ``web.listen``) instead of a half-started service."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (socket.gaierror, UnicodeError):  # a host name that does not resolve (gaierror is an OSError)
        sock.close()
        raise UsageError(f"{setting} {listen}: the host is not an address of this machine.") from None
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise UsageError(f"{setting} {listen}: {reason}.") from None
    return sock


def ports_free(listening: dict[str, str]) -> None:
    """Each of these addresses (setting -> HOST:PORT; empty: off) can be listened on, checked before
    anything starts; else UsageError naming the setting (exit code 2)."""
    for setting, listen in listening.items():
        if listen:
            bind(listen, setting).close()


def journal_problem(journal_path: str) -> str | None:
    """Why this user cannot write the write-ahead journal (its folder made if missing), or None.
    Without it a key press is logged in Redis alone, and lost when Redis is down: an error."""
    path = Path(journal_path)
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if (
        folder is None
        or not folder.is_dir()
        or not os.access(folder, os.W_OK | os.X_OK)
        or (path.exists() and (not path.is_file() or not os.access(path, os.W_OK)))
    ):
        return (
            f"storage.journal_path: {path} cannot be written by this user, so a key press would be logged "
            "in Redis alone (and lost when Redis is down); make its folder writable, or choose another path."
        )
    return None
