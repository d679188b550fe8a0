"""Erasure and retention: forgetting a caller (GDPR), from memory and from Redis's files on disk,
the record of erasures that keeps a journal replay from bringing one back, and the purge of
whatever is older than the retention."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from redis.exceptions import ResponseError

from redis_schema import keys
from redis_schema.connection import Client, Hash, Scored, Server
from redis_schema.help_requests import HelpRequests
from redis_schema.incident_log import IncidentLog
from redis_schema.indexes import Indexes
from redis_schema.live_calls import LiveCalls
from redis_schema.migrations import Migrations
from redis_schema.record_hash import RecordHash
from redis_schema.records import Appointment, incident_field_names
from redis_schema.records import num as _num
from redis_schema.screening_read import ScreeningRead
from redis_schema.streams import Streams


class Erasure:
    """``store.erasure``: forget a caller, and purge what is past the retention."""

    def __init__(
        self,
        redis: Client,
        retention: int,
        *,
        server: Server,
        callers: ScreeningRead,
        incidents: IncidentLog,
        streams: Streams,
        callbacks: RecordHash[Appointment],
        migrations: Migrations,
        indexes: Indexes,
        live: LiveCalls,
        help: HelpRequests,
    ) -> None:
        self._redis, self._retention, self._indexes = redis, retention, indexes
        self._server, self._callers, self._incidents = server, callers, incidents
        self._streams, self._callbacks, self._migrations = streams, callbacks, migrations
        self._live, self._help = live, help

    async def forget(self, number: str, timeout: float = 30.0) -> int:
        """Erase every record of a caller (``erase_caller``), then from Redis's files on disk
        (``rewrite_persistence``, ``TimeoutError`` after ``timeout`` s: the records are gone by then)."""
        removed = await self.erase_caller(number)
        await self.rewrite_persistence(timeout)
        return removed

    async def erase_caller(self, number: str) -> int:
        """Erase every record of a caller from Redis's memory: the calls they are on or just were
        (the board's live panel, help requests, after-call records), their hash, index entries,
        callback appointments, events and audit entries. Returns how many records were removed."""
        # First the live calls: an after-call code read meanwhile finds no call to log again.
        removed = await self._live.forget(number, time.time()) + await self._help.forget(number)
        record = await self._callers.load_caller(number)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.caller(number))
            pipe.zrem(keys.BANS, number)
            pipe.zrem(keys.ALLOWS, number)
            for inc in record.incidents:
                pipe.zrem(keys.INCIDENTS_BY_TIME, inc.id)
                pipe.hdel(keys.INCIDENT_OWNER, inc.id)
            self._indexes.removed(pipe, number, record.incidents)
            results = await pipe.execute()
        removed += int(results[0])
        removed += await self._incidents.names.forget(number)  # issue 30: the name and its index words
        await self._indexes.forget(number)
        # Index entries whose hash had already expired still name the number.
        owners = cast(Hash, await self._redis.hgetall(keys.INCIDENT_OWNER))
        stale = [iid for iid, owner in owners.items() if owner == number]
        if stale:
            await self._redis.zrem(keys.INCIDENTS_BY_TIME, *stale)
            await self._redis.hdel(keys.INCIDENT_OWNER, *stale)
            await self._indexes.logbook.remove_ids(stale)
        removed += await self._drop_callbacks(lambda a: a.caller != number)
        removed += await self._streams.forget(number)
        # So that no copy of an incident still on its way (the service's journal) brings it back.
        await self._redis.zadd(keys.FORGOTTEN, {keys.forgotten_member(number): time.time()})
        return removed  # the AOF and RDB files still hold the number until rewrite_persistence

    async def rewrite_persistence(self, timeout: float = 30.0) -> list[str]:
        """Have Redis rewrite its files so erased data leaves the disk too; returns what was rewritten.

        Without this the AOF keeps every command that ever wrote the number until Redis
        rewrites it on its own (by default only once it has grown to 64 MB). An RDB file is
        replaced by a fresh snapshot. Waits (up to ``timeout``) until Redis reports both done.
        """
        done: list[str] = []
        deadline = asyncio.get_running_loop().time() + timeout
        for node in await self._server.nodes():  # every primary of a Cluster
            info = await self._redis.info("persistence", **node)
            if info.get("aof_enabled"):
                await self._wait_idle("aof_rewrite_in_progress", deadline, node)  # one begun before the erasure
                await self._redis.bgrewriteaof(**node)
                done.append("aof")
            try:
                save = (await self._redis.config_get("save", **node)).get("save", "")
            except ResponseError:
                save = ""
            if save or info.get("rdb_saves"):  # a snapshot on disk (never make one where there was none)
                await self._wait_idle("rdb_bgsave_in_progress", deadline, node)
                await self._redis.execute_command("BGSAVE", "SCHEDULE", **node)
                done.append("rdb")
        for node in await self._server.nodes():
            for flag in ("aof_rewrite_scheduled", "aof_rewrite_in_progress", "rdb_bgsave_in_progress"):
                await self._wait_idle(flag, deadline, node)
        return sorted(set(done))

    async def _wait_idle(self, flag: str, deadline: float, node: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        while (await self._redis.info("persistence", **node)).get(flag):
            if loop.time() > deadline:
                raise TimeoutError(f"Redis still busy ({flag}) after the erasure")
            await asyncio.sleep(0.05)

    async def forgotten_since(self, number: str) -> float | None:
        """When this number was last erased (kept ``unconfirmed_keep_hours``), else None."""
        return _num(await self._redis.zscore(keys.FORGOTTEN, keys.forgotten_member(number)))

    async def erasures_since(self, since: float) -> dict[str, float]:
        """Erasures recorded at or after ``since``: ``keys.forgotten_member(number)`` -> when."""
        found = cast(Scored, await self._redis.zrangebyscore(keys.FORGOTTEN, since, "+inf", withscores=True))
        return {member: float(at) for member, at in found}

    async def _drop_callbacks(self, keep: Callable[[Appointment], bool]) -> int:
        """Delete every appointment that ``keep`` rejects (compare-and-set each)."""
        dropped = 0
        for aid, appt in (await self._callbacks.all()).items():
            if not keep(appt) and await self._callbacks.swap(aid, appt, None):
                dropped += 1
        return dropped

    async def purge(self, now: float) -> int:
        """Drop incidents older than retention, with their index entries. Returns how many."""
        await self._migrations.move_withheld_incidents()  # once, after an upgrade; then a read of a small hash
        await self._redis.zremrangebyscore(keys.FORGOTTEN, "-inf", now - 90 * keys.DAY)  # past any journal's keep
        cutoff = now - self._retention
        await self._incidents.names.purge(cutoff)  # names not seen with an incident within the retention
        # Appointments: a finished one is kept for the retention after its last change.
        await self._drop_callbacks(lambda a: a.status in ("scheduled", "calling") or (a.updated or now) > cutoff)
        old = cast(list[str], await self._redis.zrangebyscore(keys.INCIDENTS_BY_TIME, "-inf", cutoff))
        if not old:
            return 0
        owners = await self._incidents.owners(old)
        records = await self._callers.load_callers(n for n in owners.values() if n)
        slots = {inc.id: (number, inc) for number, rec in records.items() for inc in rec.incidents}
        async with self._redis.pipeline(transaction=False) as pipe:
            for iid in owners:
                if iid in slots:
                    number, inc = slots[iid]
                    pipe.hdel(keys.caller(number), *incident_field_names(inc.slot))
                    self._indexes.removed(pipe, number, [inc])
                pipe.zrem(keys.INCIDENTS_BY_TIME, iid)
                pipe.hdel(keys.INCIDENT_OWNER, iid)
            await pipe.execute()
        await self._indexes.logbook.remove_ids([iid for iid in owners if iid not in slots])
        gone = set(old)
        await self._indexes.rerank({n: [i for i in r.incidents if i.id not in gone] for n, r in records.items()})
        return len(old)
