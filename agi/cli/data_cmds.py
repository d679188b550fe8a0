"""Personal data and reporting: `export`, `forget`, `purge`, `stats`, `audit`."""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict

from agi.actions import logbook
from agi.cli.common import UsageError, actor, add_command, emit_json, iso, number_arg, open_store, parse_date, table
from agi.cli.logbook_cmds import caller_summary, collect_incidents
from agi.config import Config
from redis_schema.records import export_csv, export_json


async def export_cmd(args, config: Config) -> int:
    caller = number_arg(args.caller, config, valid=False) if args.caller else None
    async with open_store(config) as store:
        if caller:
            view = await logbook.export_caller(config, store, caller, actor(args), time.time(), args.format)
            summary = caller_summary(caller, view.record, view.decision, view.protocol)
            incidents = summary.pop("incidents")
            data = {"caller": summary, "incidents": incidents, "callbacks": [a.public() for a in view.appointments]}
        else:
            incidents = await logbook.export_all(store, actor(args), time.time(), args.format)
            data = {"incidents": incidents}
    if args.format == "json":
        sys.stdout.write(export_json({"exported_at": iso(time.time()), **data}) + "\n")
    else:
        sys.stdout.write(export_csv(incidents))  # the console's writer: formulas neutralised
    return 0


async def forget_cmd(args, config: Config) -> int:
    number = number_arg(args.number, config, valid=False)
    if not args.yes:
        raise UsageError(f"forget erases every record of {number} for good; repeat with --yes to confirm.")
    async with open_store(config) as store:
        removed = await logbook.erase(store, number, number, actor(args), time.time())
    print(f"erased: {removed} record(s) removed")
    return 0


async def purge_cmd(args, config: Config) -> int:
    async with open_store(config) as store:
        dropped = await logbook.purge(store, actor(args), time.time())
    print(f"purged: {dropped} incident(s) past the {config.storage.retention_days}-day retention")
    return 0


async def stats_cmd(args, config: Config) -> int:
    since = parse_date(args.since) if args.since else time.time() - 30 * 86400
    async with open_store(config) as store:
        incidents = await collect_incidents(store, since=since)
        screenings, refused_banned = await store.screening_counts(iso(since)[:10])
    per_day: dict[str, Counter] = defaultdict(Counter)
    for inc in incidents:
        per_day[iso(inc["at"])[:10]][inc["category"]] += 1
    top = Counter(i["caller"] for i in incidents).most_common(10)
    out = {
        "since": iso(since),
        "incidents_per_day": {d: dict(c) for d, c in sorted(per_day.items())},
        "top_callers": [{"caller": c, "incidents": n} for c, n in top],
        "screenings": dict(screenings),
        "refused_while_banned": refused_banned,
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"Since {out['since']}\n\nIncidents per day")
    cats = sorted({c for d in per_day.values() for c in d})
    table(("day", *cats), [(d, *(per_day[d].get(c, 0) for c in cats)) for d in sorted(per_day)])
    print("\nTop repeat callers")
    table(("caller", "incidents"), top)
    print("\nScreenings by decision")
    table(("decision", "calls"), sorted(screenings.items()))
    print(f"\nRefused attempts while banned: {refused_banned}")
    return 0


async def audit_cmd(args, config: Config) -> int:
    since = parse_date(args.since) if args.since else None
    async with open_store(config) as store:
        entries = await store.audit_entries(since)
    if args.json:
        emit_json(entries)
        return 0
    rows = []
    for e in entries:
        details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("id", "actor", "action", "at"))
        rows.append((iso(e.get("at")), e.get("actor"), e.get("action"), details))
    table(("time", "actor", "action", "details"), rows)
    return 0


def register(sub) -> None:
    p = add_command(sub, "export", "the logbook, or one caller's data (a subject access request)", export_cmd)
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("--caller")
    p.add_argument("--actor")
    p = add_command(sub, "forget", "erase every record of a caller (GDPR erasure)", forget_cmd)
    p.add_argument("number")
    p.add_argument("--yes", action="store_true", help="confirm the erasure")
    p.add_argument("--actor")
    p = add_command(sub, "purge", "drop incidents past the retention period now", purge_cmd)
    p.add_argument("--actor")
    p = add_command(
        sub, "stats", "incidents per day and category, repeat callers, screenings", stats_cmd, json_output=True
    )
    p.add_argument("--since", help="YYYY-MM-DD (default: 30 days ago)")
    p = add_command(sub, "audit", "the audit trail of every change", audit_cmd, json_output=True)
    p.add_argument("--since", help="YYYY-MM-DD")
