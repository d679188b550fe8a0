"""The composition root: every part made once, each handed its dependencies through its constructor.

Everything that needs a running part gets it from here, and nowhere else makes one:

- the service (agi.service) and so each worker process (agi.workers runs a Service):
  :func:`build` for the route dependencies, :func:`assemble` for the FastAGI server, the callback
  placer and the background jobs it supervises;
- the worker parent's metrics thread: :func:`parent_http` (agi.metrics with a store made here);
- the CLI (agi.cli.common.open_store) and the console (console.app.serve): :func:`build_store`.

The running configuration lives in one :class:`~agi.config_holder.ConfigHolder`, shared by the
route dependencies, the logbook and the placer; a reload swaps it once (agi.service).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agi.config import Config, split_host_port
from redis_schema.connection import Client, connect
from redis_schema.fastread import CallerReader
from redis_schema.store import Store

# The service's parts are imported where they are built: a CLI command or the console needs only
# build_store, and importing the FastAGI server, routes, AMI client and metrics as well was a good
# share of each `grenswacht` command's start-up.
if TYPE_CHECKING:
    from agi.ami.client import AmiClient
    from agi.callbacks.placer import Placer
    from agi.deps import Deps
    from agi.fastagi.server import FastAgiServer


def redis_client(config: Config) -> Client:
    """A Redis client as [redis] configures it (for :func:`build_store`; tests use one to look)."""
    r = config.redis
    pool = r.max_connections
    if r.mode == "cluster":
        # redis-py's cluster pool per node cannot wait for a free connection: it fails at once when
        # full. Size it for every call the FastAGI server admits, plus the background jobs.
        pool = max(pool, config.agi.max_connections + 64)
    return connect(
        r.url,
        password=r.password,
        max_connections=pool,
        pool_timeout=r.pool_timeout,
        mode=r.mode,
        sentinels=[split_host_port(s) for s in r.sentinels],
        service_name=r.service_name,
        nodes=[split_host_port(n) for n in r.nodes],
    )


def build_store(config: Config) -> Store:
    r = config.redis
    # The screening read bypasses redis-py on a standalone Redis (it connects on first use);
    # Sentinel and Cluster keep redis-py, which follows failovers and slots.
    reader = CallerReader.from_url(r.url, password=r.password) if r.mode == "standalone" else None
    return Store(
        redis_client(config), retention_days=config.storage.retention_days, reader=reader, zone=config.web.timezone
    )


def build_ami(config: Config) -> AmiClient | None:
    from agi.ami.client import AmiClient

    if not config.ami.secret:
        return None
    host, port = config.ami.host_port
    return AmiClient(host, port, config.ami.username, config.ami.secret, reconnect_max=config.ami.reconnect_max_seconds)


def build(config: Config, *, clock: Callable[[], float] = time.time) -> Deps:
    """The route dependencies: store, AMI client, logbook, all reading one configuration holder."""
    from agi.aftercare.journal import Journal
    from agi.config_holder import ConfigHolder
    from agi.deps import Deps
    from agi.incidents import Logbook

    settings = ConfigHolder(config)
    store = build_store(config)
    ami = build_ami(config)
    logbook = Logbook(settings, store, Journal(config.storage.journal_path), ami, clock)
    return Deps(settings=settings, store=store, logbook=logbook, ami=ami, clock=clock)


@dataclass(frozen=True)
class Job:
    """A background job for agi.supervisor: ``run`` is started again whenever it crashes."""

    name: str
    run: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Assembly:
    """What a service runs: the server on ``deps``, the placer (with AMI only) and the jobs."""

    deps: Deps
    server: FastAgiServer[Deps]
    placer: Placer | None
    jobs: tuple[Job, ...]


def assemble(deps: Deps) -> Assembly:
    """The FastAGI server with the counted route table, the callback placer and every background job."""
    from agi import background, metrics, recordings
    from agi.callbacks.placer import Placer
    from agi.fastagi.server import FastAgiServer
    from agi.routes import ROUTES

    server = FastAgiServer(metrics.counted(ROUTES), deps, deps.config.agi, metrics.peer_failure)
    jobs: list[Job] = []
    placer = None
    if deps.ami is not None:
        ami = deps.ami
        placer = Placer(deps.settings, deps.store, ami, deps.logbook, deps.clock)
        jobs += [
            Job("cooldowns", lambda: background.end_cooldowns(deps.store, ami, deps.clock)),
            Job("callbacks", placer.run),
        ]
    jobs += [
        Job("prefixes", lambda: background.refresh_prefixes(deps)),
        Job("purge", lambda: background.purge_loop(deps)),
        Job("counters", lambda: deps.counters.run(deps.store)),
        Job("aftercare", deps.logbook.run),
        Job("webhooks", deps.logbook.run_webhooks),
        Job("metrics", lambda: metrics.sampler(deps, server)),
        Job("recordings", lambda: recordings.run(deps.store, lambda: deps.config, deps.clock, deps.recording_folder)),
    ]
    return Assembly(deps, server, placer, tuple(jobs))


def parent_http(config: Config, metrics_dir: str) -> Callable[[], None] | None:
    """agi.workers' hook: every worker's metrics and health served from the parent, with a store made here."""
    from agi import metrics

    return metrics.parent_http(config, metrics_dir, lambda: build_store(config))
