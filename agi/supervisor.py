"""Background jobs run under a supervisor: a job that crashes is logged and restarted with backoff.

No job can die silently: an unexpected exception (``OSError`` included, e.g. errno 514 out of
a sleep) is logged once with its traceback and the job name, then the job starts again after a
delay that doubles up to ``MAX_BACKOFF`` (and resets once a run has lasted a while).
``CancelledError`` always propagates: that is how the service stops its jobs. A log stream that
cannot be written (a closed pipe, a full disk) ends neither the supervisor nor an ``Outage``'s
job: the line is lost, the loop goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agi.logs import get_logger

log = get_logger("grenswacht.supervisor")

MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0  # a run this long resets the backoff


async def supervise(
    name: str, job: Callable[[], Awaitable[None]], *, min_backoff: float = MIN_BACKOFF, max_backoff: float = MAX_BACKOFF
) -> None:
    """Run ``job()`` for ever; log and restart it whenever it raises or returns."""
    backoff = min_backoff
    while True:
        started = time.monotonic()
        try:
            await job()
            _say(log.error, "job-returned", job=name, restart_in_s=backoff)
        except asyncio.CancelledError:
            raise
        except Exception:
            reraise_cancel()
            _say(log.exception, "job-crashed", job=name, restart_in_s=backoff)
        if time.monotonic() - started > HEALTHY_AFTER:
            backoff = min_backoff
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


CANCEL_AGAIN_SECONDS = 0.5  # Jobs.stop: how long a cancelled job may take before it is cancelled again


class Jobs:
    """The service's supervised background tasks."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(supervise(name, job), name=name))

    async def stop(self) -> None:
        """Cancel every job and wait until each has ended. A job whose cancel was swallowed on the
        way (a Redis client that turns it into a timeout and takes it back) is cancelled again,
        twice a second, so that a stop never waits for ever on one; it is said once."""
        pending = set(self.tasks)
        rounds = 0
        while pending:
            for task in pending:
                task.cancel()
            done, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:  # supervise() ends only by cancellation
                    _say(log.error, "job-stop-failed", job=task.get_name(), error=repr(task.exception())[:200])
            rounds += 1
            if pending and rounds == 1:
                _say(log.warning, "job-cancel-ignored", jobs=sorted(t.get_name() for t in pending))
        self.tasks.clear()


def _say(method: Callable[..., object], event: str, **fields: object) -> None:
    """A supervisor's log line; one that cannot be written must not end the loop that says it."""
    try:
        method(event, **fields)
    except (OSError, ValueError):  # a closed or broken stream (ValueError: "I/O operation on closed file")
        pass


def reraise_cancel() -> None:
    """Raise CancelledError if this task is being cancelled.

    A cancel that arrives while the Redis client is inside its own timeouts can come out as a
    TimeoutError or a ConnectionError (seen on Python 3.11: the job then ran on and a stop hung);
    every handler of those errors calls this first (``Outage.failed`` does), so a cancel is never
    swallowed.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop: nothing can be cancelling
        return
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Outage:
    """Log a recurring failure once when it starts and once when it ends, not on every retry."""

    def __init__(self, logger: Any, what: str) -> None:
        self.log, self.what = logger, what
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        reraise_cancel()
        if self.since is None:
            self.since = time.monotonic()
            _say(self.log.warning, f"{self.what}-failed", error=type(exc).__name__, detail=str(exc)[:160])

    def ok(self) -> None:
        if self.since is not None:
            _say(self.log.info, f"{self.what}-recovered", after_s=round(time.monotonic() - self.since, 1))
            self.since = None
