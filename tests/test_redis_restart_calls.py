"""Issue 32: no burst of fail-opens after a Redis restart, with Redis as the docs configure it
(AOF, ``appendfsync always``), in worker mode and in a single process.

A restart (SIGTERM, then started again on the same port) under 300 screening calls a second:
once the first call after it is screened, every later one must be too. In worker mode each
worker has its own connections, and learns that Redis is back on its own: before the fix, a
worker whose last connect attempt fell in the outage failed its calls open for the rest of its
reconnect backoff after the other worker's first answer (2 to 20 calls a restart).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, free_port
from tests.support.service import ScreeningLoad, start_service

AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")


@pytest.fixture(params=[2, 1], ids=["workers-2", "single-process"])
def service(request, tmp_path):
    redis = RedisServer(extra_args=AOF_ALWAYS).start()
    port = free_port()
    svc = start_service(tmp_path, redis.url, port, agi=f"workers = {request.param}\n")
    yield redis, port, svc.log_path, request.param
    svc.stop()
    redis.cleanup()


def decisions(log_path: Path, since: float) -> list[tuple[float, float, str]]:
    """(when decided, when the route began, why) of every screening the service logged after
    ``since`` (wall clock), in the order decided. The service's own clock, not the client's: under load the client reads
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
            # A fail-open says why: the store's error, TimeoutError when the read's budget ran out.
            why = entry["reason"] + (f" ({entry['store_error']})" if "store_error" in entry else "")
            found.append((decided, logged - entry["ms"] / 1000, why))
    return sorted(found)


async def test_after_a_redis_restart_no_call_fails_open_once_one_is_screened(service):
    redis, port, log_path, workers = service
    load = ScreeningLoad(port, 300)
    # Every worker serving (the port listens from the first one on; a worker's own start, not
    # a restart, is not what this counts), then a second of calls screened.
    await load.until("every worker started", lambda: log_path.read_text().count('"grenswacht-started"') >= workers)
    await load.until("a second of calls screened", lambda: load.reasons().count("clean") >= 300)
    restarts = [await load.restart_redis(redis, calls_after=600) for _ in range(2)]  # two seconds after each
    await load.stop()
    stops, backs = [r.stopped for r in restarts], [r.back for r in restarts]
    for restart, (back, next_stop) in enumerate(zip(backs, [*stops[1:], math.inf]), 1):
        after = [d for d in decisions(log_path, back) if d[0] < next_stop]
        first = next(i for i, (_, _, reason) in enumerate(after) if reason == "clean")
        screened_at = after[first][0]
        # Every call that began after that first answer (one begun before it may still have been
        # waiting for its own worker's reconnect when this machine is loaded: not what this counts).
        # A read that ran out of its budget is this machine's load (a loop held up for 100 ms by
        # three test suites at once), not Redis's restart: the stale or backed-off connections
        # this test is about fail at once, with a connection error.
        failed = [
            (round((at - screened_at) * 1000, 1), why)
            for at, began, why in after[first:]
            if why != "clean" and not why.endswith("(TimeoutError)") and began > screened_at
        ]
        assert not failed, (
            f"restart {restart}: {len(failed)} of {len(after) - first} calls begun after the first screened one "
            f"(ms after it, reason): {failed[:10]}"
        )
