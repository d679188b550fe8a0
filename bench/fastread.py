"""Micro-benchmark of the screening read: HGETALL through redis-py (as the service's pool is set up)
against redis_schema/fastread.py's CallerReader, at a fixed concurrency, on a real redis-server.

Reports client CPU and wall time per call (this process only; redis-server runs apart), rounds
alternating between the two so both see the same machine. Run:
    .venv/bin/python bench/fastread.py [--calls 20000] [--concurrency 50] [--rounds 3] [--asyncio]
(on uvloop; --asyncio: on asyncio's own loop, the service's default).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agi.workers import event_loop_factory  # noqa: E402
from redis_schema import keys  # noqa: E402
from redis_schema.connection import connect  # noqa: E402
from redis_schema.fastread import CallerReader  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

CALLERS = 1000


async def seed(redis) -> list[str]:
    names = [keys.caller(f"+3161{i:07d}") for i in range(CALLERS)]
    async with redis.pipeline(transaction=False) as pipe:
        for i, name in enumerate(names):
            if i % 10 == 0:  # as in the population: most callers have no hash at all
                pipe.hset(
                    name,
                    mapping={
                        "n": "1",
                        "1.i": f"{i:016x}",
                        "1.t": "1700000000.000",
                        "1.c": "abuse",
                        "1.s": "1",
                        "1.a": "PJSIP/101",
                        "1.q": "support",
                        "1.o": "key",
                    },
                )
        await pipe.execute()
    return names


async def drive(read, names: list[str], calls: int, concurrency: int) -> tuple[float, float]:
    """(client CPU µs per call, wall µs per call) for ``calls`` reads, ``concurrency`` at a time."""
    per_worker = calls // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_worker):
            await read(names[(offset + i) % len(names)])

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(w * 37) for w in range(concurrency)))
    done = per_worker * concurrency
    return (time.process_time() - cpu) / done * 1e6, (time.perf_counter() - wall) / done * 1e6


async def run(args: argparse.Namespace) -> int:
    server = RedisServer().start()
    redis = connect(server.url)  # the service's redis-py client: blocking pool, retry, timeouts
    reader = CallerReader.from_url(server.url)
    try:
        names = await seed(redis)
        clients = {"redis-py": redis.hgetall, "CallerReader": reader.hgetall}
        for read in clients.values():  # warm up: connections open, caches hot
            await drive(read, names, 2000, args.concurrency)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, read in clients.items():
                samples[name].append(await drive(read, names, args.calls, args.concurrency))
        print(
            f"HGETALL, {args.calls} calls x {args.rounds} rounds at concurrency {args.concurrency} "
            f"(median of rounds; Python {sys.version.split()[0]}, {type(asyncio.get_running_loop()).__module__})"
        )
        print("| client | CPU µs/call | wall µs/call |")
        print("|---|---|---|")
        for name, rows in samples.items():
            cpu = statistics.median(r[0] for r in rows)
            wall = statistics.median(r[1] for r in rows)
            print(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    finally:
        await reader.close()
        await redis.aclose()
        server.cleanup()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--asyncio", action="store_true", help="asyncio's event loop instead of the service's")
    args = ap.parse_args()
    with asyncio.Runner(loop_factory=None if args.asyncio else event_loop_factory("uvloop")) as runner:
        return runner.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
