"""Issue 32: no burst of fail-opens after a Redis restart, with Redis as the docs configure it
(AOF, ``appendfsync always``), in worker mode and in a single process.

A restart (SIGTERM, then started again on the same port) under 300 screening calls a second:
once the first call after it is screened, every later one must be too. In worker mode each
worker has its own connections, and learns that Redis is back on its own: before the fix, a
worker whose last connect attempt fell in the outage failed its calls open for the rest of its
reconnect backoff after the other worker's first answer (2 to 20 calls a restart).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, free_port
from tests.test_faults import ServiceProcess, screen_at

AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")


@pytest.fixture(params=[2, 1], ids=["workers-2", "single-process"])
def service(request, tmp_path):
    redis = RedisServer(extra_args=AOF_ALWAYS).start()
    port = free_port()
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis.url}"\n[agi]\nlisten = "127.0.0.1:{port}"\nworkers = {request.param}\n'
        f'[storage]\njournal_path = "{tmp_path}/state/journal.jsonl"\n'
    )
    svc = ServiceProcess(cfg, tmp_path / "service.log")
    svc.start(port)
    yield redis, port, svc.log_path, request.param
    svc.stop()
    redis.cleanup()


def decisions(log_path: Path, since: float) -> list[tuple[float, str]]:
    """(when decided, reason) of every screening the service logged after ``since`` (wall clock),
    in the order decided. The service's own clock, not the client's: under load the client reads
    answers late and in batches, which would interleave answers given during the outage with the
    first ones after it."""
    found = []
    for line in log_path.read_text().splitlines():
        if '"screened"' not in line:
            continue
        entry = json.loads(line)
        logged = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        decided = logged - (entry["ms"] - entry["decide_ms"]) / 1000  # logged after the answer was taken
        if decided > since:
            found.append((decided, entry["reason"]))
    return sorted(found)


async def test_after_a_redis_restart_no_call_fails_open_once_one_is_screened(service):
    redis, port, log_path, workers = service
    answers: list[tuple[float, str]] = []
    stop = asyncio.Event()
    load = asyncio.create_task(screen_at(port, 300, stop, answers))

    async def until(what: str, done) -> None:
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline and not load.done(), f"still waiting for {what}"
            await asyncio.sleep(0.05)

    # Every worker serving (the port listens from the first one on; a worker's own start, not
    # a restart, is not what this counts), then a second of calls screened.
    await until("every worker started", lambda: log_path.read_text().count('"grenswacht-started"') >= workers)
    await until("a second of calls screened", lambda: [r for _, r in answers].count("clean") >= 300)
    stops, backs = [], []
    for _ in range(2):
        stops.append(time.time())
        await asyncio.to_thread(redis.stop)
        down = len(answers)
        # Every connection of every worker has tried and failed by the time 300 calls failed open.
        await until(
            "the outage to be noticed", lambda: [r for _, r in answers[down:]].count("store-unavailable") >= 300
        )
        backs.append(time.time())
        await asyncio.to_thread(redis.start)
        up = len(answers)
        await until("two seconds of calls after the restart", lambda: len(answers) - up >= 600)
    stop.set()
    await load
    for restart, (back, next_stop) in enumerate(zip(backs, [*stops[1:], math.inf]), 1):
        after = [(at, reason) for at, reason in decisions(log_path, back) if at < next_stop]
        first = next(i for i, (_, reason) in enumerate(after) if reason == "clean")
        screened_at = after[first][0]
        failed = [(round((at - screened_at) * 1000, 1), reason) for at, reason in after[first:] if reason != "clean"]
        assert not failed, (
            f"restart {restart}: {len(failed)} of {len(after) - first} calls after the first screened one "
            f"(ms after it, reason): {failed[:10]}"
        )
