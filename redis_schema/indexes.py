"""What is kept beside the incidents for the supervisor tools: the logbook's filter indexes, the
statistics' counts and the warnings worklist. ``Store`` calls these where an incident is added,
debriefed, erased or purged; ``redis_schema.rebuild`` builds them all again from the callers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from agi.engine import Incident
from redis_schema import keys
from redis_schema.aggregates import Aggregates
from redis_schema.logbook_index import LogbookIndex, Pipe, withheld
from redis_schema.records import num
from redis_schema.worklist import WarningWorklist

Client = Redis | RedisCluster


class Indexes:
    def __init__(self, redis: Client, zone: str = "UTC") -> None:
        self._redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self.logbook = LogbookIndex(redis)
        self.stats = Aggregates(redis, zone)
        self.warnings = WarningWorklist(redis)

    def script_keys(self, at: float) -> list[str]:
        """The add script's keys after the caller hash: the day's counts, counted in the same
        atomic write (not on a Cluster: another slot, counted by ``added`` right after)."""
        return [] if self.cluster else [self.stats.day_key(at), self.stats.month_key(at)]

    def added(self, pipe: Pipe, home: str, inc: Incident, reply: Sequence[str]) -> tuple[str, float, bool]:
        """Index what add_incident.lua answered (``reply``): (stored id, its time, created)."""
        got_id, raw_at, created, debrief_at, *times = reply
        at = num(raw_at) or inc.at
        self.logbook.write(pipe, got_id, at, inc, home, is_open=not debrief_at)
        if self.cluster and int(created):
            self.stats.count(pipe, inc, 1)
        else:
            self.stats.keep(pipe, at)
        if not withheld(home):
            stamps = [t for t in (num(x) for x in times) if t is not None]
            self.stats.rank(pipe, home, stamps)
            self.warnings.add(pipe, home, max(stamps, default=at))
        return got_id, at, bool(int(created))

    def removed(self, pipe: Pipe, home: str, incidents: Iterable[Incident]) -> None:
        """Incidents leaving the logbook (erased, purged): out of the indexes, counted out."""
        for inc in incidents:
            self.logbook.unwrite(pipe, inc, home)
            self.stats.count(pipe, inc, -1)

    async def forget(self, number: str) -> None:
        """An erased caller's number out of every rank and the worklist."""
        top = await self.stats.top_rank()
        async with self._redis.pipeline(transaction=False) as pipe:
            for k in range(1, top + 1):
                pipe.zrem(keys.repeat_rank(k), number)
            pipe.zrem(keys.WARNINGS_DUE, number)
            await pipe.execute()

    async def rerank(self, remaining: Mapping[str, Sequence[Incident]]) -> None:
        """Set the ranks of callers who lost incidents from what they still have."""
        top = await self.stats.top_rank()
        async with self._redis.pipeline(transaction=False) as pipe:
            for number, incidents in remaining.items():
                if not withheld(number):
                    self.stats.rank(pipe, number, [i.at for i in incidents], exact_above=top)
            await pipe.execute()
