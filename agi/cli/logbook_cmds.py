"""The logbook: `caller`, `incidents list|show|add|debrief`."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agi.actions import ActionError, logbook, names, police, queries
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


def caller_summary(
    number: str, record: CallerRecord, decision: Decision, protocol: str, name: str = ""
) -> dict[str, Any]:
    return {
        "caller": number,
        "name": name,
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


def incident_rows(items: Iterable[Mapping[str, Any]], agents: Mapping[str, str] | None = None) -> list[tuple[Any, ...]]:
    """Table rows of incidents: the caller with their name, the agent with theirs (issue 30)."""
    return [
        (
            i["id"],
            iso(i["at"]),
            names.label(i["caller"], i.get("caller_name") or ""),
            i["category"],
            names.agent_label(agents or {}, i["agent"]),
            i["queue"],
            "yes" if i.get("debrief_at") else "open",
            (i["note"] or "")[:40],
        )
        for i in items
    ]


INCIDENT_HEADERS = ("id", "time", "caller", "category", "agent", "queue", "debrief", "note")


async def caller_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        found = await names.find_callers(config, store, args.number)  # a number, or a name (issue 30)
        if len(found) > 1:
            return found_callers(args, found)
        number = found[0].number
        view = await logbook.caller_view(config, store, number, time.time())
    summary = caller_summary(number, view.record, view.decision, view.protocol, view.name)
    if args.json:
        emit_json(summary)
        return 0
    d = view.decision
    print(f"Caller {names.label(number, view.name)}")
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


def found_callers(args: argparse.Namespace, found: list[names.Caller]) -> int:
    """Several callers go by the name searched for: list them (``caller NUMBER`` shows one)."""
    if args.json:
        emit_json([{"caller": c.number, "name": c.name} for c in found])
    else:
        table(("caller", "name"), [(c.number, c.name) for c in found])
    return 0


async def incidents_list(args: argparse.Namespace, config: Config) -> int:
    """The console's logbook question (agi.actions.queries), every page of it, oldest first."""
    since = parse_date(args.since, zone=ZoneInfo(config.web.timezone)) if args.since else None
    try:
        f = queries.incident_filters(
            config,
            agent=args.agent or "",
            category=args.category or "",
            since=since,
            open_only=args.open,
        )
    except ActionError as exc:
        raise UsageError(str(exc)) from None
    async with open_store(config) as store:
        f = await queries.with_caller(config, store, f, args.caller or "")  # a number, or a name (issue 30)
        found = await queries.every_incident(store, f)
        agents = await names.agent_names(store)
    items = [incident_dict(i.caller, i) for i in reversed(found)]
    if args.json:
        emit_json(items)
    else:
        table(INCIDENT_HEADERS, incident_rows(items, agents))
    return 0


async def incidents_show(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        inc = await logbook.get(store, args.id)
        debriefs = await logbook.debriefs(store, inc)
    item = incident_dict(inc.caller, inc)
    if args.json:
        emit_json(item)
    else:
        for key, value in item.items():
            if key in ("at", "debrief_at"):
                value = iso(value)
            print(f"{key:>14}: {value if value not in (None, '') else '-'}")
        for n, d in enumerate(debriefs, 1):  # every debrief, the one in place last (console: incident page)
            print(f"{'debrief ' + str(n):>14}: {iso(d.at)} by {d.by or '-'}: {d.answer or '-'}: {d.note or '-'}")
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


async def incidents_account(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        inc = await logbook.set_account(store, args.id, args.text, actor(args), time.time())
    print(f"account recorded for {inc.id}")
    return 0


async def incidents_reported(args: argparse.Namespace, config: Config) -> int:
    on = parse_date(args.on, EARLIEST_AT) if args.on else time.time()
    async with open_store(config) as store:
        inc = await police.mark_reported(store, args.id, on, args.ref, actor(args), time.time())
    print(f"{inc.id} marked reported to the police ({inc.reported_ref})")
    return 0


def write_private(path: str, data: bytes) -> None:
    """Write personal data to a new file of mode 0600 (an existing file is replaced)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise UsageError(f"--out: cannot write {path!r} ({exc.strerror}).") from None


async def incidents_report(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        data = await police.report(store, config, args.id, actor(args), time.time())
    write_private(args.out, data)
    print(f"report written to {args.out}")
    return 0


async def incidents_recording(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        rec = await police.recording(store, args.id, actor(args), time.time())
        try:
            data = await asyncio.to_thread(Path(rec.file).read_bytes)
        except OSError as exc:
            raise UsageError(f"the recording of {rec.incident} cannot be read ({exc.strerror}).") from None
    write_private(args.out, data)
    print(f"recording written to {args.out} ({rec.duration:.1f} s, sha256 {rec.sha256})")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "caller",
        "everything about one caller: decision now and why, incidents, ban, allowlist",
        caller_cmd,
        json_output=True,
    )
    p.add_argument("number", help="a phone number, or a name (the start of each word; several matches are listed)")

    isub = add_group(sub, "incidents", "the incident logbook")
    p = add_command(isub, "list", "list incidents", incidents_list, json_output=True)
    p.add_argument("--caller", help="a phone number, or a name (the start of each word; every caller it matches)")
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
    evidence: tuple[tuple[str, str, Any, tuple[tuple[str, dict[str, Any]], ...]], ...] = (
        ("account", "write down the agent's account: what was said, exactly", incidents_account,
         (("--text", {"required": True, "help": "at most 4,000 characters"}),)),
        ("reported", "mark an incident reported to the police", incidents_reported,
         (("--ref", {"required": True, "help": "the police's registration code"}),
          ("--on", {"help": "the day it was reported (default today)"}))),
        ("report", "the police report: PDF, recording and SHA-256 manifest in a zip", incidents_report,
         (("--out", {"required": True, "help": "the zip file to write (mode 0600)"}),)),
        ("recording", "the kept recording of an incident (audited)", incidents_recording,
         (("--out", {"required": True, "help": "the WAV file to write (mode 0600)"}),)),
    )  # fmt: skip
    for name, summary, handler, options in evidence:
        p = add_command(isub, name, summary, handler)
        p.add_argument("id")
        for flag, kwargs in options:
            p.add_argument(flag, **kwargs)
        p.add_argument("--actor")
