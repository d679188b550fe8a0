"""The burst scenario (issue 13) on the real Asterisk 22 of the test suite.

30 calls arrive within 100 ms: 30 AMI Originates of a Local channel into ``inbound`` (the
screening Gosub, then the queue) or ``unscreened`` (the queue at once), spread evenly over the
100 ms. Each call's set-up is timed from its Originate to Asterisk's ``QueueCallerJoin`` for
it: the moment the call is routed, which is all that screening can delay (what the queue does
after that is the same either way). Bursts alternate between the two routes, ``rounds`` of each,
against ``grenswacht serve`` as its own process with ``[agi] workers = N``.

The observer logs in to AMI for the event classes it times (``agent`` for QueueCallerJoin,
``call`` for the Originate's own answer) and no others. Subscribed to everything, it is sent
about 112 events per screened call and 87 per unscreened one (counted on the wire); the 25 more
(a Newexten per dialplan step, a VarSet per variable) come before the QueueCallerJoin it times,
and parsing them in Python put its own backlog into the "screened" times, for the bare
baseline server as much as for Grenswacht. ``--observer-events on`` measures that way, for
comparison.

    .venv/bin/python -m bench.burst --workers 0,1,2 --rounds 5    # 0: the bare baseline server
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.asterisk import DEFAULT_ROOT, AmiObserver, Asterisk  # noqa: E402
from tests.support.redis_server import RedisServer, free_port  # noqa: E402

CALLS = 30
SPREAD = 0.100
ROUTES = ("inbound", "unscreened")
OBSERVER_EVENTS = "agent,call"  # the AMI event classes the timing observer needs (see above)


async def one_burst(obs: AmiObserver, context: str, first: int, joined: dict[str, float]) -> list[float]:
    """Seconds from each Originate to its QueueCallerJoin (calls that never join are left out)."""
    sent: dict[str, float] = {}
    t0 = time.perf_counter()

    async def place(i: int) -> None:
        await asyncio.sleep(max(0.0, t0 + i * SPREAD / CALLS - time.perf_counter()))
        sent_at = time.perf_counter()
        lid = await obs.originate(f"+3161{first + i:07d}", context=context, variables={"__GW_BENCH": "1"})
        sent[lid] = sent_at

    await asyncio.gather(*(place(i) for i in range(CALLS)))
    deadline = time.monotonic() + 15
    while not set(sent) <= set(joined) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await obs.action(Action="Hangup", Channel="/^Local\\//")
    await asyncio.sleep(1.0)  # let the channels go before the next burst
    return [joined[lid] - at for lid, at in sent.items() if lid in joined]


async def burst_scenario(workers: int, rounds: int, observer_events: str = OBSERVER_EVENTS) -> dict:
    """Median and p90 set-up of screened against unscreened calls in bursts; one table row.

    ``workers`` 0: the bare baseline server (bench/baseline.py) answers the screening AGI
    instead of Grenswacht, which shows what the FastAGI round trip itself costs in a burst."""
    from bench.procs import start, wait_port

    redis = RedisServer().start()
    agi_port = free_port()
    ast = Asterisk(root=Path(DEFAULT_ROOT), agi_port=agi_port, agents=("1001", "1002", "1003", "1004"))
    tmp = Path(tempfile.mkdtemp(prefix="gw-burst-"))
    service = obs = None
    try:
        ast.start()
        cfg = tmp / "grenswacht.toml"
        cfg.write_text(
            f'[redis]\nurl = "{redis.url}"\n[agi]\nlisten = "127.0.0.1:{agi_port}"\nworkers = {workers}\n'
            f'[storage]\njournal_path = "{tmp / "journal.jsonl"}"\n'
        )
        if workers == 0:
            service = start([sys.executable, "-m", "bench.baseline", str(agi_port), redis.url])
        else:
            service = start(
                [sys.executable, "-m", "agi", "--config", str(cfg), "serve"],
                env={"GRENSWACHT_LOG_LEVEL": "INFO"},
                log=tmp / "service.log",
            )
        await wait_port(agi_port)
        obs = await AmiObserver(ast, events=observer_events).connect()
        joined: dict[str, float] = {}

        def on_join(manager, event) -> None:
            lid = event.get("Linkedid")
            if lid and lid not in joined:
                joined[lid] = time.perf_counter()

        obs.manager.register_event("QueueCallerJoin", on_join)
        await one_burst(obs, "inbound", 9_000_000, joined)  # warm-up (every worker, Asterisk)
        times: dict[str, list[float]] = {r: [] for r in ROUTES}
        for n in range(rounds):
            for k, route in enumerate(ROUTES):
                times[route] += await one_burst(obs, route, (2 * n + k) * CALLS, joined)
                obs.clear()
        med = {r: statistics.median(v) * 1000 for r, v in times.items()}
        p90 = {r: sorted(v)[int(0.9 * len(v))] * 1000 for r, v in times.items()}
        target = 1.1 * med["unscreened"] + 5
        return {
            "server": "baseline" if workers == 0 else f"grenswacht w={workers}",
            "bursts_each": rounds,
            "calls_each": len(times["inbound"]),
            "screened_median_ms": round(med["inbound"], 2),
            "unscreened_median_ms": round(med["unscreened"], 2),
            "screened_p90_ms": round(p90["inbound"], 2),
            "unscreened_p90_ms": round(p90["unscreened"], 2),
            "target_ms": round(target, 2),
            "met": "yes" if med["inbound"] <= target else "no",
        }
    finally:
        if obs is not None:
            obs.close()
        if service is not None:
            service.terminate()
            service.wait(40)
        ast.cleanup()
        redis.cleanup()


def main() -> int:
    from bench.procs import table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="0,1,2", help="[agi] workers, comma-separated (0: the bare baseline server)")
    ap.add_argument("--rounds", type=int, default=5, help="bursts per route")
    ap.add_argument(
        "--observer-events",
        default=OBSERVER_EVENTS,
        help='AMI event classes the timing observer subscribes to ("on": all of them)',
    )
    args = ap.parse_args()
    rows = [asyncio.run(burst_scenario(int(w), args.rounds, args.observer_events)) for w in args.workers.split(",")]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
