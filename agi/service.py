"""The long-running service, and its composition root.

``build`` makes every part once and hands each its dependencies through its constructor;
``Service`` runs the FastAGI server and the supervised background jobs (agi.supervisor).
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from typing import Callable

import structlog
from redis.exceptions import RedisError

from agi.aftercare import cooldown
from agi.aftercare.journal import Journal
from agi.ami.client import AmiClient, AmiError
from agi.config import Config
from agi.deps import Deps
from agi.fastagi.server import FastAgiServer
from agi.incidents import Logbook
from agi.routes import ROUTES
from agi.supervisor import Jobs, Outage
from redis_schema.store import Store, connect

log = structlog.get_logger("grenswacht.service")

PREFIX_REFRESH_SECONDS = 5.0
PURGE_EVERY_SECONDS = 3600.0
COOLDOWN_CHECK_SECONDS = 1.0
STOP_PHASE_SECONDS = 5.0
START_CHECK_SECONDS = 2.0


def build_store(config: Config) -> Store:
    redis = connect(config.redis.url, password=config.redis.password,
                    max_connections=config.redis.max_connections, pool_timeout=config.redis.pool_timeout)
    return Store(redis, retention_days=config.storage.retention_days)


def build_ami(config: Config) -> AmiClient | None:
    if not config.ami.secret:
        return None
    host, port = config.ami.host_port
    return AmiClient(host, port, config.ami.username, config.ami.secret, reconnect_max=config.ami.reconnect_max_seconds)


def build(config: Config, *, clock: Callable[[], float] = time.time) -> Deps:
    """The composition root: every part of the service, wired once."""
    store = build_store(config)
    ami = build_ami(config)
    logbook = Logbook(config, store, Journal(config.storage.journal_path), ami, clock)
    return Deps(config=config, store=store, logbook=logbook, ami=ami, clock=clock)


async def refresh_prefixes(deps: Deps) -> None:
    outage = Outage(log, "prefix-refresh")
    while True:
        try:
            deps.prefixes.replace(*await deps.store.load_prefixes())
            outage.ok()
        except (RedisError, OSError) as exc:
            outage.failed(exc)
        await asyncio.sleep(PREFIX_REFRESH_SECONDS)


async def purge_loop(deps: Deps) -> None:
    outage = Outage(log, "retention-purge")
    while True:
        try:
            dropped = await deps.store.purge(deps.clock())
            outage.ok()
            if dropped:
                log.info("retention-purge", incidents=dropped)
        except (RedisError, OSError) as exc:
            outage.failed(exc)
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def end_cooldowns(store: Store, ami: AmiClient, clock: Callable[[], float]) -> None:
    """Ends due cool-downs, waiting while AMI or Redis is away (claims keep it to one instance)."""
    token = secrets.token_hex(6)
    outage = Outage(log, "cooldown-check")
    while True:
        if ami.connected:
            try:
                await cooldown.end_due(store, ami, clock(), token)
                outage.ok()
            except (AmiError, RedisError, OSError, TimeoutError) as exc:
                outage.failed(exc)
        await asyncio.sleep(COOLDOWN_CHECK_SECONDS)


class Service:
    """Owns the server and its background jobs; ``run`` until a signal, or ``start``/``stop`` in tests."""

    def __init__(self, config: Config, deps: Deps | None = None):
        self.config = config
        self.deps = deps or build(config)
        self.server = FastAgiServer(ROUTES, self.deps, config.agi)
        self.jobs = Jobs()
        self.address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        deps = self.deps
        loaded = deps.logbook.journal.load()
        if loaded:
            log.info("journal-loaded", entries=loaded, path=str(deps.logbook.journal.path))
        try:
            async with asyncio.timeout(START_CHECK_SECONDS):
                await deps.logbook.check_durability()
                await cooldown.migrate(deps.store, deps.clock())
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis-not-reachable-at-start", error=type(exc).__name__)
        if deps.ami is not None:
            await deps.ami.connect()
            self.jobs.start("cooldowns", lambda: end_cooldowns(deps.store, deps.ami, deps.clock))
        else:
            log.warning("ami-not-configured", hint="set GRENSWACHT_AMI_SECRET to enable cool-down pauses and UserEvents")
        self.jobs.start("prefixes", lambda: refresh_prefixes(deps))
        self.jobs.start("purge", lambda: purge_loop(deps))
        self.jobs.start("counters", lambda: deps.counters.run(deps.store))
        self.jobs.start("aftercare", deps.logbook.run)
        self.jobs.start("webhooks", deps.logbook.run_webhooks)
        self.address = await self.server.start(*self.config.agi.host_port)
        return self.address

    async def stop(self) -> None:
        """Stop serving and close everything; each phase is bounded so a stop never hangs."""
        phases = [("server", self.server.stop), ("jobs", self.jobs.stop), ("background", self.deps.drain)]
        if self.deps.ami is not None:
            phases.append(("ami", self.deps.ami.close))
        phases.append(("store", self.deps.store.close))
        for name, step in phases:
            try:
                await asyncio.wait_for(step(), STOP_PHASE_SECONDS)
            except TimeoutError:
                log.error("stop-phase-timeout", phase=name, seconds=STOP_PHASE_SECONDS)
            except Exception:
                log.exception("stop-phase-failed", phase=name)

    async def run(self) -> None:
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("grenswacht-started", listen=self.config.agi.listen)
        await stop.wait()
        log.info("grenswacht-stopping")
        await self.stop()
