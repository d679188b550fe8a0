"""Console page times at scale: 1,000,000 callers and 100,000 incidents in a real redis-server.

    .venv/bin/python -m bench.console_scale [--callers 1000000] [--incidents 100000] [--runs 20]

Seeds a throw-away redis-server, then times the first logbook page, a caller page, the bans
page and the warnings page as a logged-in supervisor (the Starlette app in process, over
httpx's ASGI transport: what the server does, without a browser). Prints the median and the
slowest run of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import httpx

from agi.actions import users
from agi.config import Config
from agi.engine import DAY, Ban, Incident
from agi.wiring import build_store, redis_client
from console.app import create_app
from redis_schema import keys
from tests.console.conftest import csrf_of
from tests.support.redis_server import RedisServer

PASSWORD = "bench password 123"


async def seed(store, redis, callers: int, incidents: int) -> str:
    rnd = random.Random(7)
    now = time.time()
    # Callers with incidents: ~2 incidents each, through the same write as a key press.
    with_incidents = incidents // 2
    cats = ("abuse", "abuse", "intimidation", "threat", "handover")

    def histories():
        for k in range(with_incidents):
            number = f"+316{k:08d}"
            incs = [
                Incident.new(
                    number,
                    rnd.choice(cats),
                    now - rnd.uniform(0, 170) * DAY,
                    severity=1,
                    agent=f"PJSIP/agent{rnd.randrange(40)}",
                    queue="support",
                    source="key",
                    note="raised voice",
                )
                for _ in range(2)
            ]
            ban = Ban(until=now + 30 * DAY, reason="bench", set_at=now, actor="bench") if k % 100 == 0 else None
            yield number, incs, ban

    await store.incidents.bulk_load(histories(), batch=5000)
    # The rest: callers with a record but no incident (allowlisted, an expired ban, a warning sent).
    pipe = redis.pipeline(transaction=False)  # (the bench's own client: plain hashes, fast)
    for k in range(with_incidents, callers):
        pipe.hset(keys.caller(f"+316{k:08d}"), mapping={"warn.at": f"{now - DAY:.3f}", "warn.by": "bench"})
        if k % 10_000 == 0:
            await pipe.execute()
            pipe = redis.pipeline(transaction=False)
    await pipe.execute()
    return f"+316{0:08d}"


async def timed(http: httpx.AsyncClient, url: str, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = await http.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times), max(times)


async def main(callers: int, incidents: int, runs: int) -> None:
    redis = RedisServer().start()
    try:
        config = Config.model_validate({"redis": {"url": redis.url}, "web": {"secret": "x" * 40}})
        store, raw = build_store(config), redis_client(config)
        t0 = time.perf_counter()
        number = await seed(store, raw, callers, incidents)
        dbsize = await raw.dbsize()
        print(
            f"seeded {callers:,} callers, {incidents:,} incidents ({dbsize:,} keys) in {time.perf_counter() - t0:.0f} s"
        )
        await users.add(store, "bench", "supervisor", PASSWORD, "bench", time.time())
        app = create_app(config, store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            token = csrf_of((await http.get("/login")).text)
            await http.post("/login", data={"user": "bench", "password": PASSWORD, "csrf": token})
            print(f"{'page':<28}{'median ms':>10}{'max ms':>10}")
            for name, url in (
                ("logbook, first page", "/logbook"),
                ("logbook, open, category", "/logbook?open=1&category=threat"),
                ("caller page", f"/caller?n={number}"),
                ("bans page", "/bans"),
                ("warnings page", "/warnings"),
                ("live board", "/"),
            ):
                median, worst = await timed(http, url, runs)
                print(f"{name:<28}{median:>10.1f}{worst:>10.1f}")
        await raw.aclose()
        await store.close()
    finally:
        redis.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--callers", type=int, default=1_000_000)
    p.add_argument("--incidents", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    asyncio.run(main(a.callers, a.incidents, a.runs))
