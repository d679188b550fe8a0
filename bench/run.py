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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agi.engine import DAY, Ban, Incident  # noqa: E402
from bench.loadgen import Result, closed_loop, open_loop  # noqa: E402
from redis_schema import keys  # noqa: E402
from redis_schema.store import Store, connect  # noqa: E402
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
        incidents = [Incident.new(f"+316{i:08d}", rnd.choice(CATEGORIES), now - rnd.uniform(0, 300) * DAY,
                                  agent=f"PJSIP/{rnd.randint(100, 999)}", queue="support",
                                  uniqueid=f"{int(now) - rnd.randint(0, 10**7)}.{rnd.randint(1, 9999)}",
                                  linkedid=f"{int(now) - rnd.randint(0, 10**7)}.{rnd.randint(1, 9999)}", source="key")
                     for _ in range(n)]
        ban = Ban(until=now + 60 * DAY, reason="protocol", source="protocol", set_at=now) if rnd.random() < 0.05 else None
        yield f"+316{i:08d}", incidents, ban


async def seed(url: str, population: int) -> dict:
    store = Store(connect(url, max_connections=4), retention_days=365)
    t0 = time.perf_counter()
    before = int((await store.redis.info("memory"))["used_memory"])
    n = await store.bulk_load(histories(population, time.time()), batch=5000)
    callers = await store.redis.dbsize()   # caller hashes + the two index keys
    # The baseline's own key per caller with a history, for a like-for-like GET.
    pipe = store.redis.pipeline(transaction=False)
    async for key in store.redis.scan_iter(match=keys.CALLER_SCAN, count=5000):
        pipe.set("bl:" + key[key.index("{") + 1:-1], "warn")
        if len(pipe) >= 5000:
            await pipe.execute()
    await pipe.execute()
    seconds = time.perf_counter() - t0
    # Memory: callers with exactly one incident, and the cost of each further incident.
    one, per_extra, sample = [], [], 0
    async for key in store.redis.scan_iter(match=keys.CALLER_SCAN, count=5000):
        rec = await store.load_caller(key[key.index("{") + 1:-1])
        size = await store.redis.memory_usage(key, samples=0)
        if len(rec.incidents) == 1 and rec.ban is None:
            one.append(size)
        elif len(rec.incidents) >= 2 and rec.ban is None:
            per_extra.append((size - statistics.mean(one or [size])) / (len(rec.incidents) - 1))
        sample += 1
        if sample >= 5000:
            break
    index = (await store.redis.memory_usage(keys.INCIDENTS_BY_TIME, samples=0)
             + await store.redis.memory_usage(keys.INCIDENT_OWNER, samples=0)) / max(n, 1)
    after = int((await store.redis.info("memory"))["used_memory"])
    await store.close()
    return {"population": population, "callers_with_records": callers - 2, "incidents": n,
            "seed_seconds": round(seconds, 1), "caller_one_incident_bytes": round(statistics.mean(one)),
            "per_extra_incident_bytes": round(statistics.mean(per_extra)), "index_bytes_per_incident": round(index),
            "used_memory_mb": round((after - before) / 2**20, 1)}


