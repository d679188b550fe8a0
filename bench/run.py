"""Run the whole screening benchmark and print one table (see docs/benchmarks.md).

1. redis-server seeded with POPULATION callers through the project's storage layer, pipelined;
2. Redis memory per caller and per incident;
3. Grenswacht (`grenswacht serve`, its own process) and the baseline (bench/baseline.py), each
   driven by the same Asterisk-like generator: closed loop at concurrency 1, 50, 200, and an
   open loop at a fixed offered rate;
4. call set-up time on a real Asterisk 22, screened route against the same route unscreened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agi.config import Config  # noqa: E402
from agi.engine import DAY, Ban, Incident  # noqa: E402
from agi.wiring import build_store, redis_client  # noqa: E402
from bench.burst import burst_scenario  # noqa: E402
from bench.loadgen import Result, closed_loop, open_loop  # noqa: E402
from bench.procs import cpu_seconds, start, table, wait_port  # noqa: E402
from redis_schema import keys  # noqa: E402
from tests.support.redis_server import RedisServer, free_port  # noqa: E402

CATEGORIES = ("abuse", "abuse", "abuse", "intimidation", "threat")


def histories(population: int, now: float, seed: int = 1):
    """Most callers have no history (and so no key); 10% have one to five incidents; some are banned."""
    rnd = random.Random(seed)
    for i in range(population):
        r = rnd.random()
        if r >= 0.10:
            continue
        n = 1 if r < 0.07 else rnd.randint(2, 3) if r < 0.09 else rnd.randint(4, 5)
        incidents = [
            Incident.new(
                f"+316{i:08d}",
                rnd.choice(CATEGORIES),
                now - rnd.uniform(0, 300) * DAY,
                agent=f"PJSIP/{rnd.randint(100, 999)}",
                queue="support",
                uniqueid=f"{int(now) - rnd.randint(0, 10**7)}.{rnd.randint(1, 9999)}",
                linkedid=f"{int(now) - rnd.randint(0, 10**7)}.{rnd.randint(1, 9999)}",
                source="key",
            )
            for _ in range(n)
        ]
        ban = (
            Ban(until=now + 60 * DAY, reason="protocol", source="protocol", set_at=now) if rnd.random() < 0.05 else None
        )
        yield f"+316{i:08d}", incidents, ban


async def seed(url: str, population: int) -> dict:
    config = Config.model_validate({"redis": {"url": url, "max_connections": 4}})
    store = build_store(config)  # as the service builds it (agi.wiring, the one composition root)
    redis = redis_client(config)  # the bench's own look at memory (the store's client is its own)
    t0 = time.perf_counter()
    before = int((await redis.info("memory"))["used_memory"])
    n = await store.incidents.bulk_load(histories(population, time.time()), batch=5000)
    callers = await redis.dbsize()  # caller hashes + the two index keys
    # The baseline's own key per caller with a history, for a like-for-like GET.
    pipe = redis.pipeline(transaction=False)
    async for key in redis.scan_iter(match=keys.CALLER_SCAN, count=5000):
        pipe.set("bl:" + key[key.index("{") + 1 : -1], "warn")
        if len(pipe) >= 5000:
            await pipe.execute()
    await pipe.execute()
    seconds = time.perf_counter() - t0
    # Memory: callers with exactly one incident, and the cost of each further incident.
    one, per_extra, sample = [], [], 0
    async for key in redis.scan_iter(match=keys.CALLER_SCAN, count=5000):
        rec = await store.screening.load_caller(key[key.index("{") + 1 : -1])
        size = await redis.memory_usage(key, samples=0)
        if len(rec.incidents) == 1 and rec.ban is None:
            one.append(size)
        elif len(rec.incidents) >= 2 and rec.ban is None:
            per_extra.append((size - statistics.mean(one or [size])) / (len(rec.incidents) - 1))
        sample += 1
        if sample >= 5000:
            break
    index = (
        await redis.memory_usage(keys.INCIDENTS_BY_TIME, samples=0)
        + await redis.memory_usage(keys.INCIDENT_OWNER, samples=0)
    ) / max(n, 1)
    after = int((await redis.info("memory"))["used_memory"])
    await store.close()
    await redis.aclose()
    return {
        "population": population,
        "callers_with_records": callers - 2,
        "incidents": n,
        "seed_seconds": round(seconds, 1),
        "caller_one_incident_bytes": round(statistics.mean(one)),
        "per_extra_incident_bytes": round(statistics.mean(per_extra)),
        "index_bytes_per_incident": round(index),
        "used_memory_mb": round((after - before) / 2**20, 1),
    }


def steps(port: int, duration: float, population: int, rate: float) -> list:
    """The load steps, each a coroutine factory: closed loop at concurrency 1, 50, 200; open loop at ``rate``."""
    out = [lambda c=c: closed_loop("127.0.0.1", port, c, duration, population) for c in (1, 50, 200)]
    out.append(lambda: open_loop("127.0.0.1", port, rate, duration, population))
    return out


async def measured(step, pid: int) -> tuple[Result, float]:
    """One step, with the server's CPU time (process and children) per call, in microseconds."""
    before = cpu_seconds(pid)
    result = await step()
    return result, (cpu_seconds(pid) - before) / max(result.calls, 1) * 1e6


