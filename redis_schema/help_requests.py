"""Help requests of calls in progress (issue 29): one hash, ``gw:help``, by call (linkedid).

The agent's help key adds one with HSETNX, so a second press on the same call finds the first
and adds nothing. The hang-up handler that the key press installs on the agent's channel removes
it when the call ends; each value also carries ``until`` (``[help] max_call_minutes`` after the
press), and a request past it is removed the next time the list is read: a safety net for a
hang-up that Grenswacht never heard of.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys
from redis_schema.records import HELP, BadRecord, HelpRequest


class HelpRequests:
    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis

    async def add(self, req: HelpRequest) -> bool:
        """Store ``req`` unless its call already has one; True when this one is new."""
        return bool(await self._redis.hsetnx(keys.HELP, req.call, HELP.dump(req)))

    async def get(self, call: str, now: float) -> HelpRequest | None:
        text = cast(str | None, await self._redis.hget(keys.HELP, call))
        if not text:
            return None
        found = self._read(call, text)
        return found if found is not None and found.until > now else None

    async def remove(self, call: str) -> HelpRequest | None:
        """Remove the call's request; returns it when there was one (so exactly one caller announces its end)."""
        text = cast(str | None, await self._redis.hget(keys.HELP, call))
        if not text or not await self._redis.hdel(keys.HELP, call):
            return None
        return self._read(call, text)

    async def active(self, now: float) -> list[HelpRequest]:
        """Every request still open, oldest first; expired or unreadable ones are removed."""
        raw = cast(dict[str, str], await self._redis.hgetall(keys.HELP))
        out, stale = [], []
        for call, text in raw.items():
            req = self._read(call, text)
            if req is None or req.until <= now:
                stale.append(call)
            else:
                out.append(req)
        if stale:
            await self._redis.hdel(keys.HELP, *stale)
        return sorted(out, key=lambda r: (r.asked, r.call))

    async def forget(self, number: str) -> int:
        """Erase a caller's help requests (``forget``): their rows leave the board; returns how many."""
        raw = cast(dict[str, str], await self._redis.hgetall(keys.HELP))
        doomed = []
        for call, text in raw.items():
            req = self._read(call, text)  # an unreadable one goes if its text names them
            if number in text and (req is None or req.caller == number):
                doomed.append(call)
        return int(await self._redis.hdel(keys.HELP, *doomed)) if doomed else 0

    @staticmethod
    def _read(call: str, text: str) -> HelpRequest | None:
        try:
            return HELP.load(call, text)
        except BadRecord:
            return None
