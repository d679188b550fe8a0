"""The incident log: writing incidents (one Lua script per key press, with the logbook's index
entries; on disk where asked; many at once for seeding), and the logbook's reads, debriefs and
warning marks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from agi.engine import Ban, Incident
from redis_schema import keys
from redis_schema.caller_names import CallerNames
from redis_schema.connection import Client, Fields, Scored, lua
from redis_schema.contact_lists import keep_for_ban, touch
from redis_schema.indexes import Indexes
from redis_schema.records import DEBRIEF_HISTORY, Debrief, debrief_hash, debrief_history, incident_args, incident_row
from redis_schema.records import ban_hash as _ban_fields
from redis_schema.records import fmt as _fmt
from redis_schema.screening_read import ScreeningRead


def home_of(inc: Incident) -> str:
    """The caller hash an incident is kept in (a withheld caller's: one of its own)."""
    return keys.incident_home(inc.caller, inc.id, inc.linkedid, inc.source)


def incident_dict(number: str, inc: Incident) -> dict[str, Any]:
    """The incident as exports and ``--json`` show it (see redis_schema.records.incident_row)."""
    return incident_row(inc, keys.shown_number(number))


class IncidentLog:
    """``store.incidents``: incident writes and the logbook."""

    def __init__(
        self, redis: Client, retention: int, callers: ScreeningRead, indexes: Indexes, names: CallerNames
    ) -> None:
        self._redis, self._retention, self._callers, self._indexes = redis, retention, callers, indexes
        self.names = names  # the caller's name is kept (and indexed) with each incident that has one
        self._add_script = redis.register_script(lua("add_incident"))
        self._debrief_script = redis.register_script(lua("debrief"))

    # ---- writes ---------------------------------------------------------------------------
    async def add_incident(self, inc: Incident) -> tuple[str, bool]:
        """Store an incident once, and always complete its logbook index. Returns (stored id, created).

        ``stored id`` differs from ``inc.id`` when the same key press of the same call was
        already stored under another id. Writing the same incident again (a retry, a replay
        after a Redis restart) stores nothing twice and repairs a missing index entry, so the
        caller may repeat this until it succeeds.
        """
        got = await self._add(self._redis, inc)
        await self._note_name(inc)
        return got

    async def add_incident_on_disk(self, inc: Incident, mode: str, timeout_ms: int) -> tuple[str, bool, bool]:
        """As add_incident, and whether it is on Redis's disk (per ``Durability.mode``).

        One connection does the writes and the WAITAOF, which covers only what the connection
        it runs on wrote. With Sentinel or Cluster, a failover promotes a replica and the old
        primary drops what only it held, so the incident counts as on disk only once a replica
        holds it too (WAIT, on the connection that wrote); otherwise the journal keeps it and
        writes it again when the primary changes (``store.server.run_id``).
        """
        await self._note_name(inc)
        if isinstance(self._redis, RedisCluster):
            return await self._add_in_cluster(self._redis, inc, mode == "aof-always", timeout_ms)
        async with self._redis.client() as conn:
            got_id, created = await self._add(conn, inc)
            on_disk = mode == "aof-always"
            # (the ignores: redis-py leaves Redis.execute_command unannotated)
            if mode == "waitaof":
                local, _ = await conn.execute_command("WAITAOF", 1, 0, timeout_ms)  # type: ignore[no-untyped-call]
                on_disk = int(local) >= 1
            if on_disk and isinstance(self._redis.connection_pool, SentinelConnectionPool):
                on_disk = int(await conn.execute_command("WAIT", 1, timeout_ms)) >= 1  # type: ignore[no-untyped-call]
            return got_id, created, on_disk

    async def _note_name(self, inc: Incident) -> None:
        if inc.caller_name:
            await self.names.note(inc.caller, inc.caller_name, inc.at)

    async def _add_in_cluster(
        self, cluster: RedisCluster, inc: Incident, on_disk: bool, timeout_ms: int
    ) -> tuple[str, bool, bool]:
        """add_incident_on_disk on a Cluster: a pipeline sends each node's commands on one connection,
        so a WAIT after them (sent to that node) covers them. WAITAOF is not used: see durability()."""
        home = home_of(inc)
        key = keys.caller(home)
        await cluster.initialize()  # the slots map (get_node_from_key), read on first use
        async with cluster.pipeline(transaction=False) as pipe:
            # EVAL, not EVALSHA: a replica promoted by a failover has no script cache.
            pipe.execute_command("EVAL", self._add_script.script, 1, key, *incident_args(inc, self._retention))
            if on_disk:
                pipe.execute_command("WAIT", 1, timeout_ms, target_nodes=cluster.get_node_from_key(key))
            reply, *acked = await pipe.execute()
        async with cluster.pipeline(transaction=False) as pipe:
            got_id, at, created = self._indexes.added(pipe, home, inc, reply)
            await pipe.execute()
        async with cluster.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.INCIDENTS_BY_TIME, {got_id: at}, nx=True)
            pipe.hset(keys.INCIDENT_OWNER, got_id, home)
            if on_disk:
                # (cast: get_node_from_key returns None only for a replica=True lookup)
                owners = [
                    cast(ClusterNode, cluster.get_node_from_key(k))
                    for k in (keys.INCIDENTS_BY_TIME, keys.INCIDENT_OWNER)
                ]
                for node in {n.name: n for n in owners}.values():
                    pipe.execute_command("WAIT", 1, timeout_ms, target_nodes=node)
            _, _, *more = await pipe.execute()
        return got_id, created, on_disk and all(int(n) >= 1 for n in acked + more)

    async def _add(self, client: Client, inc: Incident) -> tuple[str, bool]:
        home = home_of(inc)
        reply = await self._add_script(
            keys=[keys.caller(home), *self._indexes.script_keys(inc.at)],
            args=incident_args(inc, self._retention),
            client=client,
        )
        async with client.pipeline(transaction=False) as pipe:
            got_id, at, created = self._indexes.added(pipe, home, inc, reply)
            pipe.zadd(keys.INCIDENTS_BY_TIME, {got_id: at}, nx=True)
            pipe.hset(keys.INCIDENT_OWNER, got_id, home)
            await pipe.execute()
        return got_id, created

    async def bulk_load(self, callers: Iterable[tuple[str, list[Incident], Ban | None]], batch: int = 2000) -> int:
        """Load many callers' histories, pipelined, through the same Lua write as a key press.

        Each item is (number, [Incident], ban or None). For seeding (benchmark, migration);
        returns the number of incidents written.
        """
        written = 0
        sha = await self._redis.script_load(self._add_script.script)  # on every primary of a Cluster
        pipe = self._redis.pipeline(transaction=False)
        added: list[tuple[int, str, Incident]] = []  # (place of its script in the pipeline, home, incident)

        async def flush() -> None:
            nonlocal pipe
            replies = await pipe.execute()
            pipe = self._redis.pipeline(transaction=False)
            for place, home, inc in added:  # the indexes of what the scripts answered
                self._indexes.added(pipe, home, inc, replies[place])
            await pipe.execute()
            pipe = self._redis.pipeline(transaction=False)
            added.clear()

        for number, incidents, ban in callers:
            for inc in incidents:
                home = keys.incident_home(number, inc.id, inc.linkedid, inc.source)
                script_keys = [keys.caller(home), *self._indexes.script_keys(inc.at)]
                added.append((len(pipe), home, inc))
                # (execute_command: a Cluster pipeline refuses evalsha by name, yet routes it by its one key)
                pipe.execute_command(
                    "EVALSHA", sha, len(script_keys), *script_keys, *incident_args(inc, self._retention)
                )
                pipe.zadd(keys.INCIDENTS_BY_TIME, {inc.id: inc.at}, nx=True)
                pipe.hset(keys.INCIDENT_OWNER, inc.id, home)
                written += 1
            if ban is not None:
                pipe.hset(keys.caller(number), mapping=cast(Fields, _ban_fields(ban)))
                keep_for_ban(pipe, number, ban, self._retention)
                pipe.zadd(keys.BANS, {number: ban.until})
            if len(pipe) >= batch:
                await flush()
        if len(pipe):
            await flush()
        return written

    async def mark_warning_sent(self, number: str, at: float, actor: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping={keys.WARNING_SENT: _fmt(at), keys.WARNING_BY: actor})
            touch(pipe, number, self._retention)
            await pipe.execute()
        await self._indexes.warnings.drop([number])

    async def set_debrief(
        self, number: str, incident: Incident, note: str, at: float, actor: str, answer: str = ""
    ) -> None:
        """Record a debrief; the one it replaces stays in the incident's history (debrief.lua)."""
        mapping = debrief_hash(incident.slot, note, at, actor, answer)
        pairs = [x for kv in mapping.items() for x in kv]
        await self._debrief_script(keys=[await self._hash_of(number, incident)], args=[incident.slot, *pairs])
        await self._indexes.logbook.debriefed(incident)

    async def debriefs(self, number: str, incident: Incident) -> list[Debrief]:
        """Every debrief of an incident, oldest first (the one in place last)."""
        raw = await self._redis.hget(await self._hash_of(number, incident), f"{incident.slot}.{DEBRIEF_HISTORY}")
        return debrief_history(cast(str | None, raw), incident)

    async def _hash_of(self, number: str, incident: Incident) -> str:
        if number == keys.ANONYMOUS:  # its own hash, or (logged before it had one) the shared one
            number = await self.incident_owner(incident.id) or number
        return keys.caller(number)

    # ---- logbook --------------------------------------------------------------------------
    async def incident_owner(self, incident_id: str) -> str | None:
        return cast(str | None, await self._redis.hget(keys.INCIDENT_OWNER, incident_id))

    async def get_incident(self, incident_id: str) -> tuple[str, Incident] | None:
        number = await self.incident_owner(incident_id)
        if number is None:
            return None
        record = await self._callers.load_caller(number)
        for inc in record.incidents:
            if inc.id == incident_id:
                return number, inc
        return None

    async def incident_page(self, start: float | str, end: float | str, offset: int, count: int) -> list[str]:
        """Incident ids from newest to oldest between ``end`` and ``start`` (scores), one page of the index."""
        ids = await self._redis.zrevrangebyscore(keys.INCIDENTS_BY_TIME, end, start, start=offset, num=count)
        return cast(list[str], ids)

    async def incident_count(self, start: float) -> int:
        """How many incidents the logbook index holds from ``start`` on."""
        return int(await self._redis.zcount(keys.INCIDENTS_BY_TIME, start, "+inf"))

    async def incident_index(
        self, start: float | str, end: float | str, after: tuple[float, str] | None, count: int
    ) -> list[tuple[str, float]]:
        """Up to ``count`` (id, time) of the logbook index from newest to oldest between ``end`` and
        ``start`` (scores), strictly after the entry ``after`` (time, id) in that order: a cursor
        that stays put when newer incidents arrive."""
        top, skip = end, 0
        if after is not None:
            top, last = after
            # Entries of the same time come newest id first: those down to ``last`` were read already.
            ties = cast(list[str], await self._redis.zrevrangebyscore(keys.INCIDENTS_BY_TIME, top, top))
            skip = sum(str(i) >= last for i in ties)
        rows = await self._redis.zrevrangebyscore(
            keys.INCIDENTS_BY_TIME, top, start, start=skip, num=count, withscores=True
        )
        return [(str(iid), float(at)) for iid, at in cast(Scored, rows)]

    async def incidents_by_id(self, ids: list[str]) -> list[Incident]:
        """The incidents with these ids (owner index, then one HGETALL per caller), in the order given."""
        owners = await self.owners(ids)
        records = await self._callers.load_callers(n for n in owners.values() if n)
        found = {inc.id: inc for n, rec in records.items() for inc in rec.incidents}
        return [found[i] for i in ids if i in found]

    async def incident_ids(self, since: float | None = None) -> list[tuple[str, float]]:
        rows = await self._redis.zrangebyscore(
            keys.INCIDENTS_BY_TIME, since if since is not None else "-inf", "+inf", withscores=True
        )
        return [(iid, at) for iid, at in cast(Scored, rows)]

    async def owners(self, ids: Iterable[str]) -> dict[str, str | None]:
        ids = list(ids)
        if not ids:
            return {}
        return dict(zip(ids, cast(list[str | None], await self._redis.hmget(keys.INCIDENT_OWNER, ids))))
