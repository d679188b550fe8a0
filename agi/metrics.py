"""Prometheus metrics, and the HTTP endpoints ``/metrics``, ``/healthz`` and ``/readyz``.

The endpoints listen on ``[metrics] listen`` (e.g. ``127.0.0.1:9464``; empty disables them).

- **One process** (``[agi] workers = 1``): the sampler is one of the service's jobs (agi.wiring)
  and ``Service.start`` calls :func:`start_http`, which serves in the service's event loop;
  ``/readyz`` asks the live store and AMI client.
- **Worker processes** (``PROMETHEUS_MULTIPROC_DIR`` set by agi.workers before the workers start):
  every worker runs the sampler, which writes its values to that folder, and no HTTP server; the
  parent serves them all through :func:`parent_http` (``MultiProcessCollector``). Counters and the
  histogram add up over the workers; each gauge says how it combines (``multiprocess_mode``).

Per call there is one :func:`screened` (a counter and a histogram observation); everything else is
read by the sampler once a second (in-process state) or every ``STORE_SAMPLE_EVERY`` seconds (counts
kept in Redis), so a scrape never waits on Redis and adds no work to a call.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from redis.exceptions import RedisError

from agi.callbacks.appointments import load_all
from agi.callbacks.model import FAILED, SCHEDULED, Appointment
from agi.config import Config, split_host_port
from agi.deps import Deps
from agi.fastagi.server import AgiSession, FastAgiServer, Route
from agi.logs import get_logger
from agi.supervisor import reraise_cancel
from redis_schema.store import Store

log = get_logger("grenswacht.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_EVERY = 1.0
STORE_SAMPLE_EVERY = 15.0
STORE_SAMPLE_TIMEOUT = 2.0
MAX_REQUEST_BYTES = 4096  # request line and headers of one HTTP request
REQUEST_TIMEOUT = 5.0  # to send that request
READY_TIMEOUT = 3.0  # the readiness probe as a whole
MAX_CLIENTS = 16  # HTTP requests served at once; more are closed at once

Ready = Callable[[], Awaitable[tuple[bool, str]]]

# ---- the metrics ----------------------------------------------------------------------------
SCREENINGS = Counter("grenswacht_screenings", "Screenings answered, by action and reason.", ["action", "reason"])
SCREEN_SECONDS = Histogram(
    "grenswacht_screening_seconds",
    "Time from a screening request to its answer.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FAIL_OPENS = Counter(
    "grenswacht_fail_opens",
    "Requests answered by the route's fail-open fallback, or screenings "
    "let through because the store did not answer in time, by route and reason.",
    ["route", "reason"],
)
STORE_ERRORS = Counter(
    "grenswacht_store_errors", "Store reads that failed or ran out of their budget, by operation.", ["operation"]
)
AGI_PEER_FAILURES = Counter(
    "grenswacht_agi_peer_failures",
    "FastAGI connections and requests that ended in a "
    "peer failure, by reason (the log line's event without 'fastagi-'), all of them counted "
    "while their log lines are rate-limited.",
    ["reason"],
)
SLOTS_IN_USE = Gauge(
    "grenswacht_agi_slots_in_use", "FastAGI requests holding a connection slot now.", multiprocess_mode="livesum"
)
SLOTS = Gauge(
    "grenswacht_agi_slots",
    "FastAGI connection slots ([agi] max_connections, summed over workers).",
    multiprocess_mode="livesum",
)
JOURNAL_DEPTH = Gauge(
    "grenswacht_journal_entries", "Incidents in the write-ahead journal, not yet settled.", multiprocess_mode="livesum"
)
AMI_CONNECTED = Gauge(
    "grenswacht_ami_connected",
    "1 when logged in to AMI (every worker), 0 when not or not configured.",
    multiprocess_mode="livemin",
)
COOLDOWNS = Gauge("grenswacht_cooldowns_active", "Agents paused for a cool-down now.", multiprocess_mode="livemax")
CALLBACKS_DUE = Gauge(
    "grenswacht_callbacks_due",
    "Callback appointments whose time has come and that are not being placed yet.",
    multiprocess_mode="livemax",
)
CALLBACKS_FAILED = Gauge(
    "grenswacht_callbacks_failed",
    "Callback appointments that ended failed and are still kept.",
    multiprocess_mode="livemax",
)
STORE_SAMPLE_AGE = Gauge(
    "grenswacht_store_sample_timestamp_seconds",
    "When the store-based gauges (cool-downs, callbacks) were last read.",
    multiprocess_mode="livemax",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def screened(action: str, reason: str, seconds: float) -> None:
    """One screening answered (the one per-call hook)."""
    child = _SCREENING_CHILDREN.get((action, reason))
    if child is None:
        child = _SCREENING_CHILDREN[(action, reason)] = SCREENINGS.labels(action, reason)
    child.inc()
    SCREEN_SECONDS.observe(seconds)
    if reason == "store-unavailable":
        FAIL_OPENS.labels("screen", reason).inc()
        STORE_ERRORS.labels("screen").inc()


# The labelled children of SCREENINGS by (action, reason): a few, looked up once each.
_SCREENING_CHILDREN: dict[tuple[str, str], Counter] = {}


def peer_failure(event: str) -> None:
    """A FastAGI peer failure (the server's ``on_peer_failure`` hook): ``fastagi-timeout`` is
    counted as reason ``timeout``."""
    child = _PEER_FAILURE_CHILDREN.get(event)
    if child is None:
        child = _PEER_FAILURE_CHILDREN[event] = AGI_PEER_FAILURES.labels(event.removeprefix("fastagi-"))
    child.inc()


_PEER_FAILURE_CHILDREN: dict[str, Counter] = {}


@dataclass(frozen=True)
class _CountedRoute:
    """A route whose fail-open fallback is counted; ``handle`` is the route's own."""

    name: str
    route: Route[Deps]

    @property
    def handle(self) -> Callable[[AgiSession, Deps], Coroutine[Any, Any, None]]:
        return self.route.handle  # the route's own: no extra frame per request

    async def fallback(self, session: AgiSession, deps: Deps, reason: str) -> None:
        FAIL_OPENS.labels(self.name, reason).inc()
        await self.route.fallback(session, deps, reason)


def counted(routes: Mapping[str, Route[Deps]]) -> dict[str, Route[Deps]]:
    """The route table with every fallback counted in ``grenswacht_fail_opens``."""
    return {name: _CountedRoute(name, route) for name, route in routes.items()}


# ---- the sampler ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreCounts:
    cooldowns: int
    callbacks_due: int
    callbacks_failed: int


def callback_counts(appointments: Iterable[Appointment], now: float) -> tuple[int, int]:
    """(due, failed) among parsed appointments: pure."""
    due = sum(1 for a in appointments if a.status == SCHEDULED and a.due <= now)
    return due, sum(1 for a in appointments if a.status == FAILED)


async def store_counts(deps: Deps) -> StoreCounts:
    due, failed = callback_counts(await load_all(deps.store), deps.clock())
    return StoreCounts(len(await deps.store.cooldowns.all()), due, failed)


def sample_local(deps: Deps, server: FastAgiServer[Deps]) -> None:
    SLOTS.set(server.settings.max_connections)
    SLOTS_IN_USE.set(server.slots_in_use)
    JOURNAL_DEPTH.set(deps.logbook.journal.pending())
    AMI_CONNECTED.set(1 if deps.ami is not None and deps.ami.connected else 0)


async def sample_store(deps: Deps) -> None:
    try:
        async with asyncio.timeout(STORE_SAMPLE_TIMEOUT):
            counts = await store_counts(deps)
    except (RedisError, OSError, TimeoutError):
        reraise_cancel()
        STORE_ERRORS.labels("metrics-sample").inc()
        return
    COOLDOWNS.set(counts.cooldowns)
    CALLBACKS_DUE.set(counts.callbacks_due)
    CALLBACKS_FAILED.set(counts.callbacks_failed)
    STORE_SAMPLE_AGE.set(time.time())


async def sampler(deps: Deps, server: FastAgiServer[Deps]) -> None:
    """Mirror the service's state into the gauges: a background job (agi.supervisor)."""
    last_store = float("-inf")
    while True:
        reraise_cancel()
        sample_local(deps, server)
        if time.monotonic() - last_store >= STORE_SAMPLE_EVERY:
            last_store = time.monotonic()
            await sample_store(deps)
        await asyncio.sleep(SAMPLE_EVERY)


# ---- readiness ----------------------------------------------------------------------------------
def readiness(store_error: str | None, ami_configured: bool, ami_connected: bool, budget_ms: int) -> tuple[bool, str]:
    """Ready means: the store answered within the budget, and AMI is logged in when configured (pure)."""
    if store_error is not None:
        return False, f"not ready: the store did not answer within {budget_ms} ms ({store_error})"
    if ami_configured and not ami_connected:
        return False, "not ready: not logged in to AMI"
    return True, "ready: the store answers" + ("; AMI logged in" if ami_configured else "; AMI not configured")


async def store_answer(ping: Callable[[], Awaitable[object]], budget_ms: int) -> str | None:
    """None when ``ping`` answered within the budget, else the name of what went wrong."""
    try:
        async with asyncio.timeout(budget_ms / 1000):
            await ping()
        return None
    except (RedisError, OSError, TimeoutError) as exc:
        reraise_cancel()
        STORE_ERRORS.labels("ready-probe").inc()
        return type(exc).__name__


def service_ready(deps: Deps) -> Ready:
    async def ready() -> tuple[bool, str]:
        budget = deps.config.agi.screen_budget_ms
        error = await store_answer(deps.store.server.ping, budget)
        return readiness(error, deps.ami is not None, deps.ami is not None and deps.ami.connected, budget)

    return ready


# ---- HTTP ---------------------------------------------------------------------------------------
def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8", head: bool = False) -> bytes:
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Connection: close",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + (b"" if head else body)


async def answer(method: str, path: str, ready: Ready, registry: CollectorRegistry) -> bytes:
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", b"only GET and HEAD\n")
    head = method == "HEAD"
    path = path.split("?", 1)[0]
    if path == "/metrics":
        return _response("200 OK", exposition(registry), CONTENT_TYPE_LATEST, head)
    if path == "/healthz":
        return _response("200 OK", b"alive\n", head=head)
    if path == "/readyz":
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                ok, text = await ready()
        except TimeoutError:
            ok, text = False, f"not ready: the readiness probe took longer than {READY_TIMEOUT:g} s"
        return _response("200 OK" if ok else "503 Service Unavailable", (text + "\n").encode(), head=head)
    return _response("404 Not Found", b"try /metrics, /healthz or /readyz\n", head=head)


async def serve_http(listen: str, ready: Ready, registry: CollectorRegistry | None = None) -> asyncio.Server:
    """Serve /metrics, /healthz and /readyz on ``listen`` (HOST:PORT) until the server is closed.

    ``registry`` defaults to this process's metrics, or to every worker's with PROMETHEUS_MULTIPROC_DIR.
    """
    if registry is None:
        registry = REGISTRY
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
    busy = asyncio.Semaphore(MAX_CLIENTS)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if busy.locked():
            writer.close()
            return
        async with busy:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
                parts = head.split(b"\r\n", 1)[0].decode("ascii", "replace").split()
                if len(parts) != 3:
                    writer.write(_response("400 Bad Request", b"bad request line\n"))
                else:
                    writer.write(await answer(parts[0], parts[1], ready, registry))
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await writer.drain()
            except asyncio.CancelledError:
                raise
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError, OSError):
                pass  # a client that went away, was too slow or sent too much: just close
            except Exception:
                log.exception("metrics-http-failed")
            finally:
                writer.close()

    host, port = split_host_port(listen)
    server = await asyncio.start_server(on_client, host, port, limit=MAX_REQUEST_BYTES, reuse_address=True)
    log.info("metrics-listening", listen=listen, multiprocess=registry is not REGISTRY)
    return server


