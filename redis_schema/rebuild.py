"""Build the logbook's filter indexes, the statistics' counts and the warnings worklist again from
the callers' hashes: once after an upgrade (the service does it when the counts were built for
another version or zone), or on demand (``grenswacht rebuild-indexes``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from agi.engine import Incident
from agi.logs import get_logger
from redis_schema import keys
from redis_schema.connection import Client
from redis_schema.indexes import Indexes
from redis_schema.logbook_index import Pipe, withheld
from redis_schema.screening_read import parse_caller

log = get_logger("grenswacht.store")

BATCH = 1000  # callers read (pipelined) at a time
LOCK_SECONDS = 3600  # one rebuild at a time among the services sharing a Redis


@dataclass(frozen=True)
class Rebuilt:
    callers: int
    incidents: int
    seconds: float
    names: int = 0  # callers whose name went into the search by name again (``CallerNames.rebuild``)


class Rebuild:
    """``store.rebuild``: the indexes and counts written again (``run``), or only when stale (``ensure``)."""

    def __init__(self, redis: Client, indexes: Indexes) -> None:
        self._redis, self._indexes = redis, indexes

    async def run(self) -> Rebuilt:
        return await rebuild(self._redis, self._indexes)

    async def ensure(self) -> Rebuilt | None:
        return await ensure(self._redis, self._indexes)


async def rebuild(redis: Client, ix: Indexes) -> Rebuilt:
    """Drop and write again every index and count (the incidents themselves are not touched).

    Incidents added while it runs may be counted twice: run it with the services stopped, or let
    the service run it at start (``ensure``)."""
    t0 = time.perf_counter()
    for pattern in (keys.INDEX_SCAN, keys.AGGREGATES_SCAN):
        doomed = [k async for k in redis.scan_iter(match=pattern, count=1000)]
        for start in range(0, len(doomed), 1000):
            await redis.unlink(*doomed[start : start + 1000])
    await redis.unlink(keys.WARNINGS_DUE)
    callers = incidents = 0
    batch: list[str] = []

    async def flush() -> None:
        nonlocal callers, incidents
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.hgetall(key)
            raws = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for key, raw in zip(batch, raws):
                home = _home_of(key)
                rec = parse_caller(home, raw)
                if not rec.incidents:
                    continue
                callers += 1
                incidents += len(rec.incidents)
                index_caller(pipe, ix, home, rec.incidents, warned=rec.warning_sent_at is not None)
            await pipe.execute()
        batch.clear()

    for pattern in (keys.CALLER_SCAN, keys.WITHHELD_SCAN):
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= BATCH:
                await flush()
    await flush()
    await ix.stats.mark_built()
    done = Rebuilt(callers, incidents, time.perf_counter() - t0)
    log.info("indexes-rebuilt", callers=callers, incidents=incidents, seconds=round(done.seconds, 1))
    return done


def index_caller(pipe: Pipe, ix: Indexes, home: str, incidents: Sequence[Incident], *, warned: bool) -> None:
    """Every index entry and count of one caller's incidents (``home``: ``keys.incident_home``),
    as the writes of each incident leave them; ``warned``: their written warning was sent."""
    for inc in incidents:
        ix.logbook.write(pipe, inc.id, inc.at, inc, home, is_open=inc.debrief_at is None)
        ix.stats.count(pipe, inc, 1)
        pipe.zadd(keys.INCIDENTS_BY_TIME, {inc.id: inc.at}, nx=True)  # repaired, if lost
        pipe.hset(keys.INCIDENT_OWNER, inc.id, home)
    if incidents and not withheld(home):
        ix.stats.rank(pipe, home, [i.at for i in incidents])
        if not warned:
            ix.warnings.add(pipe, home, max(i.at for i in incidents))


async def ensure(redis: Client, ix: Indexes) -> Rebuilt | None:
    """Rebuild when the counts were built for another version or zone (or never), once among the
    services that share this Redis; None when they are current or another service is at it."""
    if await ix.stats.current():
        return None
    if not await redis.set(keys.REBUILD_LOCK, "1", nx=True, ex=LOCK_SECONDS):
        return None
    try:
        return await rebuild(redis, ix)
    finally:
        await redis.delete(keys.REBUILD_LOCK)


def _home_of(key: str) -> str:
    """The home (keys.incident_home) of a caller hash's key."""
    inner = key[key.index("{") + 1 : key.rindex("}")]
    return keys.WITHHELD_HOME + inner if key.startswith(keys.PREFIX + "w:") else inner
