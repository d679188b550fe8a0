"""Bans and the allowlist: one caller's entry in their caller hash with its index (gw:bans,
gw:allows), and the number-range lists (gw:prefix-bans, gw:prefix-allows).

Also how long a write keeps the caller hash (:func:`touch`, :func:`keep_for_ban`): the retention
from now, and never less than they had."""

from __future__ import annotations

import math
import time
from typing import cast

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from agi.engine import Allow, Ban
from redis_schema import keys
from redis_schema.connection import Client, Fields
from redis_schema.record_hash import RecordHash
from redis_schema.records import MAX_TIME, allow_hash
from redis_schema.records import ban_hash as _ban_fields
from redis_schema.screening_read import ScreeningRead

Pipe = Pipeline | ClusterPipeline


def touch(pipe: Pipe, number: str, retention: int) -> None:
    """A write keeps the caller for the retention from now, and never for less than they
    had: a ban that ends later set the TTL to its end (:func:`keep_for_ban`); so does
    add_incident.lua."""
    pipe.expire(keys.caller(number), retention, nx=True)  # a new key (or one without a TTL)
    pipe.expire(keys.caller(number), retention, gt=True)


def ban_ttl(ban: Ban, retention: int) -> int:
    """The caller's TTL with this ban: the retention, or up to the ban's end if that is later,
    so a ban longer than the retention keeps refusing until it ends."""
    return max(retention, math.ceil(min(ban.until, MAX_TIME) - time.time()))


def keep_for_ban(pipe: Pipe, number: str, ban: Ban, retention: int) -> None:
    pipe.expire(keys.caller(number), ban_ttl(ban, retention))


class ContactLists:
    """``store.lists``: bans, allowlist entries and number ranges."""

    def __init__(
        self,
        redis: Client,
        retention: int,
        callers: ScreeningRead,
        prefix_bans: RecordHash[Ban],
        prefix_allows: RecordHash[Allow],
    ) -> None:
        self._redis, self._retention, self._callers = redis, retention, callers
        self.prefix_bans = prefix_bans  # number ranges, by prefix
        self.prefix_allows = prefix_allows

    async def set_ban(self, number: str, ban: Ban) -> None:
        mapping = _ban_fields(ban)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=cast(Fields, mapping))
            keep_for_ban(pipe, number, ban, self._retention)
            await pipe.execute()
        # The bans index lives in another Cluster slot: written after, idempotent.
        await self._redis.zadd(keys.BANS, {number: ban.until})

    async def clear_ban(self, number: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.caller(number), *keys.BAN_FIELDS)
            pipe.expire(keys.caller(number), self._retention)  # no longer kept for the ban's sake
            removed, _ = await pipe.execute()
        await self._redis.zrem(keys.BANS, number)
        return bool(removed)

    async def banned_numbers(self, now: float, limit: int = 1000, offset: int = 0) -> list[str]:
        """Numbers whose ban (per the index) ends after ``now``, soonest end first (then by
        number), ``offset`` of them skipped."""
        await self._redis.zremrangebyscore(keys.BANS, "-inf", now)  # expired: tidy the index
        return cast(list[str], await self._redis.zrangebyscore(keys.BANS, now, "+inf", start=offset, num=limit))

    async def banned_count(self, now: float) -> int:
        """How many numbers are banned after ``now`` (per the index): what ``banned_numbers`` pages through."""
        return int(await self._redis.zcount(keys.BANS, f"({now!r}", "+inf"))

    async def set_allow(self, number: str, allow: Allow) -> None:
        mapping = allow_hash(allow)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=cast(Fields, mapping))
            touch(pipe, number, self._retention)
            await pipe.execute()
        await self._redis.zadd(keys.ALLOWS, {number: allow.set_at})  # index: another slot, idempotent

    async def clear_allow(self, number: str) -> bool:
        removed = bool(await self._redis.hdel(keys.caller(number), *keys.ALLOW_FIELDS))
        await self._redis.zrem(keys.ALLOWS, number)
        return removed

    async def allowed_numbers(self, limit: int = 1000, offset: int = 0) -> list[str]:
        """Allowlisted numbers (from the index), newest first, ``offset`` of them skipped."""
        return cast(list[str], await self._redis.zrevrange(keys.ALLOWS, offset, offset + limit - 1))

    async def allowed_count(self) -> int:
        return int(await self._redis.zcard(keys.ALLOWS))

    async def rebuild_list_indexes(self) -> tuple[int, int]:
        """Fill gw:bans and gw:allows from every caller (one SCAN; for an upgrade from before 0.3)."""
        bans = allows = 0
        batch: list[str] = []

        async def flush() -> None:
            nonlocal bans, allows
            for number, rec in (await self._callers.load_callers(batch)).items():
                if rec.ban is not None:
                    await self._redis.zadd(keys.BANS, {number: rec.ban.until})
                    # Kept until the ban ends (an earlier version kept a banned caller only for the retention).
                    await self._redis.expire(keys.caller(number), ban_ttl(rec.ban, self._retention), gt=True)
                    bans += 1
                if rec.allow is not None:
                    await self._redis.zadd(keys.ALLOWS, {number: rec.allow.set_at})
                    allows += 1
            batch.clear()

        async for number in self._callers.all_callers():
            batch.append(number)
            if len(batch) >= 1000:
                await flush()
        await flush()
        return bans, allows

    async def set_prefix_ban(self, prefix: str, ban: Ban) -> None:
        await self.prefix_bans.put(prefix, ban)

    async def set_prefix_allow(self, prefix: str, allow: Allow) -> None:
        await self.prefix_allows.put(prefix, allow)

    async def clear_prefix(self, kind: str, prefix: str) -> bool:
        return await (self.prefix_bans if kind == "ban" else self.prefix_allows).remove(prefix)
