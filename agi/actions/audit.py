"""The audit trail, filtered; and statistics for the charts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agi.engine import DAY, Incident
from redis_schema.store import Store


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: float
    actor: str
    action: str
    details: dict[str, Any]


async def audit(
    store: Store,
    actor: str = "",
    action: str = "",
    text: str = "",
    limit: int = 200,
    before: str = "+",
    since: float | None = None,
) -> list[AuditEntry]:
    """Newest first; filters by actor, action, a text found in the details and a time (``since``)."""
    out: list[AuditEntry] = []
    cursor, scanned = before, 0
    floor = (int(since * 1000), 0) if since is not None else None  # an entry id starts with its time in ms
    while len(out) < limit and scanned < 50_000:
        batch = await store.streams.audit_recent(500, cursor)
        if cursor != "+" and batch and batch[0]["id"] == cursor.lstrip("("):
            batch = batch[1:]
        if not batch:
            break
        scanned += len(batch)
        last = batch[-1]["id"]
        if floor is not None:
            batch = [e for e in batch if _id_key(e["id"]) >= floor]
        for e in batch:
            details = {k: v for k, v in e.items() if k not in ("id", "actor", "action", "at")}
            if (
                (not actor or e.get("actor") == actor)
                and (not action or e.get("action") == action)
                and (not text or any(text.lower() in str(v).lower() for v in details.values()))
            ):
                try:
                    at = float(e.get("at", 0))
                except ValueError:
                    at = 0.0
                out.append(AuditEntry(e["id"], at, e.get("actor", ""), e.get("action", ""), details))
        if floor is not None and _id_key(last) < floor:
            break  # what is older is all before ``since``
        cursor = "(" + last
    return out[:limit]


def _id_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("<ms>-<seq>") as numbers, to compare in time order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Stats:
    days: list[str]
    per_day: dict[str, dict[str, int]]  # category -> {day: n}
    per_week: dict[str, dict[str, int]]  # category -> {YYYY-Www: n}
    screenings: dict[str, int]
    refused_while_banned: int
    repeat_callers: list[tuple[str, int]]
    per_agent: list[tuple[str, int]]
    open_by_age: dict[str, int]


def stats_of(
    incidents: Iterable[Incident], screenings: dict[str, int], refused: int, now: float, days: int, tz: str
) -> Stats:
    """Pure: the charts' numbers from incidents and the screening counters."""
    zone = ZoneInfo(tz)
    day_names = [datetime.fromtimestamp(now - (days - 1 - k) * DAY, zone).strftime("%Y-%m-%d") for k in range(days)]
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(day_names, 0))
    per_week: dict[str, Counter[str]] = defaultdict(Counter)
    callers: Counter[str] = Counter()
    agents: Counter[str] = Counter()
    ages = {"< 1d": 0, "1-3d": 0, "3-7d": 0, "> 7d": 0}
    for inc in incidents:
        local = datetime.fromtimestamp(inc.at, zone)
        d = local.strftime("%Y-%m-%d")
        if d in day_names:
            per_day[inc.category][d] += 1
        year, week, _ = local.isocalendar()
        per_week[inc.category][f"{year}-W{week:02d}"] += 1
        callers[inc.caller] += 1
        if inc.agent:
            agents[inc.agent] += 1
        if inc.debrief_at is None and inc.category not in ("handover", "callback"):
            age = (now - inc.at) / DAY
            ages["< 1d" if age < 1 else "1-3d" if age < 3 else "3-7d" if age < 7 else "> 7d"] += 1
    return Stats(
        day_names,
        dict(per_day),
        {c: dict(sorted(v.items())) for c, v in per_week.items()},
        screenings,
        refused,
        [(c, n) for c, n in callers.most_common(10) if n > 1],
        agents.most_common(15),
        ages,
    )


async def stats(store: Store, now: float, days: int, tz: str) -> Stats:
    ids = [i for i, _ in await store.incidents.incident_ids(now - days * DAY)]
    incidents = await store.incidents.incidents_by_id(ids)
    first_day = datetime.fromtimestamp(now - days * DAY, ZoneInfo("UTC")).strftime("%Y-%m-%d")
    screenings, refused = await store.screening.screening_counts(first_day)
    return stats_of(incidents, screenings, refused, now, days, tz)
