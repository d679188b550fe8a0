"""The long-running service: FastAGI server plus the background jobs of the after-care path."""

from __future__ import annotations

import asyncio
import signal

import structlog
from redis.exceptions import RedisError

from agi.config import Config
from agi.deps import Deps
from agi.fastagi.server import FastAgiServer
from agi.routes import ROUTES
from redis_schema.store import Store, connect

log = structlog.get_logger("grenswacht.service")

PREFIX_REFRESH_SECONDS = 5.0
PURGE_EVERY_SECONDS = 3600.0
STOP_PHASE_SECONDS = 5.0


def build_store(config: Config) -> Store:
    redis = connect(config.redis.url, password=config.redis.password,
                    max_connections=config.redis.max_connections, pool_timeout=config.redis.pool_timeout)
    return Store(redis, retention_days=config.storage.retention_days)


async def refresh_prefixes(deps: Deps) -> None:
    while True:
        try:
            deps.prefixes.replace(*await deps.store.load_prefixes())
        except (RedisError, OSError) as exc:
            log.warning("prefix-refresh-failed", error=type(exc).__name__)
        await asyncio.sleep(PREFIX_REFRESH_SECONDS)


async def purge_loop(deps: Deps) -> None:
    while True:
        try:
            dropped = await deps.store.purge(deps.clock())
            if dropped:
                log.info("retention-purge", incidents=dropped)
        except (RedisError, OSError) as exc:
            log.warning("retention-purge-failed", error=type(exc).__name__)
        await asyncio.sleep(PURGE_EVERY_SECONDS)


class Service:
    """Owns the server and its background tasks; ``run`` until a signal, or ``start``/``stop`` in tests."""

    def __init__(self, config: Config, deps: Deps | None = None):
        self.config = config
        self.deps = deps or Deps(config=config, store=build_store(config))
        agi = config.agi
        self.server = FastAgiServer(ROUTES, self.deps, max_header_bytes=agi.max_header_bytes,
                                    header_timeout=agi.header_timeout, command_timeout=agi.command_timeout,
                                    max_connections=agi.max_connections)
        self._jobs: list[asyncio.Task] = []
        self.address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        self._jobs.append(asyncio.create_task(refresh_prefixes(self.deps), name="prefixes"))
        self._jobs.append(asyncio.create_task(purge_loop(self.deps), name="purge"))
        self._jobs.append(asyncio.create_task(self.deps.counters.run(self.deps.store), name="counters"))
        for job in self._extra_jobs():
            self._jobs.append(asyncio.create_task(job))
        self.address = await self.server.start(*self.config.agi.host_port)
        return self.address

    def _extra_jobs(self):
        from agi.aftercare import jobs  # after-care: AMI, cool-down, journal replay
        return jobs.start(self.deps)

    async def stop(self) -> None:
        """Stop serving and close everything; each phase is bounded so a stop never hangs."""
        for job in self._jobs:
            job.cancel()
        phases = [("server", self.server.stop()),
                  ("jobs", asyncio.gather(*self._jobs, return_exceptions=True)),
                  ("background", self.deps.drain())]
        if self.deps.ami is not None:
            phases.append(("ami", self.deps.ami.close()))
        phases.append(("store", self.deps.store.close()))
        for name, step in phases:
            try:
                await asyncio.wait_for(step, STOP_PHASE_SECONDS)
            except TimeoutError:
                log.error("stop-phase-timeout", phase=name, seconds=STOP_PHASE_SECONDS)

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
