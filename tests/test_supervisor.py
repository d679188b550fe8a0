"""Background jobs cannot die silently: the supervisor logs a crash and restarts the job."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
import structlog
from structlog.testing import capture_logs

from agi import logs
from agi.logs import get_logger
from agi.supervisor import Jobs, Outage, supervise


async def test_a_crashing_job_is_logged_and_restarted():
    runs = []

    async def job():
        runs.append(1)
        if len(runs) < 3:
            raise ValueError("poison")
        await asyncio.sleep(3600)

    with capture_logs() as logs:
        task = asyncio.create_task(supervise("demo", job, min_backoff=0.01, max_backoff=0.02))
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("cancellation was swallowed")
    crashes = [e for e in logs if e["event"] == "job-crashed"]
    assert len(crashes) == 2 and crashes[0]["job"] == "demo" and crashes[0]["log_level"] == "error"
    assert len(runs) == 3


async def test_a_job_that_returns_is_restarted_too():
    runs = []

    async def job():
        runs.append(1)

    with capture_logs() as logs:
        jobs = Jobs()
        jobs.start("quitter", job)
        while len(runs) < 2:
            await asyncio.sleep(0.01)
        await jobs.stop()
    assert any(e["event"] == "job-returned" for e in logs)
    assert jobs.tasks == []


def test_an_outage_is_logged_once_and_its_end_once():
    import structlog

    with capture_logs() as logs:
        outage = Outage(structlog.get_logger("t"), "thing")
        for _ in range(5):
            outage.failed(ConnectionError("down"))
        outage.ok()
        outage.ok()
    assert [e["event"] for e in logs] == ["thing-failed", "thing-recovered"]


@contextmanager
def broken_log_stream() -> Iterator[None]:
    """The service's logging (agi.logs.configure) writing to a pipe nobody reads any more: every
    line raises BrokenPipeError, as when a script that started the service has gone."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = os.fdopen(write_end, "w")
    logs.configure(stream=stream)
    try:
        yield
    finally:
        structlog.configure(**saved)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        with suppress(OSError):
            stream.close()


async def test_a_job_failing_with_oserror_is_restarted_even_when_no_line_can_be_written():
    """An OSError (errno 514 as issue 32 saw it) out of a job restarts it; and a log stream that
    raises must not end the supervisor (it did: the crash line's BrokenPipeError ended the task,
    and the job was gone for good without a word)."""
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        raise OSError(514, "Unknown error 514")

    with broken_log_stream():
        task = asyncio.create_task(supervise("flaky", job, min_backoff=0.01, max_backoff=0.02))
        deadline = asyncio.get_running_loop().time() + 30
        while len(runs) < 4 and not task.done():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert not task.done(), task.exception()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(runs) >= 4


async def test_jobs_restart_a_job_that_raises_oserror_and_log_it():
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise InterruptedError(4, "Interrupted system call")
        await asyncio.sleep(3600)

    with capture_logs() as logs_seen:
        jobs = Jobs()
        jobs.start("sleeper", job)
        deadline = asyncio.get_running_loop().time() + 30
        while len(runs) < 3:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await jobs.stop()
    assert [(e["event"], e["job"]) for e in logs_seen if e["event"].startswith("job-")] == [
        ("job-crashed", "sleeper")
    ] * 2
    assert len(runs) == 3 and jobs.tasks == []


async def test_an_outage_whose_line_cannot_be_written_does_not_end_its_job():
    with broken_log_stream():
        outage = Outage(get_logger("grenswacht.test"), "thing")
        outage.failed(OSError(514, "Unknown error 514"))
        assert outage.since is not None
        outage.ok()
        assert outage.since is None


async def test_a_job_that_swallows_its_cancel_does_not_hold_up_the_stop():
    """A cancel taken back on the way (as a Redis client inside its own timeouts can do) made
    Jobs.stop wait for ever, and the service never ended on SIGTERM: it is cancelled again."""
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if swallowed or task is None:
                    raise
                swallowed.append(task.uncancel())  # the cancel taken back: the job runs on

    jobs = Jobs()
    jobs.start("stubborn", stubborn)
    [task] = jobs.tasks
    await asyncio.sleep(0)
    stopping = asyncio.create_task(jobs.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)  # (not a cancel of the stop: that would end the job)
    if not done:
        task.cancel()  # (the old stop: waits on the job for ever)
        await asyncio.wait({stopping}, timeout=10)
    assert done and task.done() and swallowed == [0] and jobs.tasks == []
