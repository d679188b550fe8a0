"""Reading callers: the screening read of one caller hash (one command, one round trip), many
callers at once, every caller (SCAN), the number-range lists, and the per-day screening counters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import cast

from agi.engine import Allow, Ban, CallerRecord
from agi.logs import get_logger
from redis_schema import keys
from redis_schema.connection import Client, Hash
from redis_schema.fastread import CallerReader
from redis_schema.record_hash import RecordHash
from redis_schema.records import NAME_OF, decode_allow, decode_ban, decode_incidents, int_or_zero
from redis_schema.records import num as _num

log = get_logger("grenswacht.store")


def _skipped(slot: str) -> None:
    log.warning("malformed-incident-skipped", slot=slot)


def parse_caller(number: str, raw: Mapping[str, str]) -> CallerRecord:
    """Turn the caller hash into a CallerRecord, skipping malformed entries."""
    groups: dict[str, dict[str, str]] = {}
    ban: dict[str, str] = {}
    allow: dict[str, str] = {}
    for name, value in raw.items():
        if name in keys.BAN_FIELDS:
            ban[keys.BAN_FIELDS[name]] = value
        elif name in keys.ALLOW_FIELDS:
            allow[keys.ALLOW_FIELDS[name]] = value
        elif "." in name and not name.startswith(("ban.", "allow.", "warn.")):
            slot, _, suffix = name.partition(".")
            if suffix in NAME_OF:
                groups.setdefault(slot, {})[NAME_OF[suffix]] = value
    incidents = decode_incidents(keys.shown_number(number), groups, _skipped) if groups else ()  # most callers: none
    return CallerRecord(
        number=keys.shown_number(number),
        incidents=tuple(incidents),
        ban=decode_ban(ban) if ban else None,
        allow=decode_allow(allow) if allow else None,
        warning_sent_at=_num(raw.get(keys.WARNING_SENT)),
    )


class ScreeningRead:
    """``store.screening``: what screening (and every tool showing a caller) reads."""

    def __init__(
        self,
        redis: Client,
        reader: CallerReader | None,
        prefix_bans: RecordHash[Ban],
        prefix_allows: RecordHash[Allow],
    ) -> None:
        self._redis = redis
        self.reader = reader  # the lean screening read (standalone Redis); None: redis-py reads it
        self._prefix_bans, self._prefix_allows = prefix_bans, prefix_allows

    async def load_caller(self, number: str, budget: float | None = None) -> CallerRecord:
        """Everything screening needs about one caller: one command, one round trip. With
        ``budget`` (seconds), ``TimeoutError`` once it is spent (the lean reader's own timer
        watches it; no timer per call)."""
        key = keys.caller(number)
        if self.reader is not None:
            raw = await self.reader.hgetall(key, budget)
        else:
            async with asyncio.timeout(budget):  # None: no limit
                raw = cast(Hash, await self._redis.hgetall(key))
        return parse_caller(number, raw)

    async def load_callers(self, numbers: Iterable[str]) -> dict[str, CallerRecord]:
        numbers = list(dict.fromkeys(numbers))
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in numbers:
                pipe.hgetall(keys.caller(n))
            raws = await pipe.execute()
        return {n: parse_caller(n, raw) for n, raw in zip(numbers, raws)}

    async def all_callers(self) -> AsyncIterator[str]:
        """Every caller number with a record (SCAN; for supervisor tools, not the call path)."""
        async for key in self._redis.scan_iter(match=keys.CALLER_SCAN, count=1000):
            yield key[key.index("{") + 1 : key.rindex("}")]

    async def load_prefixes(self) -> tuple[dict[str, Ban], dict[str, Allow]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.PREFIX_BANS)
            pipe.hgetall(keys.PREFIX_ALLOWS)
            raw_bans, raw_allows = await pipe.execute()
        return await self._prefix_bans.decode(raw_bans), await self._prefix_allows.decode(raw_allows)

    async def add_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add per-day screening counters: {(YYYY-MM-DD, field): n} in one pipeline."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for (day, name), n in counts.items():
                pipe.hincrby(keys.stats(day), name, n)
            for day in {d for d, _ in counts}:
                pipe.expire(keys.stats(day), keys.STATS_TTL)
            await pipe.execute()

    async def screening_counts(self, first_day: str) -> tuple[dict[str, int], int]:
        """Screenings by decision and refused attempts while banned, from ``first_day`` (YYYY-MM-DD) on."""
        screenings: dict[str, int] = {}
        refused = 0
        async for key in self._redis.scan_iter(match=keys.STATS_SCAN, count=500):
            if key.rsplit(":", 1)[1] < first_day:
                continue
            for name, value in cast(Hash, await self._redis.hgetall(key)).items():
                count = int_or_zero(value)
                if name.startswith("screen."):
                    screenings[name[7:]] = screenings.get(name[7:], 0) + count
                elif name == "refused-while-banned":
                    refused += count
        return screenings, refused
