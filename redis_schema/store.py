"""The storage layer: every Redis read and write Grenswacht makes goes through :class:`Store`.

Key names come from :mod:`redis_schema.keys`; the layout is documented in SCHEMA.md.
Values read back are checked: a malformed field is skipped and logged, never a crash.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedSSLConnection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from agi.engine import Allow, Ban, CallerRecord, Incident
from agi.logs import get_logger
from redis_schema import keys
from redis_schema.fastread import CallerReader
from redis_schema.incident_notes import IncidentNotes
from redis_schema.live_calls import LiveCalls
from redis_schema.records import (
    APPOINTMENT,
    COOLDOWN,
    NAME_OF,
    PREFIX_ALLOW,
    PREFIX_BAN,
    USER,
    Appointment,
    BadRecord,
    JsonCodec,
    T,
    allow_hash,
    debrief_hash,
    decode_allow,
    decode_ban,
    decode_incidents,
    incident_args,
    incident_field_names,
    incident_row,
    int_or_zero,
)
from redis_schema.records import MAX_TIME as MAX_TIME  # re-exported: screening shows capped times
from redis_schema.records import ban_hash as _ban_fields
from redis_schema.records import fmt as _fmt
from redis_schema.records import num as _num

log = get_logger("grenswacht.store")

Client = Redis | RedisCluster  # what connect() returns: standalone and Sentinel give a Redis
# redis-py types every reply as bytes | str, whatever decode_responses says; connect() sets
# decode_responses=True, so every reply is str: the casts to these say so.
Hash = dict[str, str]
Scored = list[tuple[str, float]]  # ZRANGE ... WITHSCORES (score_cast_func float)
Entries = list[tuple[str, dict[str, str]]]  # XRANGE: (entry id, fields)
# What HSET takes: a Mapping's key type is invariant, so a dict[str, str] is cast to it.
Fields = Mapping[FieldT, EncodableT]


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary that the sentinels name, with a pool that waits for a free connection."""


def connect(
    url: str,
    *,
    password: str | None = None,
    max_connections: int = 64,
    pool_timeout: float = 1.0,
    socket_timeout: float = 5.0,
    mode: str = "standalone",
    sentinels: Iterable[tuple[str, int]] = (),
    service_name: str = "grenswacht",
    nodes: Iterable[tuple[str, int]] = (),
) -> Client:
    """A client whose pool waits (up to ``pool_timeout``) for a free connection instead of failing.

    A pooled connection that broke (Redis restarted) is retried twice on a fresh one, quickly;
    callers on the call path bound the whole thing with their own time budget.
    ``mode`` "sentinel": the primary of ``service_name`` as the ``sentinels`` name it, found again
    after a failover (a write refused with READONLY by a demoted primary reconnects too).
    ``mode`` "cluster": ``url`` is one seed node (``nodes``: more of them); commands go to the node
    owning their key's slot, keyspace-wide ones (SCAN, SCRIPT LOAD) to every primary.
    """
    retry = Retry(ExponentialBackoff(cap=0.1, base=0.005), 2)
    connect_timeout = min(socket_timeout, 2.0)
    timeouts = dict(socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout)
    if mode == "cluster":
        return RedisCluster.from_url(
            url,
            startup_nodes=[ClusterNode(host, port) for host, port in nodes] or None,
            password=password,
            decode_responses=True,
            max_connections=max_connections,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), 3),
            **timeouts,
        )
    # The blocking pool of a standalone or sentinel-managed primary.
    pooled: dict[str, Any] = dict(
        password=password,
        max_connections=max_connections,
        timeout=pool_timeout,
        decode_responses=True,
        health_check_interval=30,
        retry=retry,
    )
    if mode == "sentinel":
        parsed = BlockingConnectionPool.from_url(url).connection_kwargs  # the database from the url
        opts = {k: v for k, v in parsed.items() if k in ("db", "username")}
        if url.startswith("rediss://"):
            opts["connection_class"] = SentinelManagedSSLConnection
        manager = Sentinel(
            list(sentinels),
            sentinel_kwargs=dict(timeouts),
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
        )
        client: Redis = manager.master_for(  # (redis-py leaves master_for's result untyped)
            service_name, connection_pool_class=_BlockingSentinelPool, **pooled, **opts
        )
        return client
    pool = BlockingConnectionPool.from_url(url, **pooled, **timeouts)
    return Redis.from_pool(pool)  # owns the pool: aclose() closes its connections too


