"""The written-warnings worklist: callers who may be due a written warning, newest incident first.

``gw:warn:due`` (ZSET number -> time of the caller's latest incident) gets every caller with a new
incident (``Store``, with the incident's other indexes) and loses them when the warning is
marked sent or the caller is erased. Whether one is due is decided when the list is read
(``agi.actions.lists.warnings_due``, the protocol's own decision): a caller found not due is
taken out then, so the list holds the callers due plus those added since it was last read.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys
from redis_schema.logbook_index import Cursor, Pipe, Row, read_after, withheld

Client = Redis | RedisCluster


class WarningWorklist:
    def __init__(self, redis: Client) -> None:
        self._redis = redis

    def add(self, pipe: Pipe, number: str, last_incident: float) -> None:
        """A caller with a new incident (withheld callers are never sent a letter)."""
        if not withheld(number):
            pipe.zadd(keys.WARNINGS_DUE, {number: last_incident}, gt=True)

    async def put(self, number: str, last_incident: float) -> None:
        """Back on the list: a caller who may be due again without a new incident (taken off the allowlist)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self.add(pipe, number, last_incident)
            await pipe.execute()

    async def drop(self, numbers: Iterable[str]) -> None:
        numbers = list(numbers)
        if numbers:
            await self._redis.zrem(keys.WARNINGS_DUE, *numbers)

    async def trim(self, before: float) -> None:
        """Callers without an incident since ``before`` (the protocol's window) cannot be due."""
        await self._redis.zremrangebyscore(keys.WARNINGS_DUE, "-inf", f"({before!r}")

    async def read(self, after: Cursor | None, count: int) -> list[Row]:
        return await read_after(self._redis, keys.WARNINGS_DUE, "-inf", "+inf", after, 0, count)

    async def size(self) -> int:
        return int(await self._redis.zcard(keys.WARNINGS_DUE))
