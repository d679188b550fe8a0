"""The dependencies handed to every route: built once by the composition root (agi.wiring.build)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from agi.ami.client import AmiClient
from agi.config import Config
from agi.config_holder import ConfigHolder
from agi.counters import ScreeningCounters
from agi.incidents import Logbook
from agi.logs import get_logger
from agi.prefixes import PrefixCache
from agi.recordings import FolderWatch
from redis_schema.store import Store

log = get_logger("grenswacht.deps")


@dataclass
class Deps:
    settings: ConfigHolder  # the running configuration, shared with the logbook and the placer
    store: Store
    logbook: Logbook
    ami: AmiClient | None  # None when no AMI secret is configured
    prefixes: PrefixCache = field(default_factory=PrefixCache)
    counters: ScreeningCounters = field(default_factory=ScreeningCounters)
    clock: Callable[[], float] = time.time
    recording_folder: FolderWatch = field(default_factory=FolderWatch)  # usable now? (agi.recordings)
    _background: set[asyncio.Task[object]] = field(default_factory=set)

    @property
    def config(self) -> Config:
        """The running configuration: a route reads it once per request (swapped on reload)."""
        return self.settings.current

    def later(self, coro: Coroutine[Any, Any, object], what: str) -> None:
        """Run a write that must not hold up the call; failures are logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[object], what: str) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("background-task-failed", what=what, error=type(exc).__name__, detail=str(exc)[:200])

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