@dataclass(frozen=True)
class Durability:
    """Whether an acknowledged write survives a Redis restart, as far as Redis tells."""

    durable: bool  # an acknowledged incident survives a Redis restart
    mode: str  # "aof-always" | "waitaof" | "aof-everysec" | "rdb-only" | "none" | "unknown"
    detail: str  # one sentence for the operator


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def durability_of(version: str, aof_enabled: bool, appendfsync: str | None, save: str | None) -> Durability:
    """Decide from what Redis reports (pure; ``None`` where CONFIG GET was refused)."""
    fix = "set appendonly yes with appendfsync always (or use Redis 7.2 or later with appendonly yes)"
    if aof_enabled and appendfsync == "always":
        return Durability(True, "aof-always", "Redis writes every change to its AOF on disk before it answers.")
    if aof_enabled and _version(version) >= (7, 2):
        return Durability(True, "waitaof", "Redis has AOF on; each incident is confirmed on disk with WAITAOF.")
    if aof_enabled:
        return Durability(
            False,
            "aof-everysec" if appendfsync else "unknown",
            f"Redis {version} syncs its AOF only every second (appendfsync {appendfsync or 'unknown'}), "
            f"so a crash can lose the last acknowledged incidents; {fix}.",
        )
    if save:
        return Durability(
            False,
            "rdb-only",
            f"Redis only takes RDB snapshots, so a restart loses every incident since the last one; {fix}.",
        )
    if save is None or appendfsync is None:
        return Durability(
            False,
            "unknown",
            f"Redis does not allow CONFIG GET, so its persistence cannot be checked; make sure to {fix}.",
        )
    return Durability(False, "none", f"Redis has no persistence, so a restart loses every incident; {fix}.")


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


def _digest(number: str) -> str:
    return keys.forgotten_member(number)


def _lua(name: str) -> str:
    return resources.files("redis_schema").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


def _home(inc: Incident) -> str:
    return keys.incident_home(inc.caller, inc.id, inc.linkedid, inc.source)


class RecordHash(Generic[T]):
    """One hash of typed records (cool-downs, callback appointments, console users), each field a
    record's name and its value the record's JSON (its codec in redis_schema.records). Values are
    changed by compare-and-set (``lua/hash_cas.lua``) on the text a reader saw.

    A value that cannot be read is set aside (in gw:quarantine, for an operator) and removed; one
    stored in an older layout is written again in the current one, so that a compare-and-set on
    the value read matches the stored text."""

    def __init__(self, store: Store, key: str, codec: JsonCodec[T]) -> None:
        self._store, self._key, self._codec = store, key, codec

    async def all(self) -> dict[str, T]:
        """Every readable record, by name."""
        return await self.decode(cast(Hash, await self._store.redis.hgetall(self._key)))

    async def get(self, name: str) -> T | None:
        text = cast(str | None, await self._store.redis.hget(self._key, name))
        return (await self.decode({name: text} if text else {})).get(name)

    async def swap(self, name: str, expected: T | None, new: T | None) -> bool:
        """Compare-and-set one record (None expected = absent, None new = delete)."""
        old_text = "" if expected is None else self._codec.dump(expected)
        new_text = "" if new is None else self._codec.dump(new)
        return bool(await self._store._hash_cas(keys=[self._key], args=[name, old_text, new_text]))

    async def put(self, name: str, value: T) -> None:
        """Write one record whatever was there (a user's account: no concurrent writer)."""
        await self._store.redis.hset(self._key, name, self._codec.dump(value))

    async def remove(self, name: str) -> bool:
        return bool(await self._store.redis.hdel(self._key, name))

    async def decode(self, raw: Mapping[str, str]) -> dict[str, T]:
        """The readable records of ``raw`` (this hash as read), by name."""
        out: dict[str, T] = {}
        codec, hash_cas = self._codec, self._store._hash_cas
        for name, text in raw.items():
            try:
                value = codec.load(name, text)
            except BadRecord as exc:
                await self._store.quarantine(codec.kind, name, text, time.time())
                await hash_cas(keys=[self._key], args=[name, text, ""])
                log.error("record-set-aside", kind=codec.kind, problem=str(exc)[:160], where=keys.QUARANTINE)
                continue
            canonical = codec.dump(value)
            if canonical != text:  # changed meanwhile: the caller's own swap fails and reads again
                await hash_cas(keys=[self._key], args=[name, text, canonical])
            out[name] = value
        return out


