"""The Redis connection: how Grenswacht connects (standalone, Sentinel, Cluster) and what the
server says about itself (version, restarts, deployment, persistence), for ``grenswacht check``,
the metrics and the journal's replay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedSSLConnection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

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


def lua(name: str) -> str:
    """The text of one of the Lua scripts in redis_schema/lua."""
    return resources.files("redis_schema").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


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


class Server:
    """What the Redis deployment says about itself; ``store.server``."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis
        self.cluster = isinstance(redis, RedisCluster)

    async def nodes(self) -> list[dict[str, Any]]:
        """Keyword arguments that send a server-wide command to each server holding data: the one
        server, or every primary of a Cluster (a Sentinel client talks to the primary only)."""
        if not isinstance(self._redis, RedisCluster):
            return [{}]
        await self._redis.initialize()  # the slots map, read on first use
        return [{"target_nodes": node} for node in self._redis.get_primaries()]

    async def durability(self) -> Durability:
        """What Redis's persistence settings mean for an acknowledged incident (a Cluster: its
        weakest primary; ``waitaof`` counts as not durable there, see add_incident_on_disk)."""
        found: list[Durability] = []
        for node in await self.nodes():
            server = await self._redis.info("server", **node)
            persistence = await self._redis.info("persistence", **node)
            try:
                appendfsync = (await self._redis.config_get("appendfsync", **node)).get("appendfsync")
                save = (await self._redis.config_get("save", **node)).get("save", "")
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
        await self._redis.ping()

    async def topology(self) -> str:
        """How Redis is deployed, for `grenswacht check`: standalone, sentinel or cluster."""
        if isinstance(self._redis, RedisCluster):
            return f"cluster, {len(await self.nodes())} primaries"
        pool = self._redis.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            host, port = await pool.get_master_address()  # type: ignore[no-untyped-call]  # redis-py: unannotated
            return f"sentinel, {pool.service_name} on {host}:{port}"
        return "standalone"

    async def server_version(self) -> str:
        return str((await self._redis.info("server")).get("redis_version", ""))

    async def run_id(self) -> str:
        """Changes whenever Redis restarts (a Cluster: any primary, or a failover promotes a replica):
        a restart without persistence loses what it held."""
        ids = [str((await self._redis.info("server", **node)).get("run_id", "")) for node in await self.nodes()]
        return ",".join(sorted(ids))

    async def close(self) -> None:
        """Close the client's connections, and those to the sentinels."""
        await self._redis.aclose()
        pool = getattr(self._redis, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()