def summarise(name: str, runs: list[tuple[Result, float]]) -> dict:
    """One row from the repeats of one step: medians, the worst p99, errors summed."""
    med = statistics.median
    p99s = [r.pct(99) for r, _ in runs]
    return {
        "server": name,
        "mode": runs[0][0].mode,
        "repeats": len(runs),
        "calls": sum(r.calls for r, _ in runs),
        "errors": sum(r.errors for r, _ in runs),
        "fail_open": sum(r.fail_open for r, _ in runs),
        "calls_per_s": round(med(r.rate for r, _ in runs)),
        "p50_ms": round(med(r.pct(50) for r, _ in runs), 2),
        "p99_ms": round(med(p99s), 2),
        "p99_worst_ms": round(max(p99s), 2),
        "server_cpu_us_per_call": round(med(c for _, c in runs)),
    }


async def asterisk_setup(calls: int) -> dict:
    """Set-up time (Originate to the agent answering) through the screened and the unscreened route."""
    from agi import logs
    from tests.support.stack import running_pbx

    logs.configure("WARNING", stream=open(os.devnull, "w"))
    journal = Path(tempfile.mkdtemp(prefix="gw-bench-")) / "journal.jsonl"
    async with running_pbx(
        ("1001", "1002", "1003", "1004"), {"storage": {"journal_path": str(journal)}}, with_ami=False
    ) as pbx:
        obs = pbx.ami
        times: dict[str, list[float]] = {"inbound": [], "unscreened": []}
        for i in range(calls * 2):
            ctx = "inbound" if i % 2 == 0 else "unscreened"  # interleaved, so drift hits both alike
            obs.reset()
            t0 = time.perf_counter()
            lid = await obs.originate(f"+316{i:08d}", context=ctx, variables={"__GW_BENCH": "1"})
            await obs.wait_for(lambda e: e.get("Linkedid") == lid and e.get("UserEvent") == "GwTestAgentAnswered")
            times[ctx].append(time.perf_counter() - t0)
            await obs.wait_for(
                lambda e: e.get("Linkedid") == lid and e.get("Event") == "Hangup" and "@agents" in e.get("Channel", ""),
                timeout=10,
            )
            obs.clear()
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        p90 = {k: sorted(v)[int(0.9 * len(v))] * 1000 for k, v in times.items()}
        return {
            "calls_each": calls,
            "screened_median_ms": round(med["inbound"], 2),
            "unscreened_median_ms": round(med["unscreened"], 2),
            "screened_p90_ms": round(p90["inbound"], 2),
            "unscreened_p90_ms": round(p90["unscreened"], 2),
            "ratio_median": round(med["inbound"] / med["unscreened"], 3),
        }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--population", type=int, default=1_000_000)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per load step")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of every step, servers alternating")
    ap.add_argument("--workers", default="1,2", help="[agi] workers of each Grenswacht measured, comma-separated")
    ap.add_argument(
        "--burst-rounds",
        type=int,
        default=5,
        help="bursts of 30 calls within 100 ms per route on real Asterisk (0: skip)",
    )
    ap.add_argument("--rate", type=float, default=1000.0, help="offered calls/s in the open loop")
    ap.add_argument("--asterisk-calls", type=int, default=200, help="calls per route on real Asterisk (0: skip)")
    ap.add_argument("--log-level", default="INFO", help="the service's log level during the run")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",") if w]
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)

    redis = RedisServer().start()
    procs = []
    try:
        print(f"seeding {args.population:,} callers through the storage layer ...", flush=True)
        mem = await seed(redis.url, args.population)
        print(table([mem]), flush=True)

        servers = [("baseline", free_port(), None)] + [(f"grenswacht w={w}", free_port(), w) for w in workers]
        for _name, port, w in servers:
            if w is None:
                procs.append(start([sys.executable, "-m", "bench.baseline", str(port), redis.url]))
                continue
            cfg = out_dir / f"bench-w{w}.toml"
            cfg.write_text(
                f'[redis]\nurl = "{redis.url}"\nmax_connections = 64\n'
                f'[agi]\nlisten = "127.0.0.1:{port}"\nworkers = {w}\n'
                f'[storage]\njournal_path = "{out_dir / f"journal-w{w}.jsonl"}"\n'
            )
            procs.append(
                start(
                    [sys.executable, "-m", "agi", "--config", str(cfg), "serve"],
                    env={"GRENSWACHT_LOG_LEVEL": args.log_level},
                    log=out_dir / f"service-w{w}.log",
                )
            )
        for _, port, _ in servers:
            await wait_port(port)
        for _, port, _ in servers:
            await closed_loop("127.0.0.1", port, 20, 2.0, args.population)  # warm-up (every worker)
        load = os.getloadavg()[0]
        # Alternating: every step of every repeat runs on each server in turn, so drift hits all alike.
        runs: dict[tuple[str, int], list[tuple[Result, float]]] = {}
        for rep in range(args.repeats):
            for i in range(4):
                for (name, port, _), proc in zip(servers, procs):
                    r, cpu = await measured(steps(port, args.duration, args.population, args.rate)[i], proc.pid)
                    runs.setdefault((name, i), []).append((r, cpu))
                    print(
                        f"  [{rep + 1}/{args.repeats}] {name:>14} {r.mode:>12}: {r.rate:7.0f} calls/s  "
                        f"p50 {r.pct(50):.2f} ms  p99 {r.pct(99):.2f} ms  errors {r.errors}  "
                        f"server CPU {cpu:.0f} us/call",
                        flush=True,
                    )
        rows = [summarise(name, runs[(name, i)]) for name, _, _ in servers for i in range(4)]
        base = {r["mode"]: r["calls_per_s"] for r in rows if r["server"] == "baseline"}
        for r in rows:
            r["vs_baseline"] = round(r["calls_per_s"] / base[r["mode"]], 2) if base.get(r["mode"]) else ""
        p99_rows = [
            {
                "server": name,
                "mode": runs[(name, i)][0][0].mode,
                **{f"p99_run{k + 1}_ms": round(r.pct(99), 2) for k, (r, _) in enumerate(runs[(name, i)])},
            }
            for name, _, _ in servers
            for i in (0, 3)
        ]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        redis.cleanup()

    ast = await asterisk_setup(args.asterisk_calls) if args.asterisk_calls else None
    # The bare baseline server (0) first: what the FastAGI round trip itself costs in a burst.
    bursts = [await burst_scenario(w, args.burst_rounds) for w in [0, *workers]] if args.burst_rounds else []
    report = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"Command: bash bench/run --population {args.population} --duration {args.duration} "
        f"--rate {args.rate:g} --repeats {args.repeats} --workers {args.workers} "
        f"--asterisk-calls {args.asterisk_calls} --burst-rounds {args.burst_rounds} --log-level {args.log_level}",
        f"Load average (1 min) before the load steps: {load:.2f}",
        "",
        "Redis memory",
        "",
        table([mem]),
        "",
        "FastAGI screening (generator, servers and Redis on the same machine; medians over the repeats)",
        "",
        table(rows),
        "",
        "p99 of each repeat",
        "",
        table(p99_rows),
    ]
    if ast:
        report += [
            "",
            "Real Asterisk 22: call set-up (Originate to agent answer), Local channels via a queue",
            "",
            table([ast]),
        ]
    if bursts:
        report += [
            "",
            "Real Asterisk 22: bursts of 30 calls within 100 ms, Originate to the caller joining the "
            "queue (bench/burst.py)",
            "",
            table(bursts),
        ]
    text = "\n".join(report)
    (out_dir / "latest.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    from agi.workers import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory("uvloop")) as runner:  # the generator on uvloop
        sys.exit(runner.run(main()))
