"""Background jobs cannot die silently: the supervisor logs a crash and restarts the job."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

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
