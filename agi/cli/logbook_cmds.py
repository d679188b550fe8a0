"""The logbook: `caller`, `incidents list|show|add|debrief`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from agi.actions import ActionError, logbook, queries
from agi.cli.common import (
    EARLIEST_AT,
    Subparsers,
    UsageError,
    actor,
    add_command,
    add_group,
    emit_json,
    iso,
    number_arg,
    open_store,
    parse_date,
    table,
)
from agi.config import Config
from agi.engine import CallerRecord, Decision
from redis_schema.incident_log import incident_dict


def caller_summary(number: str, record: CallerRecord, decision: Decision, protocol: str) -> dict[str, Any]:
    return {
        "caller": number,
        "protocol": protocol,
        "action": decision.action.value,
        "reason": decision.reason.value,
        "score": decision.score,
        "incidents_in_window": decision.incidents,
        "ban": None
        if record.ban is None
        else {
            "until": iso(record.ban.until),
            "active": record.ban.until > time.time(),
            "reason": record.ban.reason,
            "source": record.ban.source,
            "by": record.ban.actor,
            "at": iso(record.ban.set_at),
        },
        "allowlisted": None
        if record.allow is None
        else {"reason": record.allow.reason, "by": record.allow.actor, "at": iso(record.allow.set_at)},
        "warning_sent": iso(record.warning_sent_at) or None,
        "incidents": [incident_dict(number, i) for i in record.incidents],
    }


def incident_rows(items: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            i["id"],
            iso(i["at"]),
            i["caller"],
            i["category"],
            i["agent"],
            i["queue"],
            "yes" if i.get("debrief_at") else "open",
            (i["note"] or "")[:40],
        )
        for i in items
    ]


INCIDENT_HEADERS = ("id", "time", "caller", "category", "agent", "queue", "debrief", "note")


async def caller_cmd(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config, valid=False)
    async with open_store(config) as store:
        view = await logbook.caller_view(config, store, number, time.time())
    summary = caller_summary(number, view.record, view.decision, view.protocol)
    if args.json:
        emit_json(summary)
        return 0
    d = view.decision
    print(f"Caller {number}")
    print(
        f"  now: {d.action.value} ({d.reason.value}), score {d.score} from {d.incidents} incident(s) "
        f"in the window of protocol '{view.protocol}'"
    )
    ban = summary["ban"]
    print(
        f"  ban: {'until ' + ban['until'] + (' (active)' if ban['active'] else ' (expired)') + ', ' + ban['source'] + ', ' + (ban['reason'] or '-') if ban else 'none'}"
    )
    allow = summary["allowlisted"]
    print(f"  allowlist: {'yes, ' + (allow['reason'] or '-') + ' (by ' + allow['by'] + ')' if allow else 'no'}")
    print(f"  written warning sent: {summary['warning_sent'] or 'no'}")
    print()
    table(INCIDENT_HEADERS, incident_rows(summary["incidents"]))
    return 0


async def incidents_list(args: argparse.Namespace, config: Config) -> int:
    """The console's logbook question (agi.actions.queries), every page of it, oldest first."""
    since = parse_date(args.since, zone=ZoneInfo(config.web.timezone)) if args.since else None
    caller = number_arg(args.caller, config, valid=False) if args.caller else None
    try:
        f = queries.incident_filters(
            config,
            caller=caller,
            agent=args.agent or "",
            category=args.category or "",
            since=since,
            open_only=args.open,
        )
    except ActionError as exc:
        raise UsageError(str(exc)) from None
    async with open_store(config) as store:
        found = await queries.every_incident(store, f)
    items = [incident_dict(i.caller, i) for i in reversed(found)]
    if args.json:
        emit_json(items)
    else:
        table(INCIDENT_HEADERS, incident_rows(items))
    return 0


async def incidents_show(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        inc = await logbook.get(store, args.id)
    item = incident_dict(inc.caller, inc)
    if args.json:
        emit_json(item)
    else:
        for key, value in item.items():
            if key in ("at", "debrief_at"):
                value = iso(value)
            print(f"{key:>14}: {value if value not in (None, '') else '-'}")
    return 0


async def incidents_add(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config)
    at = parse_date(args.at, EARLIEST_AT) if args.at else time.time()
    async with open_store(config) as store:
        iid = await logbook.add(store, config, number, args.category, args.note or "", at, actor(args), time.time())
    print(iid)
    return 0


async def incidents_debrief(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        inc = await logbook.debrief(store, args.id, args.answer or "", args.note, actor(args), time.time())
    print(f"debrief recorded for {inc.id}")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "caller",
        "everything about one caller: decision now and why, incidents, ban, allowlist",
        caller_cmd,
        json_output=True,
    )
    p.add_argument("number")

    isub = add_group(sub, "incidents", "the incident logbook")
    p = add_command(isub, "list", "list incidents", incidents_list, json_output=True)
    p.add_argument("--caller")
    p.add_argument("--agent", help="agent interface or part of it (any case)")
    p.add_argument("--since", help="YYYY-MM-DD (a day in [web] timezone) or ISO 8601 time")
    p.add_argument("--category")
    p.add_argument("--open", action="store_true", help="only incidents still awaiting a debrief")
    p = add_command(isub, "show", "one incident", incidents_show, json_output=True)
    p.add_argument("id")
    p = add_command(isub, "add", "log an incident reported another way (letter, counter visit)", incidents_add)
    p.add_argument("number")
    p.add_argument("--category", required=True)
    p.add_argument("--note")
    p.add_argument("--at", help="when it happened, from 2000-01-01 to tomorrow (default now)")
    p.add_argument("--actor")
    p = add_command(isub, "debrief", "record the debrief with the agent (their reflection)", incidents_debrief)
    p.add_argument("id")
    p.add_argument("--note", required=True)
    p.add_argument(
        "--answer",
        choices=logbook.DEBRIEF_ANSWERS,
        help="did the agent react consciously? conscious | impulsive | not-discussed",
    )
    p.add_argument("--actor")