def start(cmd: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


async def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(port: int, pid: int, duration: float, population: int, rate: float) -> list[tuple[Result, float]]:
    """Each load step, with the server process's own CPU time per call (microseconds)."""
    out = []
    steps = [lambda c=c: closed_loop("127.0.0.1", port, c, duration, population) for c in (1, 50, 200)]
    steps.append(lambda: open_loop("127.0.0.1", port, rate, duration, population))
    for step in steps:
        before = cpu_seconds(pid)
        result = await step()
        out.append((result, (cpu_seconds(pid) - before) / max(result.calls, 1) * 1e6))
    return out


async def asterisk_setup(calls: int) -> dict:
    """Set-up time (Originate to the agent answering) through the screened and the unscreened route."""
    from agi import logs
    from tests.support.stack import running_pbx

    logs.configure("WARNING", stream=open(os.devnull, "w"))
    journal = Path(tempfile.mkdtemp(prefix="gw-bench-")) / "journal.jsonl"
    async with running_pbx(("1001", "1002", "1003", "1004"), {"storage": {"journal_path": str(journal)}},
                           with_ami=False) as pbx:
        obs = pbx.ami
        times: dict[str, list[float]] = {"inbound": [], "unscreened": []}
        for i in range(calls * 2):
            ctx = "inbound" if i % 2 == 0 else "unscreened"   # interleaved, so drift hits both alike
            obs.reset()
            t0 = time.perf_counter()
            lid = await obs.originate(f"+316{i:08d}", context=ctx, variables={"__GW_BENCH": "1"})
            await obs.wait_for(lambda e: e.get("Linkedid") == lid and e.get("UserEvent") == "GwTestAgentAnswered")
            times[ctx].append(time.perf_counter() - t0)
            await obs.wait_for(lambda e: e.get("Linkedid") == lid and e.get("Event") == "Hangup"
                               and "@agents" in e.get("Channel", ""), timeout=10)
            obs.clear()
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        p90 = {k: sorted(v)[int(0.9 * len(v))] * 1000 for k, v in times.items()}
        return {"calls_each": calls, "screened_median_ms": round(med["inbound"], 2),
                "unscreened_median_ms": round(med["unscreened"], 2),
                "screened_p90_ms": round(p90["inbound"], 2), "unscreened_p90_ms": round(p90["unscreened"], 2),
                "ratio_median": round(med["inbound"] / med["unscreened"], 3)}


def table(rows: list[dict]) -> str:
    cols = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    head = "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)) + " |" for r in rows]
    return "\n".join([head, sep, *body])


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--population", type=int, default=1_000_000)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load step")
    ap.add_argument("--rate", type=float, default=1000.0, help="offered calls/s in the open loop")
    ap.add_argument("--asterisk-calls", type=int, default=200, help="calls per route on real Asterisk (0: skip)")
    ap.add_argument("--log-level", default="INFO", help="the service's log level during the run")
    args = ap.parse_args()
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)

    redis = RedisServer().start()
    procs = []
    try:
        print(f"seeding {args.population:,} callers through the storage layer ...", flush=True)
        mem = await seed(redis.url, args.population)
        print(table([mem]), flush=True)

        gw_port, bl_port = free_port(), free_port()
        cfg = out_dir / "bench.toml"
        cfg.write_text(f'[redis]\nurl = "{redis.url}"\nmax_connections = 64\n[agi]\nlisten = "127.0.0.1:{gw_port}"\n'
                       f'[storage]\njournal_path = "{out_dir / "journal.jsonl"}"\n')
        procs.append(start([sys.executable, "-m", "agi", "--config", str(cfg), "serve"],
                           env={"GRENSWACHT_LOG_LEVEL": args.log_level}, log=out_dir / "service.log"))
        procs.append(start([sys.executable, "-m", "bench.baseline", str(bl_port), redis.url]))
        await wait_port(gw_port)
        await wait_port(bl_port)
        rows = []
        for name, port, proc in (("baseline", bl_port, procs[1]), ("grenswacht", gw_port, procs[0])):
            await closed_loop("127.0.0.1", port, 20, 1.0, args.population)   # warm-up
            for r, cpu in await drive(port, proc.pid, args.duration, args.population, args.rate):
                rows.append({"server": name, **r.row(), "server_cpu_us_per_call": round(cpu)})
                print(f"  {name:>10} {r.mode:>12}: {r.rate:7.0f} calls/s  p50 {r.pct(50):.2f} ms  "
                      f"p99 {r.pct(99):.2f} ms  errors {r.errors}  server CPU {cpu:.0f} us/call", flush=True)
        base = {r["mode"]: r["calls_per_s"] for r in rows if r["server"] == "baseline"}
        for r in rows:
            r["vs_baseline"] = round(r["calls_per_s"] / base[r["mode"]], 2) if base.get(r["mode"]) else ""
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        redis.cleanup()

    ast = await asterisk_setup(args.asterisk_calls) if args.asterisk_calls else None
    report = [f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
              f"Command: bash bench/run --population {args.population} --duration {args.duration} "
              f"--rate {args.rate:g} --asterisk-calls {args.asterisk_calls} --log-level {args.log_level}",
              "", "Redis memory", "", table([mem]), "", "FastAGI screening (generator, server and Redis on the same machine)",
              "", table(rows)]
    if ast:
        report += ["", "Real Asterisk 22: call set-up (Originate to agent answer), Local channels via a queue", "",
                   table([ast])]
    text = "\n".join(report)
    (out_dir / "latest.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
