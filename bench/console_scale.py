"""Console page times at scale: 1,000,000 callers and 3,000,000 incidents over a year in a real redis-server.

    .venv/bin/python -m bench.console_scale [--callers 1000000] [--incidents 3000000] [--runs 20]
        [--redis-url redis://127.0.0.1:PORT/0 [--load-only | --skip-load]]

Seeds a throw-away redis-server through the fast loader (``bench/fastload.py``: the callers'
hashes as ``add_incident.lua`` writes them, the logbook's filter indexes, the statistics' counts
and the warnings worklist through the product's own ``rebuild.index_caller``, merged into big
pipelines; ``tests/test_fastload.py`` proves the result equals the product's own writes key by
key), then decides the worklist once (as the warnings page does), then times every console page
as a logged-in supervisor
(the Starlette app in process, over httpx's ASGI transport: what the server does, without a
browser). One warm-up request per page is not counted. Prints the median and the 99th
percentile (nearest rank) of each in milliseconds, checks that the filters are exact (a rare
agent's 10 incidents all shown), and the memory of redis-server.

Targets (issue 30): every page ≤ 200 ms median and ≤ 500 ms at the 99th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from agi.actions import lists, users
from agi.actions.errors import ActionError
from agi.config import Config
from agi.engine import DAY, Ban, Incident
from agi.wiring import build_store, redis_client
from bench.fastload import fast_load
from console.app import create_app
from redis_schema.store import Store
from tests.console.conftest import csrf_of
from tests.support.redis_server import RedisServer

PASSWORD = "bench password 123"
AGENTS = 200  # agent interfaces; one more, "PJSIP/rare-agent", has exactly RARE incidents
RARE = 10
QUEUES = ("support", "sales", "billing", "priority", "after-hours")
CATEGORIES = ("abuse",) * 5 + ("intimidation",) * 3 + ("threat",) * 1 + ("handover",) * 1


def histories(callers: int, incidents: int, now: float) -> Iterator[tuple[str, list[Incident], Ban | None]]:
    """Every caller with 1 to 5 incidents (``incidents`` in all) over the last 365 days; 1% banned."""
    rnd = random.Random(7)
    per = incidents / callers
    left = incidents - RARE
    for k in range(callers):
        number = f"+316{k:08d}"
        n = min(left, max(1, round(rnd.uniform(1, 2 * per - 1)))) if k < callers - 1 else left
        left -= n
        incs = [
            Incident.new(
                number,
                rnd.choice(CATEGORIES),
                now - rnd.uniform(0, 365) * DAY,
                severity=1,
                agent=f"PJSIP/agent{rnd.randrange(AGENTS)}",
                queue=rnd.choice(QUEUES),
                source="key",
                note="raised voice",
            )
            for _ in range(n)
        ]
        if k < RARE:
            incs.append(Incident.new(number, "threat", now - (k * 30 + 1) * DAY, severity=3, agent="PJSIP/rare-agent"))
        ban = Ban(until=now + 30 * DAY, reason="bench", set_at=now, actor="bench") if k % 100 == 0 else None
        yield number, incs, ban


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def timed(http: httpx.AsyncClient, url: str, runs: int) -> tuple[float, float, str]:
    await http.get(url)  # warm-up, not counted
    times = []
    text = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        r = await http.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
        text = r.text
    return statistics.median(times), pct(times, 0.99), text


def memory(redis: RedisServer) -> str:
    status = Path(f"/proc/{redis.proc.pid}/status").read_text() if redis.proc else ""
    rss = re.search(r"VmRSS:\s+(\d+) kB", status)
    return f"{int(rss.group(1)) / 1024 / 1024:.2f} GiB RSS" if rss else "unknown RSS"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


async def main(callers: int, incidents: int, runs: int, url: str | None, skip_load: bool, load_only: bool) -> None:
    redis = None if url else RedisServer().start()
    try:
        config = Config.model_validate({"redis": {"url": url or redis.url}, "web": {"secret": "x" * 40}})
        store: Store = build_store(config)
        raw = redis_client(config)  # the bench's own look at Redis (the store's client is its own)
        now = time.time()
        if not skip_load:
            print(f"loading at {time.strftime('%H:%M:%S', time.gmtime())} UTC, {load()}", flush=True)
            t0 = time.perf_counter()
            written = await fast_load(store, raw, histories(callers, incidents, now))
            loaded = time.perf_counter() - t0
            t1 = time.perf_counter()
            due = len(await lists.due_warnings(store, config, now))
            decided = time.perf_counter() - t1
            await store.indexes.stats.mark_built()
            print(
                f"seeded {callers:,} callers, {written:,} incidents ({await raw.dbsize():,} keys) in {loaded:.0f} s "
                f"({written / loaded:,.0f} incidents/s); worklist decided in {decided:.0f} s: {due:,} callers due; "
                f"{load()}"
            )
        info = await raw.info("memory")
        rss = memory(redis) if redis else f"{info['used_memory_rss_human']} RSS"
        print(f"redis-server memory: used_memory {info['used_memory_human']}, {rss}; {await raw.dbsize():,} keys")
        await raw.aclose()
        if load_only:
            await store.close()
            return
        with contextlib.suppress(ActionError):  # (there already, on a Redis timed before: --skip-load)
            await users.add(store, "bench", "supervisor", PASSWORD, "bench", time.time())
        app = create_app(config, store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            token = csrf_of((await http.get("/login")).text)
            await http.post("/login", data={"user": "bench", "password": PASSWORD, "csrf": token})
            warnings_page = (await http.get("/warnings")).text
            after = re.search(r"/warnings\?after=([^\"]+)\"", warnings_page)
            rare = re.search(r"/incidents/([0-9a-f]{16})", (await http.get("/logbook?agent=rare-agent")).text)
            print("| page | median ms | p99 ms | load average (1 min) after |\n|---|---:|---:|---:|")
            for name, url in (
                ("live board", "/"),
                ("logbook, first page", "/logbook"),
                ("logbook, page 100", "/logbook?page=100"),
                ("logbook, an agent", "/logbook?agent=agent17"),
                ("logbook, the rare agent (10 incidents)", "/logbook?agent=rare-agent"),
                ("logbook, a queue and a category", "/logbook?queue=sales&category=threat"),
                ("logbook, open, category", "/logbook?open=1&category=threat"),
                ("logbook, agent + queue + open, page 20", "/logbook?agent=agent3&queue=billing&open=1&page=20"),
                (
                    "logbook, last 7 days, page 50",
                    f"/logbook?from={time.strftime('%Y-%m-%d', time.gmtime(now - 7 * DAY))}&page=50",
                ),
                ("caller page", "/caller?n=%2B31600000000"),
                ("incident page", f"/incidents/{rare.group(1) if rare else ''}"),
                ("warning letter", "/letter?n=%2B31600000000"),
                ("callbacks page", "/callbacks"),
                ("audit trail", "/audit"),
                ("bans page (first 100 of the banned numbers)", "/bans"),
                ("bans page, page 50", "/bans?page=50"),
                ("warnings page", "/warnings"),
                ("warnings, next page", f"/warnings?after={after.group(1)}" if after else "/warnings"),
                ("stats, 30 days", "/stats?days=30"),
                ("stats, 365 days", "/stats?days=365"),
            ):
                median, p99, text = await timed(http, url, runs)
                print(f"| {name} | {median:.1f} | {p99:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)
                if "rare-agent" in url:
                    shown = len(set(re.findall(r"/incidents/([0-9a-f]{16})", text)))
                    assert shown == RARE, f"the rare agent's filter showed {shown} of {RARE}"
        print(f"the rare agent's filter showed all {RARE} of its incidents; {load()}")
        await store.close()
    finally:
        if redis:
            redis.cleanup()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--callers", type=int, default=1_000_000)
    p.add_argument("--incidents", type=int, default=3_000_000)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--redis-url", help="a Redis of your own (a throw-away one: it is written to) instead of a new one")
    p.add_argument("--skip-load", action="store_true", help="time the pages of what --redis-url holds (seeded before)")
    p.add_argument(
        "--load-only", action="store_true", help="seed --redis-url and stop (time it later with --skip-load)"
    )
    a = p.parse_args()
    asyncio.run(main(a.callers, a.incidents, a.runs, a.redis_url, a.skip_load, a.load_only))
