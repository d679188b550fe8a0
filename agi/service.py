"""The long-running service, and its composition root.

``build`` makes every part once and hands each its dependencies through its constructor;
``Service`` runs the FastAGI server and the supervised background jobs (agi.supervisor).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import signal
import socket
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from agi import logs, metrics, reload
from agi.aftercare import cooldown
from agi.aftercare.journal import Journal
from agi.ami.client import AmiClient, AmiError
from agi.callbacks.placer import Placer
from agi.callbacks.rules import Rules
from agi.config import Config, split_host_port
from agi.deps import Deps
from agi.fastagi.server import FastAgiServer
from agi.incidents import Logbook
from agi.logs import get_logger
from agi.routes import ROUTES
from agi.supervisor import Jobs, Outage
from redis_schema.fastread import CallerReader
from redis_schema.store import Store, connect

log = get_logger("grenswacht.service")

PREFIX_REFRESH_SECONDS = 5.0
PURGE_EVERY_SECONDS = 3600.0
COOLDOWN_CHECK_SECONDS = 1.0
STOP_PHASE_SECONDS = 5.0
START_CHECK_SECONDS = 2.0
# Middle-generation collections per full one (CPython's default is 10); see run().
FULL_COLLECTION_EVERY = 100


def build_store(config: Config) -> Store:
    r = config.redis
    pool = r.max_connections
    if r.mode == "cluster":
        # redis-py's cluster pool per node cannot wait for a free connection: it fails at once when
        # full. Size it for every call the FastAGI server admits, plus the background jobs.
        pool = max(pool, config.agi.max_connections + 64)
    redis = connect(
        r.url,
        password=r.password,
        max_connections=pool,
        pool_timeout=r.pool_timeout,
        mode=r.mode,
        sentinels=[split_host_port(s) for s in r.sentinels],
        service_name=r.service_name,
        nodes=[split_host_port(n) for n in r.nodes],
    )
    # The screening read bypasses redis-py on a standalone Redis (it connects on first use);
    # Sentinel and Cluster keep redis-py, which follows failovers and slots.
    reader = CallerReader.from_url(r.url, password=r.password) if r.mode == "standalone" else None
    return Store(redis, retention_days=config.storage.retention_days, reader=reader)


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

    def __init__(
        self,
        config: Config,
        deps: Deps | None = None,
        *,
        sock: socket.socket | None = None,
        config_path: str | None = None,
    ):
        self.config = config
        self.config_path = config_path  # re-read on SIGHUP (default: $GRENSWACHT_CONFIG)
        self.sock = sock  # a listening socket inherited from agi.workers, or None to bind [agi] listen
        self.deps = deps or build(config)
        self.server = FastAgiServer(metrics.counted(ROUTES), self.deps, config.agi, metrics.peer_failure)
        self.jobs = Jobs()
        self.placer: Placer | None = None
        self.http: asyncio.Server | None = None  # /metrics, /healthz, /readyz (agi.metrics)
        self.address: tuple[str, int] | None = None
        self._reload_pending = False

    async def start(self) -> tuple[str, int]:
        deps = self.deps
        loaded = deps.logbook.journal.load()
        if loaded:
            log.info("journal-loaded", entries=loaded, path=str(deps.logbook.journal.path))
        # Serve first: a call that arrives while Redis or AMI is slow to answer at start is
        # screened (fail-open within its budget) instead of waiting in the listen backlog.
        self.address = await self.server.start(*self.config.agi.host_port, sock=self.sock)
        try:
            async with asyncio.timeout(START_CHECK_SECONDS):
                await deps.logbook.check_durability()
                await cooldown.migrate(deps.store, deps.clock())
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis-not-reachable-at-start", error=type(exc).__name__)
        if deps.ami is not None:
            await deps.ami.connect()
            self.jobs.start("cooldowns", lambda: end_cooldowns(deps.store, deps.ami, deps.clock))
            self.placer = placer = Placer(self.config, deps.store, deps.ami, deps.logbook, deps.clock)
            self.jobs.start("callbacks", placer.run)
        else:
            log.warning(
                "ami-not-configured", hint="set GRENSWACHT_AMI_SECRET to enable cool-down pauses and UserEvents"
            )
        self.jobs.start("prefixes", lambda: refresh_prefixes(deps))
        self.jobs.start("purge", lambda: purge_loop(deps))
        self.jobs.start("counters", lambda: deps.counters.run(deps.store))
        self.jobs.start("aftercare", deps.logbook.run)
        self.jobs.start("webhooks", deps.logbook.run_webhooks)
        self.http = await metrics.start(self.config, deps, self.server, self.jobs)
        return self.address

    def reload(self) -> bool:
        """SIGHUP: take over the hot sections of the re-read file (agi.reload); False when it is refused."""
        result = reload.reread(reload.config_path(self.config_path), self.config)
        if result is None:
            return False
        self.config = self.deps.config = self.deps.logbook.config = result.config
        if "numbers" in result.changed:  # the log masker follows [numbers] too
            logs.configure(mask=result.config.numbers.mask_in_logs, region=result.config.numbers.default_region)
        if self.placer is not None:
            self.placer.config, self.placer.rules = result.config, Rules.from_config(result.config.callbacks)
        return True

    async def stop(self) -> None:
        """Stop serving and close everything; each phase is bounded so a stop never hangs."""
        phases = [
            ("metrics", lambda: metrics.stop_http(self.http)),
            ("server", self.server.stop),
            ("jobs", self.jobs.stop),
            ("background", self.deps.drain),
        ]
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

    def _on_hup(self) -> None:
        """A burst of SIGHUPs is one reload, run from the loop (never once per signal)."""
        if not self._reload_pending:
            self._reload_pending = True
            asyncio.get_running_loop().call_soon(self._reload_once)

    def _reload_once(self) -> None:
        self._reload_pending = False
        self.reload()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)  # before start: a SIGHUP never ends the service
        await self.start()
        # What start-up built (modules, configuration, number metadata) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it (28 ms
        # each under load, measured with gc.callbacks), which shows as a latency spike.
        gc.collect()
        gc.freeze()
        # CPython holds a full collection back until the objects promoted since the last one
        # are a quarter of those it found then. With the start-up heap frozen that base is small,
        # so under churn (a connection storm: thousands of open sockets) a full collection came
        # with every 10th middle one, 25-55 ms each: the longest calls (docs/benchmarks.md).
        # Rarer full collections leave reference cycles, which this service rarely makes, a
        # while longer. (Python 3.11-3.13; the incremental collector of 3.14 has no such rule.)
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
        running = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        if running != self.config.agi.loop:
            log.warning("event-loop-unavailable", wanted=self.config.agi.loop, running=running)
        log.info("grenswacht-started", listen=self.config.agi.listen, loop=running)
        reload.notify("READY=1")
        await stop.wait()
        log.info("grenswacht-stopping")
        if self.sock is None:  # a worker's stop is not the service's (agi.workers)
            reload.notify("STOPPING=1")
        await self.stop()
