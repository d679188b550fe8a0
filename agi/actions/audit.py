"""The audit trail, filtered; and statistics for the charts."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agi.engine import DAY
from agi.numbers import ANONYMOUS
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


OPEN_AGES = (("< 1d", 0.0, 1.0), ("1-3d", 1.0, 3.0), ("3-7d", 3.0, 7.0), ("> 7d", 7.0, None))
NOT_DEBRIEFED = ("handover", "callback")  # categories never debriefed: not in the open-by-age chart
TOP_CALLERS, TOP_AGENTS = 10, 15


def period(now: float, days: int, tz: str) -> tuple[list[str], float]:
    """Pure: the ``days`` local days up to today (YYYY-MM-DD) and the start of the first one."""
    zone = ZoneInfo(tz)
    today = datetime.fromtimestamp(now, zone).date()
    names = [(today - timedelta(days=days - 1 - k)).isoformat() for k in range(days)]
    first = datetime.combine(today - timedelta(days=days - 1), time.min, zone)
    return names, first.timestamp()


async def stats(store: Store, now: float, days: int, tz: str) -> Stats:
    """The charts of the last ``days`` days of ``tz``, from the counts kept as incidents are written
    (``redis_schema.aggregates``): the days' counts, the callers' ranks, the open index."""
    agg = store.indexes.stats
    names, since = period(now, days, tz)
    per_day = await agg.categories(names, await store.indexes.logbook.categories())
    per_week: dict[str, Counter[str]] = defaultdict(Counter)
    for c, counts in per_day.items():
        for d, n in counts.items():
            if n:
                year, week, _ = date.fromisoformat(d).isocalendar()
                per_week[c][f"{year}-W{week:02d}"] += n
    agents = await agg.agents(names)
    repeat = [(c, n) for c, n, _ in await _repeat_callers(store, since)]
    first_utc = datetime.fromtimestamp(since, UTC).date()
    screenings, refused = await agg.screenings(first_utc, datetime.fromtimestamp(now, UTC).date())
    return Stats(
        names,
        {c: v for c, v in per_day.items() if any(v.values())},
        {c: dict(sorted(v.items())) for c, v in per_week.items() if any(v.values())},
        screenings,
        refused,
        repeat,
        sorted(((a, n) for a, n in agents.items() if n > 0), key=lambda p: (-p[1], p[0]))[:TOP_AGENTS],
        await _open_by_age(store, since, now),
    )


async def _repeat_callers(store: Store, since: float) -> list[tuple[str, int, float]]:
    """The callers with the most incidents (2 or more) since ``since``; withheld callers count as one."""
    ranked = await store.indexes.stats.repeat_callers(since, TOP_CALLERS)
    withheld = await store.indexes.logbook.count_withheld(since)
    if withheld is not None and withheld[0] > 1:
        ranked.append((ANONYMOUS, *withheld))
    return sorted(ranked, key=lambda r: (r[1], r[2], r[0]), reverse=True)[:TOP_CALLERS]


async def _open_by_age(store: Store, since: float, now: float) -> dict[str, int]:
    """Open incidents since ``since`` by age, from the open index: age = (now - at) in days."""
    ranges: list[tuple[str, str, str]] = []
    for name, young, old in OPEN_AGES:
        newest = f"{now - young * DAY!r}" if young else "+inf"  # at least ``young`` days old
        edge = None if old is None else now - old * DAY  # younger than ``old`` days
        oldest = f"{since!r}" if edge is None or since > edge else f"({edge!r}"
        ranges.append((name, oldest, newest))
    return await store.indexes.logbook.count_open(ranges, NOT_DEBRIEFED)
