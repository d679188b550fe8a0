"""Personal data and reporting: `export`, `forget`, `purge`, `rebuild-indexes`, `stats`, `audit`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

from agi.actions import audit, logbook, queries
from agi.cli.common import (
    Subparsers,
    UsageError,
    actor,
    add_command,
    emit_json,
    iso,
    number_arg,
    open_store,
    parse_date,
    table,
)
from agi.cli.logbook_cmds import caller_summary
from agi.config import Config
from redis_schema.records import export_csv, export_json

MAX_STATS_DAYS = 366  # the console's longest chart
MAX_AUDIT_ENTRIES = 50_000  # the audit search reads at most this many entries


async def export_cmd(args: argparse.Namespace, config: Config) -> int:
    caller = number_arg(args.caller, config, valid=False) if args.caller else None
    async with open_store(config) as store:
        if not caller:  # the logbook: the console's download, streamed (agi.actions.logbook.export_stream)
            stream = logbook.export_stream(
                store, logbook.Filters(), actor(args), time.time(), args.format, ZoneInfo(config.web.timezone)
            )
            if args.format == "csv":
                async for piece in stream:
                    sys.stdout.write(piece)
            else:
                incidents = json.loads("".join([piece async for piece in stream]))
                sys.stdout.write(export_json({"exported_at": iso(time.time()), "incidents": incidents}) + "\n")
            return 0
        view = await logbook.export_caller(config, store, caller, actor(args), time.time(), args.format)
    summary = caller_summary(caller, view.record, view.decision, view.protocol, view.name)
    incidents = summary.pop("incidents")
    data = {"caller": summary, "incidents": incidents, "callbacks": [a.public() for a in view.appointments]}
    if args.format == "json":
        sys.stdout.write(export_json({"exported_at": iso(time.time()), **data}) + "\n")
    else:
        sys.stdout.write(export_csv(incidents, ZoneInfo(config.web.timezone)))  # the console's writer
    return 0


async def forget_cmd(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config, valid=False)
    if not args.yes:
        raise UsageError(f"forget erases every record of {number} for good; repeat with --yes to confirm.")
    if not 0 < args.wait <= 3600:
        raise UsageError("--wait must be more than 0 and at most 3600 seconds.")
    async with open_store(config) as store:
        removed = await logbook.erase(store, number, number, actor(args), time.time(), args.wait)
    print(f"erased: {removed} record(s) removed")
    return 0


async def purge_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        dropped = await logbook.purge(store, actor(args), time.time())
    print(f"purged: {dropped} incident(s) past the {config.storage.retention_days}-day retention")
    return 0


async def rebuild_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        done = await logbook.rebuild_indexes(store, config, actor(args), time.time())
    print(
        f"rebuilt: {done.incidents} incident(s) of {done.callers} caller(s) indexed, "
        f"{done.names} caller name(s) searchable again, in {done.seconds:.1f} s"
    )
    return 0


async def stats_cmd(args: argparse.Namespace, config: Config) -> int:
    """The console's statistics (agi.actions.audit.stats): days in [web] timezone, repeat callers."""
    zone, now = ZoneInfo(config.web.timezone), time.time()
    days = queries.stats_days(parse_date(args.since, zone=zone), now, zone) if args.since else args.days
    if not 1 <= days <= MAX_STATS_DAYS:
        raise UsageError(f"statistics cover 1 to {MAX_STATS_DAYS} days, not {days}.")
    async with open_store(config) as store:
        s = await audit.stats(store, now, days, config.web.timezone)
    per_day = {d: {c: n[d] for c, n in sorted(s.per_day.items()) if n[d]} for d in s.days}
    out: dict[str, Any] = {
        "since": s.days[0],
        "timezone": config.web.timezone,
        "incidents_per_day": {d: counts for d, counts in per_day.items() if counts},
        "top_callers": [{"caller": c, "incidents": n} for c, n in s.repeat_callers],
        "per_agent": [{"agent": a, "incidents": n} for a, n in s.per_agent],
        "open_by_age": s.open_by_age,
        "screenings": s.screenings,
        "refused_while_banned": s.refused_while_banned,
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"Since {out['since']} ({out['timezone']})\n\nIncidents per day")
    cats = sorted(s.per_day)
    table(("day", *cats), [(d, *(s.per_day[c][d] for c in cats)) for d in out["incidents_per_day"]])
    print("\nTop repeat callers")
    table(("caller", "incidents"), s.repeat_callers)
    print("\nScreenings by decision")
    table(("decision", "calls"), sorted(s.screenings.items()))
    print(f"\nRefused attempts while banned: {s.refused_while_banned}")
    return 0


async def audit_cmd(args: argparse.Namespace, config: Config) -> int:
    """The console's audit search (agi.actions.audit.audit), oldest first."""
    since = parse_date(args.since, zone=ZoneInfo(config.web.timezone)) if args.since else None
    if not 1 <= args.limit <= MAX_AUDIT_ENTRIES:
        raise UsageError(f"--limit must be 1 to {MAX_AUDIT_ENTRIES}, not {args.limit}.")
    async with open_store(config) as store:
        found = await audit.audit(store, args.actor or "", args.action or "", args.text or "", args.limit, since=since)
    entries = [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, **e.details} for e in reversed(found)]
    if args.json:
        emit_json(entries)
        return 0
    rows = []
    for e in reversed(found):
        rows.append((iso(e.at), e.actor, e.action, ", ".join(f"{k}={v}" for k, v in e.details.items())))
    table(("time", "actor", "action", "details"), rows)
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "export", "the logbook, or one caller's data (a subject access request)", export_cmd)
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("--caller")
    p.add_argument("--actor")
    p = add_command(sub, "forget", "erase every record of a caller (GDPR erasure)", forget_cmd)
    p.add_argument("number")
    p.add_argument("--yes", action="store_true", help="confirm the erasure")
    p.add_argument(
        "--wait",
        type=float,
        default=logbook.ERASE_WAIT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for Redis to rewrite its files on disk (default 30)",
    )
    p.add_argument("--actor")
    p = add_command(sub, "purge", "drop incidents past the retention period now", purge_cmd)
    p.add_argument("--actor")
    p = add_command(
        sub,
        "rebuild-indexes",
        "build the logbook's filter indexes, the statistics' counts and the warnings list again",
        rebuild_cmd,
    )
    p.add_argument("--actor")
    p = add_command(
        sub, "stats", "incidents per day and category, repeat callers, screenings", stats_cmd, json_output=True
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--since", help="YYYY-MM-DD, a day in [web] timezone (default: the last 30 days)")
    when.add_argument("--days", type=int, default=30, help=f"the last N days, today included (1 to {MAX_STATS_DAYS})")
    p = add_command(sub, "audit", "the audit trail of every change", audit_cmd, json_output=True)
    p.add_argument("--since", help="YYYY-MM-DD (a day in [web] timezone) or ISO 8601 time")
    p.add_argument("--actor", help="only entries by this actor")
    p.add_argument("--action", help="only this action, e.g. ban or forget")
    p.add_argument("--text", help="only entries whose details contain this text (any case)")
    p.add_argument("--limit", type=int, default=200, help=f"the newest N matching entries (1 to {MAX_AUDIT_ENTRIES})")