# ---- starting and stopping ------------------------------------------------------------------------
async def start_http(config: Config, ready: Ready) -> asyncio.Server | None:
    """In a single process with [metrics] listen set, the HTTP server (None otherwise, and when it
    could not listen: the service runs on without it)."""
    if not config.metrics.listen or multiprocess_dir():
        return None
    try:
        return await serve_http(config.metrics.listen, ready)
    except OSError as exc:  # calls go on without metrics: one log line, never a failed start
        log.error("metrics-http-not-started", listen=config.metrics.listen, error=exc.strerror or str(exc)[:120])
        return None


async def stop_http(server: asyncio.Server | None) -> None:
    if server is not None:
        server.close()
        await server.wait_closed()


def _gauge_value(registry: CollectorRegistry, name: str) -> float | None:
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def parent_http(config: Config, metrics_dir: str, make_store: Callable[[], Store]) -> Callable[[], None] | None:
    """Serve every worker's metrics, and health, from the worker parent (its own thread); agi.wiring
    passes ``make_store``, called in that thread's event loop.

    ``/readyz`` there: the store answers within the budget, and every worker is logged in to AMI.
    """
    if not config.metrics.listen:
        return None
    loop = asyncio.new_event_loop()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]  # unannotated upstream
    started = threading.Event()
    failure: list[BaseException] = []
    stopping = asyncio.Event()  # bound to the thread's loop on its first wait

    async def main() -> None:
        store = make_store()

        async def ready() -> tuple[bool, str]:
            budget = config.agi.screen_budget_ms
            error = await store_answer(store.server.ping, budget)
            connected = _gauge_value(registry, "grenswacht_ami_connected") == 1
            return readiness(error, bool(config.ami.secret), connected, budget)

        try:
            try:
                server = await serve_http(config.metrics.listen, ready, registry)
            except OSError as exc:
                failure.append(exc)
                return
            finally:
                started.set()
            await stopping.wait()
            await stop_http(server)
        finally:
            await store.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="metrics-http", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        log.error("metrics-http-not-started", listen=config.metrics.listen, error=str(failure[0])[:160])
        return None

    def stop() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(5)

    return stop
