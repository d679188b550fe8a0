"""The live board's event stream with many boards open: how long after an incident is written does
every open board have its row?

    .venv/bin/python -m bench.board_stream --redis-url redis://127.0.0.1:PORT/0 [--boards 50] [--incidents 20]

Serves the console (uvicorn, in a process of its own, as ``grenswacht web`` does) on the given
Redis (e.g. one seeded by ``bench.console_scale --load-only``), opens ``--boards`` event streams
over real sockets as a logged-in supervisor, then logs ``--incidents`` incidents one at a time
(``logbook.add``: the write and the event, as ``grenswacht incidents add`` does), each after every
board had the one before. The delay of a board is from just before the write until that board
has read the incident's row; prints its median, 99th percentile (nearest rank) and maximum over
every board and incident. Target (issue 30): under 100 ms with 50 open boards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import statistics
import time

import httpx

from agi.actions import logbook, users
from agi.actions.errors import ActionError
from agi.config import Config
from agi.wiring import build_store
from tests.console.conftest import csrf_of
from tests.support.redis_server import free_port

PASSWORD = "bench password 123"


def config_of(url: str) -> Config:
    return Config.model_validate({"redis": {"url": url}, "web": {"secret": "x" * 40}})


def serve(url: str, port: int) -> None:
    """The console in this process, as ``grenswacht web`` serves it."""
    import uvicorn

    from console.app import create_app

    async def run() -> None:
        config = config_of(url)
        app = create_app(config, build_store(config))
        await uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).serve()

    asyncio.run(run())


async def main(url: str, boards: int, incidents: int) -> None:
    config = config_of(url)
    store = build_store(config)
    with contextlib.suppress(ActionError):  # (there already, on a Redis this bench ran on before)
        await users.add(store, "board-bench", "supervisor", PASSWORD, "bench", time.time())
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(url, port), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=boards + 10))
        for _ in range(200):
            try:
                token = csrf_of((await http.get("/login")).text)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        await http.post("/login", data={"user": "board-bench", "password": PASSWORD, "csrf": token})
        arrivals: list[tuple[float, str]] = []  # (when a board read it, an incident row)
        ready = 0
        opened = asyncio.Event()

        async def board() -> None:
            nonlocal ready
            async with http.stream("GET", f"/events?after={await store.streams.last_event_id()}") as stream:
                lines = stream.aiter_lines()
                async for line in lines:
                    if line.startswith("retry:"):
                        break
                ready += 1
                if ready == boards:
                    opened.set()
                kind = ""
                async for line in lines:
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "incident":
                        arrivals.append((time.perf_counter(), line))

        tasks = [asyncio.create_task(board()) for _ in range(boards)]
        await asyncio.wait_for(opened.wait(), 300)
        load = os.getloadavg()[0]
        delays: list[float] = []
        for k in range(incidents):
            t0 = time.perf_counter()
            iid = await logbook.add(
                store, config, f"+3199{k:07d}", "abuse", "board bench", time.time(), "bench", time.time()
            )
            while len(times := [at for at, row in arrivals if iid in row]) < boards:
                await asyncio.sleep(0.001)
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError(f"only {len(times)} of {boards} boards had incident {k + 1} after 30 s")
            delays += [(t - t0) * 1000 for t in times]
            arrivals.clear()
        for t in tasks:
            t.cancel()
        await http.aclose()
        ordered = sorted(delays)
        print(
            f"{boards} open boards, {incidents} incidents ({len(delays)} deliveries): delay median "
            f"{statistics.median(delays):.1f} ms, p99 {ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]:.1f} ms, "
            f"max {ordered[-1]:.1f} ms; load average (1 min) {load:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
    finally:
        server.terminate()
        server.join(10)
        await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--redis-url", required=True, help="a throw-away Redis (incidents are written to it)")
    p.add_argument("--boards", type=int, default=50)
    p.add_argument("--incidents", type=int, default=20)
    a = p.parse_args()
    asyncio.run(main(a.redis_url, a.boards, a.incidents))
