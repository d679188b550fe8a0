"""Write-time statistics: counts kept as incidents are written, so a chart never reads the logbook.

- ``gw:agg:d:<day>`` (one hash per day of the aggregates' zone): ``c:<category>`` and
  ``a:<agent>`` incident counts. A new incident is counted by the same atomic write that stores
  it (``lua/add_incident.lua``, KEYS[2]); on a Cluster, where that hash is another slot, right
  after it. An erasure and the purge count their incidents out again. Counts only: no number.
- ``gw:agg:k:<k>`` (ZSET caller -> time of the caller's k-th latest incident): a caller has at
  least k incidents since T when their score in ``k`` is at least T, so the repeat callers of any
  period are read from the top k down, never from every caller. An erasure removes the number
  from every one of them.
- ``gw:agg:meta``: the version and zone they were built for; ``redis_schema.rebuild`` builds
  them again from the callers' hashes when these differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from agi.engine import Incident
from redis_schema import keys
from redis_schema.logbook_index import Pipe
from redis_schema.records import MAX_TIME

Client = Redis | RedisCluster
VERSION = "2"  # of the aggregates' and indexes' layout: another version is built again from the callers
# (2: the unreported threats' index, keys.UNREPORTED_THREATS)
TOP = "k"  # the member of RANK_MAX whose score is the highest k in use


class Aggregates:
    def __init__(self, redis: Client, zone: str = "UTC") -> None:
        self._redis, self.zone_name, self.zone = redis, zone, ZoneInfo(zone)

    def day(self, at: float) -> str:
        """The day (YYYY-MM-DD in the aggregates' zone) an incident at ``at`` counts for."""
        return datetime.fromtimestamp(min(max(at, 0.0), MAX_TIME - 2 * keys.DAY), self.zone).strftime("%Y-%m-%d")

    def day_key(self, at: float) -> str:
        return keys.stats_day(self.day(at))

    def month_key(self, at: float) -> str:
        return keys.stats_month(self.day(at)[:7])

    # ---- writes -----------------------------------------------------------------------------
    def count(self, pipe: Pipe, inc: Incident, by: int) -> None:
        """Count an incident in (``by`` 1) or out (-1) of its day: what the add script does itself."""
        day, month = self.day_key(inc.at), self.month_key(inc.at)
        pipe.hincrby(day, f"c:{inc.category}", by)
        if inc.agent:
            pipe.hincrby(day, f"a:{inc.agent}", by)
            pipe.hincrby(month, f"a:{inc.agent}", by)
        self.keep(pipe, inc.at)

    def keep(self, pipe: Pipe, at: float) -> None:
        """The day's and the month's counts are kept as long as the screening counters."""
        pipe.expire(self.day_key(at), keys.STATS_TTL)
        pipe.expire(self.month_key(at), keys.STATS_TTL)

    def rank(self, pipe: Pipe, number: str, times: Iterable[float], *, exact_above: int | None = None) -> None:
        """Put a caller's incident times in the rank sets. Without ``exact_above`` only upwards
        (ZADD GT: an added incident never lowers a k-th latest, so concurrent writers agree); with
        it (the caller's hash was read after a removal), exactly, and out of ranks up to that k."""
        ordered = sorted(times, reverse=True)
        for k, at in enumerate(ordered, 1):
            pipe.zadd(keys.repeat_rank(k), {number: at}, gt=exact_above is None)
        if ordered:
            pipe.zadd(keys.RANK_MAX, {TOP: len(ordered)}, gt=True)
        for k in range(len(ordered) + 1, (exact_above or 0) + 1):
            pipe.zrem(keys.repeat_rank(k), number)

    async def top_rank(self) -> int:
        return int(await self._redis.zscore(keys.RANK_MAX, TOP) or 0)

    # ---- reads ------------------------------------------------------------------------------
    async def categories(self, names: Sequence[str], categories: Sequence[str]) -> dict[str, dict[str, int]]:
        """Incidents by category of these days: category -> {day: n} (HMGET: the agents' fields stay)."""
        fields = [f"c:{c}" for c in categories]
        async with self._redis.pipeline(transaction=False) as pipe:
            for d in names:
                pipe.hmget(keys.stats_day(d), fields)
            rows = cast(list[list[str | None]], await pipe.execute()) if fields else [[] for _ in names]
        return {c: {d: _int(row[k] or "0") for d, row in zip(names, rows)} for k, c in enumerate(categories)}

    async def agents(self, names: Sequence[str]) -> dict[str, int]:
        """Incidents by agent over these consecutive days: whole months from the month's counts."""
        first, last = date.fromisoformat(names[0]), date.fromisoformat(names[-1])
        months: list[str] = []
        days: list[str] = []
        for d in names:
            day = date.fromisoformat(d)
            start = day.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            if start >= first and end <= last:
                if day == start:
                    months.append(d[:7])
            else:
                days.append(d)
        async with self._redis.pipeline(transaction=False) as pipe:
            for m in months:
                pipe.hgetall(keys.stats_month(m))
            for d in days:
                pipe.hgetall(keys.stats_day(d))
            raws = cast(list[dict[str, str]], await pipe.execute())
        out: dict[str, int] = {}
        for raw in raws:
            for name, value in raw.items():
                if name.startswith("a:"):
                    out[name[2:]] = out.get(name[2:], 0) + _int(value)
        return out

    async def repeat_callers(self, since: float, top: int) -> list[tuple[str, int, float]]:
        """The ``top`` callers (never withheld ones) with the most incidents (at least 2) since
        ``since``: (number, count, time of their earliest incident since then), most first; of equal
        counts the one whose earliest is later first (then the higher number)."""
        placed: dict[str, tuple[int, float]] = {}
        k = await self.top_rank()
        while k >= 2 and len(placed) < top:
            rows = await self._redis.zrevrangebyscore(
                keys.repeat_rank(k), "+inf", since, start=0, num=top + len(placed), withscores=True
            )
            for number, at in cast(list[tuple[str, float]], rows):
                if number not in placed and len(placed) < top:
                    placed[number] = (k, float(at))
            k -= 1
        return [(n, k, at) for n, (k, at) in placed.items()]

    async def screenings(self, first: date, last: date) -> tuple[dict[str, int], int]:
        """The screening counters (``gw:stats:<UTC day>``) of these days: by decision, and refused while banned."""
        names = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for d in names:
                pipe.hgetall(keys.stats(d))
            raws = cast(list[dict[str, str]], await pipe.execute())
        screenings: dict[str, int] = {}
        refused = 0
        for raw in raws:
            for name, value in raw.items():
                if name.startswith("screen."):
                    screenings[name[7:]] = screenings.get(name[7:], 0) + _int(value)
                elif name == "refused-while-banned":
                    refused += _int(value)
        return screenings, refused

    # ---- what they were built for ---------------------------------------------------------
    async def built_for(self) -> tuple[str, str]:
        meta = cast(dict[str, str], await self._redis.hgetall(keys.AGGREGATES_META))
        return meta.get("version", ""), meta.get("zone", "")

    async def current(self) -> bool:
        return await self.built_for() == (VERSION, self.zone_name)

    async def mark_built(self) -> None:
        await self._redis.hset(keys.AGGREGATES_META, mapping={"version": VERSION, "zone": self.zone_name})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
