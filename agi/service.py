"""The long-running service: the FastAGI server and its supervised background jobs.

agi.wiring makes every part (the composition root); ``Service`` starts, reloads and stops them:
``run`` until a signal, or ``start``/``stop`` in tests.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from agi import logs, metrics, reload, wiring
from agi.aftercare import cooldown
from agi.config import Config
from agi.deps import Deps
from agi.logs import get_logger
from agi.supervisor import Jobs

log = get_logger("grenswacht.service")

STOP_PHASE_SECONDS = 5.0
START_CHECK_SECONDS = 2.0
# Middle-generation collections per full one (CPython's default is 10); see run().
FULL_COLLECTION_EVERY = 100


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
        self.config_path = config_path  # re-read on SIGHUP (default: $GRENSWACHT_CONFIG)
        self.sock = sock  # a listening socket inherited from agi.workers, or None to bind [agi] listen
        parts = wiring.assemble(deps or wiring.build(config))
        self.deps, self.server, self.placer, self._job_list = parts.deps, parts.server, parts.placer, parts.jobs
        self.jobs = Jobs()
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
        else:
            log.warning(
                "ami-not-configured", hint="set GRENSWACHT_AMI_SECRET to enable cool-down pauses and UserEvents"
            )
        # [recordings] on with a folder it cannot use: one line; calls go on, unrecorded (docs/recordings.md).
        await asyncio.to_thread(deps.recording_folder.assess, self.config.recordings)
        for job in self._job_list:
            self.jobs.start(job.name, job.run)
        self.http = await metrics.start_http(self.config, metrics.service_ready(deps))
        return self.address

    @property
    def config(self) -> Config:
        """The running configuration (the one holder every part reads, agi.config_holder)."""
        return self.deps.config

    def reload(self) -> bool:
        """SIGHUP: take over the hot sections of the re-read file (agi.reload); False when it is refused."""
        result = reload.reread(reload.config_path(self.config_path), self.config)
        if result is None:
            return False
        self.deps.settings.swap(result.config)  # routes, logbook and placer read it from here on
        if "numbers" in result.changed:  # the log masker follows [numbers] too
            logs.configure(mask=result.config.numbers.mask_in_logs, region=result.config.numbers.default_region)
        return True

    async def stop(self) -> None:
        """Stop serving and close everything; each phase is bounded so a stop never hangs."""
        phases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
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
