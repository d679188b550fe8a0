"""Screening counters, kept in memory and flushed to Redis once a second.

Counting each screening with its own Redis write doubled the Redis work per call (profiled in
docs/benchmarks.md); the per-day totals `grenswacht stats` shows need no per-call precision.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from redis.exceptions import RedisError

from agi.logs import get_logger
from agi.supervisor import Outage
from redis_schema.store import Store

log = get_logger("grenswacht.counters")


class ScreeningCounters:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()  # (day, field) -> count
        self._outage = Outage(log, "counters-flush")
        self._day = (-1, "")  # (days since the epoch, "YYYY-MM-DD"): formatted once a day

    def count(self, action: str, reason: str, now: float) -> None:
        number = int(now // 86400)
        if number != self._day[0]:
            self._day = (number, time.strftime("%Y-%m-%d", time.gmtime(now)))
        day = self._day[1]
        self._pending[(day, f"screen.{action}")] += 1
        if reason in ("banned", "prefix-banned"):
            self._pending[(day, "refused-while-banned")] += 1

    async def flush(self, store: Store) -> int:
        if not self._pending:
            return 0
        batch, self._pending = self._pending, Counter()
        try:
            await store.screening.add_counts(batch)
        except (RedisError, OSError) as exc:
            self._pending.update(batch)  # keep them for the next try
            self._outage.failed(exc)
            return 0
        self._outage.ok()
        return sum(batch.values())

    async def run(self, store: Store, every: float = 1.0) -> None:
        try:
            while True:
                await asyncio.sleep(every)
                await self.flush(store)
        finally:
            await asyncio.shield(self.flush(store))
