"""`grenswacht callbacks list|add|move|cancel`: thin over agi.callbacks.appointments."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from agi.callbacks import appointments as A
from agi.callbacks import rules as R
from agi.callbacks.model import Appointment
from agi.cli.common import (
    Subparsers,
    UsageError,
    actor,
    add_command,
    add_group,
    emit_json,
    number_arg,
    open_store,
    table,
)
from agi.config import Config

T = TypeVar("T")

_IFACE = re.compile(r"^[A-Za-z0-9_/@.\-]{1,128}$")


def parse_at(raw: str, config: Config) -> float:
    """ISO 8601 with or without an offset; none means the configured time zone."""
    try:
        return A.parse_time(raw, config.callbacks.timezone)
    except R.BadTime as exc:
        raise UsageError(str(exc)) from None


def local(ts: float, config: Config) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(config.callbacks.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _row(a: Appointment, config: Config) -> dict[str, Any]:
    return {**a.public(), "due_local": local(a.due, config)}


def _rules(config: Config) -> R.Rules:
    return R.Rules.from_config(config.callbacks)


async def _guard(coro: Awaitable[T]) -> T:
    try:
        return await coro
    except (R.BadTime, A.NotFound, A.Conflict) as exc:
        raise UsageError(str(exc)[0].upper() + str(exc)[1:]) from None


async def list_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        rows = await A.listing(store, now=time.time(), due_only=args.due, agent=args.agent)
    if args.json:
        emit_json([_row(a, config) for a in rows])
    else:
        table(
            ("id", "due", "caller", "agent", "status", "attempts", "outcome"),
            [(a.id, local(a.due, config), a.caller, a.agent, a.status, a.attempts, a.outcome) for a in rows],
        )
    return 0


async def add_cmd(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config)
    due = parse_at(args.at, config)
    if args.agent and not _IFACE.match(args.agent):
        raise UsageError(f"{args.agent!r} is not an agent interface (e.g. PJSIP/1001).")
    if not args.agent and not config.callbacks.fallback:
        raise UsageError("Nobody would be rung first: give --agent IFACE, or set [callbacks] fallback.")
    async with open_store(config) as store:
        appt = await _guard(
            A.operator_add(
                store,
                _rules(config),
                caller=number,
                due=due,
                now=time.time(),
                agent=args.agent or "",
                actor=actor(args),
            )
        )
    print(f"callback {appt.id}: {number} at {local(appt.due, config)}")
    return 0


async def move_cmd(args: argparse.Namespace, config: Config) -> int:
    due = parse_at(args.at, config)
    async with open_store(config) as store:
        appt = await _guard(
            A.operator_move(store, _rules(config), args.id, due=due, now=time.time(), actor=actor(args))
        )
    print(f"callback {appt.id}: moved to {local(appt.due, config)}")
    return 0


async def cancel_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        appt = await _guard(A.operator_cancel(store, args.id, now=time.time(), actor=actor(args)))
    print(f"callback {appt.id}: cancelled")
    return 0


# What agi.callbacks.rules.check_manual holds a typed time to.
AT_HELP = (
    "the new time, ISO 8601 (e.g. 2026-11-24T10:30; without an offset, in [callbacks] timezone); "
    "it must be in the future and inside the working hours ([callbacks] opens-closes, on a day "
    "that is not in closed_days or closed_dates)"
)


def register(sub: Subparsers) -> None:
    csub = add_group(sub, "callbacks", "callback appointments made with the agent's callback key")
    p = add_command(csub, "list", "list appointments", list_cmd, json_output=True)
    p.add_argument("--due", action="store_true", help="only those due now and not yet placed")
    p.add_argument("--agent", help="agent interface, e.g. PJSIP/1001")
    p = add_command(csub, "add", "make an appointment", add_cmd)
    p.add_argument("number")
    p.add_argument("--at", required=True, help=AT_HELP)
    p.add_argument("--agent", help="the agent to ring first (default: the fallback destination)")
    p.add_argument("--actor")
    p = add_command(csub, "move", "change an appointment's time", move_cmd)
    p.add_argument("id")
    p.add_argument("--at", required=True, help=AT_HELP)
    p.add_argument("--actor")
    p = add_command(csub, "cancel", "cancel an appointment", cancel_cmd)
    p.add_argument("id")
    p.add_argument("--actor")