class Store:
    """Grenswacht's Redis storage; one instance per process, shared by every route."""

    def __init__(self, redis: Client, *, retention_days: int = 365, reader: CallerReader | None = None) -> None:
        self.redis = redis
        self.reader = reader  # the lean screening read (standalone Redis); None: redis-py reads it
        self.retention = retention_days * keys.DAY
        self._add_incident = redis.register_script(_lua("add_incident"))
        self._hash_cas = redis.register_script(_lua("hash_cas"))
        self.cooldowns = RecordHash(self, keys.COOLDOWNS, COOLDOWN)  # by agent interface
        self.callbacks = RecordHash(self, keys.CALLBACKS, APPOINTMENT)  # by appointment id
        self.users = RecordHash(self, keys.USERS, USER)  # console users, by name
        self.prefix_bans = RecordHash(self, keys.PREFIX_BANS, PREFIX_BAN)  # number ranges, by prefix
        self.prefix_allows = RecordHash(self, keys.PREFIX_ALLOWS, PREFIX_ALLOW)
        self.cluster = isinstance(redis, RedisCluster)
        self.live = LiveCalls(self)  # live calls and recordings (redis_schema.live_calls)
        self.notes = IncidentNotes(self)  # account and police report (redis_schema.incident_notes)

    async def _nodes(self) -> list[dict[str, Any]]:
        """Keyword arguments that send a server-wide command to each server holding data: the one
        server, or every primary of a Cluster (a Sentinel client talks to the primary only)."""
        if not isinstance(self.redis, RedisCluster):
            return [{}]
        await self.redis.initialize()  # the slots map, read on first use
        return [{"target_nodes": node} for node in self.redis.get_primaries()]

    async def close(self) -> None:
        if self.reader is not None:
            await self.reader.close()
        await self.redis.aclose()
        pool = getattr(self.redis, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):  # and the connections to the sentinels
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()

    # ---- screening path -------------------------------------------------------------------
    async def load_caller(self, number: str, budget: float | None = None) -> CallerRecord:
        """Everything screening needs about one caller: one command, one round trip. With
        ``budget`` (seconds), ``TimeoutError`` once it is spent (the lean reader's own timer
        watches it; no timer per call)."""
        key = keys.caller(number)
        if self.reader is not None:
            raw = await self.reader.hgetall(key, budget)
        else:
            async with asyncio.timeout(budget):  # None: no limit
                raw = cast(Hash, await self.redis.hgetall(key))
        return parse_caller(number, raw)

    async def load_prefixes(self) -> tuple[dict[str, Ban], dict[str, Allow]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.PREFIX_BANS)
            pipe.hgetall(keys.PREFIX_ALLOWS)
            raw_bans, raw_allows = await pipe.execute()
        return await self.prefix_bans.decode(raw_bans), await self.prefix_allows.decode(raw_allows)

    async def add_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add per-day screening counters: {(YYYY-MM-DD, field): n} in one pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for (day, name), n in counts.items():
                pipe.hincrby(keys.stats(day), name, n)
            for day in {d for d, _ in counts}:
                pipe.expire(keys.stats(day), keys.STATS_TTL)
            await pipe.execute()

    async def screening_counts(self, first_day: str) -> tuple[dict[str, int], int]:
        """Screenings by decision and refused attempts while banned, from ``first_day`` (YYYY-MM-DD) on."""
        screenings: dict[str, int] = {}
        refused = 0
        async for key in self.redis.scan_iter(match=keys.STATS_SCAN, count=500):
            if key.rsplit(":", 1)[1] < first_day:
                continue
            for name, value in cast(Hash, await self.redis.hgetall(key)).items():
                count = int_or_zero(value)
                if name.startswith("screen."):
                    screenings[name[7:]] = screenings.get(name[7:], 0) + count
                elif name == "refused-while-banned":
                    refused += count
        return screenings, refused

    # ---- writes ---------------------------------------------------------------------------
    async def add_incident(self, inc: Incident) -> tuple[str, bool]:
        """Store an incident once, and always complete its logbook index. Returns (stored id, created).

        ``stored id`` differs from ``inc.id`` when the same key press of the same call was
        already stored under another id. Writing the same incident again (a retry, a replay
        after a Redis restart) stores nothing twice and repairs a missing index entry, so the
        caller may repeat this until it succeeds.
        """
        return await self._add(self.redis, inc)

    async def add_incident_on_disk(self, inc: Incident, mode: str, timeout_ms: int) -> tuple[str, bool, bool]:
        """As add_incident, and whether it is on Redis's disk (per ``Durability.mode``).

        One connection does the writes and the WAITAOF, which covers only what the connection
        it runs on wrote. With Sentinel or Cluster, a failover promotes a replica and the old
        primary drops what only it held, so the incident counts as on disk only once a replica
        holds it too (WAIT, on the connection that wrote); otherwise the journal keeps it and
        writes it again when the primary changes (Store.run_id).
        """
        if isinstance(self.redis, RedisCluster):
            return await self._add_in_cluster(self.redis, inc, mode == "aof-always", timeout_ms)
        async with self.redis.client() as conn:
            got_id, created = await self._add(conn, inc)
            on_disk = mode == "aof-always"
            # (the ignores: redis-py leaves Redis.execute_command unannotated)
            if mode == "waitaof":
                local, _ = await conn.execute_command("WAITAOF", 1, 0, timeout_ms)  # type: ignore[no-untyped-call]
                on_disk = int(local) >= 1
            if on_disk and isinstance(self.redis.connection_pool, SentinelConnectionPool):
                on_disk = int(await conn.execute_command("WAIT", 1, timeout_ms)) >= 1  # type: ignore[no-untyped-call]
            return got_id, created, on_disk

    async def _add_in_cluster(
        self, cluster: RedisCluster, inc: Incident, on_disk: bool, timeout_ms: int
    ) -> tuple[str, bool, bool]:
        """add_incident_on_disk on a Cluster: a pipeline sends each node's commands on one connection,
        so a WAIT after them (sent to that node) covers them. WAITAOF is not used: see durability()."""
        home = _home(inc)
        key = keys.caller(home)
        await cluster.initialize()  # the slots map (get_node_from_key), read on first use
        async with cluster.pipeline(transaction=False) as pipe:
            # EVAL, not EVALSHA: a replica promoted by a failover has no script cache.
            pipe.execute_command("EVAL", self._add_incident.script, 1, key, *incident_args(inc, self.retention))
            if on_disk:
                pipe.execute_command("WAIT", 1, timeout_ms, target_nodes=cluster.get_node_from_key(key))
            (got_id, at, created), *acked = await pipe.execute()
        async with cluster.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.INCIDENTS_BY_TIME, {got_id: _num(at) or inc.at}, nx=True)
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
        return got_id, bool(created), on_disk and all(int(n) >= 1 for n in acked + more)

    async def _add(self, client: Client, inc: Incident) -> tuple[str, bool]:
        home = _home(inc)
        got_id, at, created = await self._add_incident(
            keys=[keys.caller(home)], args=incident_args(inc, self.retention), client=client
        )
        await client.zadd(keys.INCIDENTS_BY_TIME, {got_id: _num(at) or inc.at}, nx=True)
        await client.hset(keys.INCIDENT_OWNER, got_id, home)
        return got_id, bool(created)

    async def forgotten_since(self, number: str) -> float | None:
        """When this number was last erased (kept ``unconfirmed_keep_hours``), else None."""
        return _num(await self.redis.zscore(keys.FORGOTTEN, _digest(number)))

    async def erasures_since(self, since: float) -> dict[str, float]:
        """Erasures recorded at or after ``since``: ``keys.forgotten_member(number)`` -> when."""
        found = cast(Scored, await self.redis.zrangebyscore(keys.FORGOTTEN, since, "+inf", withscores=True))
        return {member: float(at) for member, at in found}

    async def bulk_load(self, callers: Iterable[tuple[str, list[Incident], Ban | None]], batch: int = 2000) -> int:
        """Load many callers' histories, pipelined, through the same Lua write as a key press.

        Each item is (number, [Incident], ban or None). For seeding (benchmark, migration);
        returns the number of incidents written.
        """
        written = 0
        pending = 0
        sha = await self.redis.script_load(self._add_incident.script)  # on every primary of a Cluster
        pipe = self.redis.pipeline(transaction=False)
        for number, incidents, ban in callers:
            for inc in incidents:
                home = keys.incident_home(number, inc.id, inc.linkedid, inc.source)
                # (execute_command: a Cluster pipeline refuses evalsha by name, yet routes it by its one key)
                pipe.execute_command("EVALSHA", sha, 1, keys.caller(home), *incident_args(inc, self.retention))
                pipe.zadd(keys.INCIDENTS_BY_TIME, {inc.id: inc.at}, nx=True)
                pipe.hset(keys.INCIDENT_OWNER, inc.id, home)
                written += 1
                pending += 1
            if ban is not None:
                pipe.hset(keys.caller(number), mapping=cast(Fields, _ban_fields(ban)))
                self._keep_for_ban(pipe, number, ban)
                pipe.zadd(keys.BANS, {number: ban.until})
                pending += 1
            if pending >= batch:
                await pipe.execute()
                pipe = self.redis.pipeline(transaction=False)
                pending = 0
        if pending:
            await pipe.execute()
        return written

    # ---- durability -----------------------------------------------------------------------
    async def durability(self) -> Durability:
        """What Redis's persistence settings mean for an acknowledged incident (a Cluster: its
        weakest primary; ``waitaof`` counts as not durable there, see add_incident_on_disk)."""
        found: list[Durability] = []
        for node in await self._nodes():
            server = await self.redis.info("server", **node)
            persistence = await self.redis.info("persistence", **node)
            try:
                appendfsync = (await self.redis.config_get("appendfsync", **node)).get("appendfsync")
                save = (await self.redis.config_get("save", **node)).get("save", "")
            except ResponseError:  # CONFIG renamed or disabled, as hardened set-ups do
                appendfsync = save = None
            got = durability_of(
                str(server.get("redis_version", "")), bool(persistence.get("aof_enabled")), appendfsync, save
            )
            if self.cluster and got.mode == "waitaof":
                got = Durability(
                    False,
                    "aof-everysec",
                    "Redis Cluster with AOF but not appendfsync always: an "
                    "incident cannot be confirmed on disk; set appendfsync always on every node.",
                )
            found.append(got)
        return next((d for d in found if not d.durable), found[0])

    async def ping(self) -> None:
        await self.redis.ping()

    async def topology(self) -> str:
        """How Redis is deployed, for `grenswacht check`: standalone, sentinel or cluster."""
        if isinstance(self.redis, RedisCluster):
            return f"cluster, {len(await self._nodes())} primaries"
        pool = self.redis.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            host, port = await pool.get_master_address()  # type: ignore[no-untyped-call]  # redis-py: unannotated
            return f"sentinel, {pool.service_name} on {host}:{port}"
        return "standalone"

    async def server_version(self) -> str:
        return str((await self.redis.info("server")).get("redis_version", ""))

    async def run_id(self) -> str:
        """Changes whenever Redis restarts (a Cluster: any primary, or a failover promotes a replica):
        a restart without persistence loses what it held."""
        ids = [str((await self.redis.info("server", **node)).get("run_id", "")) for node in await self._nodes()]
        return ",".join(sorted(ids))

    # ---- cool-downs, callback appointments, users: typed values in one hash each -----------
    # (RecordHash below: ``store.cooldowns``, ``store.callbacks``, ``store.users``)

    async def _drop_callbacks(self, keep: Callable[[Appointment], bool]) -> int:
        """Delete every appointment that ``keep`` rejects (compare-and-set each)."""
        dropped = 0
        for aid, appt in (await self.callbacks.all()).items():
            if not keep(appt) and await self.callbacks.swap(aid, appt, None):
                dropped += 1
        return dropped

    async def old_cooldowns(self) -> tuple[dict[str, str], dict[str, float]]:
        """Cool-downs in the layout before 0.2 (state hash, due zset), to migrate at start."""
        state = cast(Hash, await self.redis.hgetall(keys.OLD_COOLDOWN_STATE))
        due = (
            dict(cast(Scored, await self.redis.zrange(keys.OLD_COOLDOWN_DUE, 0, -1, withscores=True))) if state else {}
        )
        return state, due

    async def drop_old_cooldowns(self) -> None:
        await self.redis.delete(keys.OLD_COOLDOWN_STATE, keys.OLD_COOLDOWN_DUE)

    async def quarantine(self, kind: str, name: str, raw: str, at: float) -> None:
        """Set a malformed entry aside where an operator can look at it (never on the call path)."""
        await self.redis.hset(keys.QUARANTINE, f"{kind}:{name}:{at:.3f}", raw)

    def _touch(self, pipe: Pipeline | ClusterPipeline, number: str) -> None:
        """A write keeps the caller for the retention from now, and never for less than they
        had: a ban that ends later set the TTL to its end (``_keep_for_ban``); so does
        add_incident.lua."""
        pipe.expire(keys.caller(number), self.retention, nx=True)  # a new key (or one without a TTL)
        pipe.expire(keys.caller(number), self.retention, gt=True)

    def _ban_ttl(self, ban: Ban) -> int:
        """The caller's TTL with this ban: the retention, or up to the ban's end if that is later,
        so a ban longer than the retention keeps refusing until it ends."""
        return max(self.retention, math.ceil(min(ban.until, MAX_TIME) - time.time()))

    def _keep_for_ban(self, pipe: Pipeline | ClusterPipeline, number: str, ban: Ban) -> None:
        pipe.expire(keys.caller(number), self._ban_ttl(ban))

    async def set_ban(self, number: str, ban: Ban) -> None:
        mapping = _ban_fields(ban)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=cast(Fields, mapping))
            self._keep_for_ban(pipe, number, ban)
            await pipe.execute()
        # The bans index lives in another Cluster slot: written after, idempotent.
        await self.redis.zadd(keys.BANS, {number: ban.until})

    async def clear_ban(self, number: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.caller(number), *keys.BAN_FIELDS)
            pipe.expire(keys.caller(number), self.retention)  # no longer kept for the ban's sake
            removed, _ = await pipe.execute()
        await self.redis.zrem(keys.BANS, number)
        return bool(removed)

    async def banned_numbers(self, now: float, limit: int = 1000) -> list[str]:
        """Numbers whose ban (per the index) ends after ``now``, soonest end first."""
        await self.redis.zremrangebyscore(keys.BANS, "-inf", now)  # expired: tidy the index
        return cast(list[str], await self.redis.zrangebyscore(keys.BANS, now, "+inf", start=0, num=limit))

    async def set_allow(self, number: str, allow: Allow) -> None:
        mapping = allow_hash(allow)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=cast(Fields, mapping))
            self._touch(pipe, number)
            await pipe.execute()
        await self.redis.zadd(keys.ALLOWS, {number: allow.set_at})  # index: another slot, idempotent

    async def clear_allow(self, number: str) -> bool:
        removed = bool(await self.redis.hdel(keys.caller(number), *keys.ALLOW_FIELDS))
        await self.redis.zrem(keys.ALLOWS, number)
        return removed

    async def rebuild_list_indexes(self) -> tuple[int, int]:
        """Fill gw:bans and gw:allows from every caller (one SCAN; for an upgrade from before 0.3)."""
        bans = allows = 0
        batch: list[str] = []

        async def flush() -> None:
            nonlocal bans, allows
            for number, rec in (await self.load_callers(batch)).items():
                if rec.ban is not None:
                    await self.redis.zadd(keys.BANS, {number: rec.ban.until})
                    # Kept until the ban ends (an earlier version kept a banned caller only for the retention).
                    await self.redis.expire(keys.caller(number), self._ban_ttl(rec.ban), gt=True)
                    bans += 1
                if rec.allow is not None:
                    await self.redis.zadd(keys.ALLOWS, {number: rec.allow.set_at})
                    allows += 1
            batch.clear()

        async for number in self.all_callers():
            batch.append(number)
            if len(batch) >= 1000:
                await flush()
        await flush()
        return bans, allows

    async def allowed_numbers(self, limit: int = 1000) -> list[str]:
        """Allowlisted numbers (from the index), newest first."""
        return cast(list[str], await self.redis.zrevrange(keys.ALLOWS, 0, limit - 1))

    async def set_prefix_ban(self, prefix: str, ban: Ban) -> None:
        await self.prefix_bans.put(prefix, ban)

    async def set_prefix_allow(self, prefix: str, allow: Allow) -> None:
        await self.prefix_allows.put(prefix, allow)

    async def clear_prefix(self, kind: str, prefix: str) -> bool:
        return await (self.prefix_bans if kind == "ban" else self.prefix_allows).remove(prefix)

    async def mark_warning_sent(self, number: str, at: float, actor: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping={keys.WARNING_SENT: _fmt(at), keys.WARNING_BY: actor})
            self._touch(pipe, number)
            await pipe.execute()

    # ---- logbook --------------------------------------------------------------------------
    async def incident_owner(self, incident_id: str) -> str | None:
        return cast(str | None, await self.redis.hget(keys.INCIDENT_OWNER, incident_id))

    async def get_incident(self, incident_id: str) -> tuple[str, Incident] | None:
        number = await self.incident_owner(incident_id)
        if number is None:
            return None
        record = await self.load_caller(number)
        for inc in record.incidents:
            if inc.id == incident_id:
                return number, inc
        return None

    async def set_debrief(
        self, number: str, incident: Incident, note: str, at: float, actor: str, answer: str = ""
    ) -> None:
        mapping = debrief_hash(incident.slot, note, at, actor, answer)
        if number == keys.ANONYMOUS:  # its own hash, or (logged before it had one) the shared one
            number = await self.incident_owner(incident.id) or number
        await self.redis.hset(keys.caller(number), mapping=cast(Fields, mapping))

    async def incident_page(self, start: float | str, end: float | str, offset: int, count: int) -> list[str]:
        """Incident ids from newest to oldest between ``end`` and ``start`` (scores), one page of the index."""
        ids = await self.redis.zrevrangebyscore(keys.INCIDENTS_BY_TIME, end, start, start=offset, num=count)
        return cast(list[str], ids)

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
            ties = cast(list[str], await self.redis.zrevrangebyscore(keys.INCIDENTS_BY_TIME, top, top))
            skip = sum(str(i) >= last for i in ties)
        rows = await self.redis.zrevrangebyscore(
            keys.INCIDENTS_BY_TIME, top, start, start=skip, num=count, withscores=True
        )
        return [(str(iid), float(at)) for iid, at in cast(Scored, rows)]

    async def incidents_by_id(self, ids: list[str]) -> list[Incident]:
        """The incidents with these ids (owner index, then one HGETALL per caller), in the order given."""
        owners = await self.owners(ids)
        records = await self.load_callers(n for n in owners.values() if n)
        found = {inc.id: inc for n, rec in records.items() for inc in rec.incidents}
        return [found[i] for i in ids if i in found]

    async def login_failures(self, who: str) -> int:
        return int_or_zero(cast(str | None, await self.redis.get(keys.login_failures(who))))

    async def count_login_failure(self, who: str, window: int) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(keys.login_failures(who))
            pipe.expire(keys.login_failures(who), window)
            count, _ = await pipe.execute()
        return int(count)

    async def clear_login_failures(self, who: str) -> None:
        await self.redis.delete(keys.login_failures(who))

    async def incident_ids(self, since: float | None = None) -> list[tuple[str, float]]:
        rows = await self.redis.zrangebyscore(
            keys.INCIDENTS_BY_TIME, since if since is not None else "-inf", "+inf", withscores=True
        )
        return [(iid, at) for iid, at in cast(Scored, rows)]

    async def owners(self, ids: Iterable[str]) -> dict[str, str | None]:
        ids = list(ids)
        if not ids:
            return {}
        return dict(zip(ids, cast(list[str | None], await self.redis.hmget(keys.INCIDENT_OWNER, ids))))

    async def load_callers(self, numbers: Iterable[str]) -> dict[str, CallerRecord]:
        numbers = list(dict.fromkeys(numbers))
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in numbers:
                pipe.hgetall(keys.caller(n))
            raws = await pipe.execute()
        return {n: parse_caller(n, raw) for n, raw in zip(numbers, raws)}

    async def all_callers(self) -> AsyncIterator[str]:
        """Every caller number with a record (SCAN; for supervisor tools, not the call path)."""
        async for key in self.redis.scan_iter(match=keys.CALLER_SCAN, count=1000):
            yield key[key.index("{") + 1 : key.rindex("}")]

    async def publish_event(self, event: Mapping[str, Any]) -> str:
        entry_id = await self.redis.xadd(
            keys.EVENTS,
            {k: _fmt(v) for k, v in event.items() if v is not None},
            maxlen=keys.EVENTS_MAXLEN,
            approximate=True,
        )
        return cast(str, entry_id)

    async def audit(self, actor: str, action: str, at: float, **details: Any) -> str:
        entry: dict[FieldT, EncodableT] = {"actor": actor, "action": action, "at": _fmt(at)}
        entry.update({k: _fmt(v) for k, v in details.items() if v not in (None, "")})
        return cast(str, await self.redis.xadd(keys.AUDIT, entry))

    async def audit_entries(self, since: float | None = None) -> list[dict[str, str]]:
        start = f"{int(since * 1000)}-0" if since is not None else "-"
        return [dict(fields, id=eid) for eid, fields in cast(Entries, await self.redis.xrange(keys.AUDIT, min=start))]

    async def audit_recent(self, count: int, before: str = "+") -> list[dict[str, str]]:
        """Audit entries newest first, at most ``count``, older than the entry id ``before``."""
        entries = cast(Entries, await self.redis.xrevrange(keys.AUDIT, max=before, count=count))
        return [dict(fields, id=eid) for eid, fields in entries]

    async def read_events(self, last_id: str, block_ms: int, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """Logbook events after ``last_id`` ('$' = from now), waiting up to ``block_ms`` for one."""
        # [[stream, entries], ...]: lists, read as pairs
        got = cast(
            list[tuple[str, Entries]], await self.redis.xread({keys.EVENTS: last_id}, block=block_ms, count=count)
        )
        return [(eid, fields) for _, entries in got for eid, fields in entries]

    async def last_event_id(self) -> str:
        last = cast(Entries, await self.redis.xrevrange(keys.EVENTS, count=1))
        return last[0][0] if last else "0-0"

    # ---- retention and erasure ------------------------------------------------------------
    async def forget(self, number: str, timeout: float = 30.0) -> int:
        """Erase every record of a caller (``erase_caller``), then from Redis's files on disk
        (``rewrite_persistence``, ``TimeoutError`` after ``timeout`` s: the records are gone by then)."""
        removed = await self.erase_caller(number)
        await self.rewrite_persistence(timeout)
        return removed

    async def erase_caller(self, number: str) -> int:
        """Erase every record of a caller from Redis's memory: their hash, index entries, callback
        appointments, events and audit entries. Returns how many records were removed."""
        record = await self.load_caller(number)
        removed = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.caller(number))
            pipe.zrem(keys.BANS, number)
            pipe.zrem(keys.ALLOWS, number)
            for inc in record.incidents:
                pipe.zrem(keys.INCIDENTS_BY_TIME, inc.id)
                pipe.hdel(keys.INCIDENT_OWNER, inc.id)
            results = await pipe.execute()
        removed += int(results[0])
        # Index entries whose hash had already expired still name the number.
        owners = cast(Hash, await self.redis.hgetall(keys.INCIDENT_OWNER))
        stale = [iid for iid, owner in owners.items() if owner == number]
        if stale:
            await self.redis.zrem(keys.INCIDENTS_BY_TIME, *stale)
            await self.redis.hdel(keys.INCIDENT_OWNER, *stale)
        removed += await self._drop_callbacks(lambda a: a.caller != number)
        removed += await self._forget_in_stream(keys.EVENTS, number)
        removed += await self._forget_in_stream(keys.AUDIT, number)
        # So that no copy of an incident still on its way (the service's journal) brings it back.
        await self.redis.zadd(keys.FORGOTTEN, {_digest(number): time.time()})
        return removed  # the AOF and RDB files still hold the number until rewrite_persistence

    async def rewrite_persistence(self, timeout: float = 30.0) -> list[str]:
        """Have Redis rewrite its files so erased data leaves the disk too; returns what was rewritten.

        Without this the AOF keeps every command that ever wrote the number until Redis
        rewrites it on its own (by default only once it has grown to 64 MB). An RDB file is
        replaced by a fresh snapshot. Waits (up to ``timeout``) until Redis reports both done.
        """
        done: list[str] = []
        deadline = asyncio.get_running_loop().time() + timeout
        for node in await self._nodes():  # every primary of a Cluster
            info = await self.redis.info("persistence", **node)
            if info.get("aof_enabled"):
                await self._wait_idle("aof_rewrite_in_progress", deadline, node)  # one begun before the erasure
                await self.redis.bgrewriteaof(**node)
                done.append("aof")
            try:
                save = (await self.redis.config_get("save", **node)).get("save", "")
            except ResponseError:
                save = ""
            if save or info.get("rdb_saves"):  # a snapshot on disk (never make one where there was none)
                await self._wait_idle("rdb_bgsave_in_progress", deadline, node)
                await self.redis.execute_command("BGSAVE", "SCHEDULE", **node)
                done.append("rdb")
        for node in await self._nodes():
            for flag in ("aof_rewrite_scheduled", "aof_rewrite_in_progress", "rdb_bgsave_in_progress"):
                await self._wait_idle(flag, deadline, node)
        return sorted(set(done))

    async def _wait_idle(self, flag: str, deadline: float, node: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        while (await self.redis.info("persistence", **node)).get(flag):
            if loop.time() > deadline:
                raise TimeoutError(f"Redis still busy ({flag}) after the erasure")
            await asyncio.sleep(0.05)

    async def _forget_in_stream(self, stream: str, number: str) -> int:
        doomed: list[str] = []
        last = "-"
        while True:
            batch = cast(Entries, await self.redis.xrange(stream, min=last, count=1000))
            if not batch:
                break
            for eid, data in batch:
                if number in data.values():
                    doomed.append(eid)
            if len(batch) < 1000:
                break
            last = "(" + batch[-1][0]
        if doomed:
            await self.redis.xdel(stream, *doomed)
        return len(doomed)

    async def move_withheld_incidents(self, batch: int = 500) -> int:
        """Move incidents of withheld callers out of the hash they all shared (``gw:c:{anonymous}``,
        before each key press of a withheld caller had a hash of its own), each into its own,
        with the logbook's owner entry; ban, allowlist and warning fields stay. Safe to repeat
        and to run in several processes at once: an interrupted move is completed by the next."""
        shared = keys.caller(keys.ANONYMOUS)
        raw = cast(Hash, await self.redis.hgetall(shared))
        incidents = parse_caller(keys.ANONYMOUS, raw).incidents
        for start in range(0, len(incidents), batch):
            chunk = incidents[start : start + batch]
            async with self.redis.pipeline(transaction=False) as pipe:
                for inc in chunk:
                    own = {f"1.{x}": raw[f"{inc.slot}.{x}"] for x in NAME_OF if f"{inc.slot}.{x}" in raw}
                    pipe.hset(keys.caller(_home(inc)), mapping=cast(Fields, {keys.NEXT_INDEX: "1", **own}))
                    pipe.expire(keys.caller(_home(inc)), self.retention)
                    pipe.hset(keys.INCIDENT_OWNER, inc.id, _home(inc))
                await pipe.execute()
            # Only once each is in its own hash and the index names it there.
            await self.redis.hdel(shared, *(name for i in chunk for name in incident_field_names(i.slot)))
        if incidents:
            log.info("withheld-incidents-moved", incidents=len(incidents))
        return len(incidents)

    async def purge(self, now: float) -> int:
        """Drop incidents older than retention, with their index entries. Returns how many."""
        await self.move_withheld_incidents()  # once, after an upgrade; then a read of a small hash
        await self.redis.zremrangebyscore(keys.FORGOTTEN, "-inf", now - 90 * keys.DAY)  # past any journal's keep
        cutoff = now - self.retention
        # Appointments: a finished one is kept for the retention after its last change.
        await self._drop_callbacks(lambda a: a.status in ("scheduled", "calling") or (a.updated or now) > cutoff)
        old = cast(list[str], await self.redis.zrangebyscore(keys.INCIDENTS_BY_TIME, "-inf", cutoff))
        if not old:
            return 0
        owners = await self.owners(old)
        records = await self.load_callers(n for n in owners.values() if n)
        slots = {inc.id: (number, inc.slot) for number, rec in records.items() for inc in rec.incidents}
        async with self.redis.pipeline(transaction=False) as pipe:
            for iid in owners:
                if iid in slots:
                    number, slot = slots[iid]
                    pipe.hdel(keys.caller(number), *incident_field_names(slot))
                pipe.zrem(keys.INCIDENTS_BY_TIME, iid)
                pipe.hdel(keys.INCIDENT_OWNER, iid)
            await pipe.execute()
        return len(old)


def incident_dict(number: str, inc: Incident) -> dict[str, Any]:
    """The incident as exports and ``--json`` show it (see redis_schema.records.incident_row)."""
    return incident_row(inc, keys.shown_number(number))
