"""Hostile-storm benchmark (issue 9): legitimate calls at a fixed rate, first alone, then beside a
storm of hostile FastAGI connections, against `grenswacht serve` in its own process.

    bash bench/run --storm                       # 300 calls/s; 10,000 hostile connections at 1,000/s
    bash bench/run --storm --connect-rate 0      # the same 10,000 opened as fast as possible
    bash bench/run --storm --hostile 2000 --duration 5
    bash bench/run --storm --secret --from-pbx --idle 1000 --reopen   # issue 32: from the PBX's own address

The storm runs in a process of its own (this file with --storm-port, at nice 10), so that it
does not slow the legitimate generator's event loop; both generators run on uvloop. It opens
--hostile connections at --connect-rate a second, spread over --peers loopback addresses
(127.0.0.2, 127.0.0.3, ...; the service allows 127.0.0.0/8 for this run), in the mix of kinds
below (tests/support/agi_client.py); each plays its part until the service closes it (with
--reopen a new one takes its place). The legitimate calls come from 127.0.0.1, from the moment
the storm starts, for --duration seconds.

--from-pbx: the storm (and --idle) comes from 127.0.0.1 itself, the legitimate caller's address,
as a local process on the PBX would; the service then allows 127.0.0.1/32 alone. --idle N adds N
connections that never send a byte, each reopened as soon as the service closes it, for the whole
run. --secret: the service has an [agi] secret, the legitimate calls pass it, and every hostile
request carries a wrong one (so each kind must receive nothing at all).

--pbx realtime|normal: the legitimate generator's scheduling. It stands in for Asterisk, which
Debian's asterisk.service starts with -p (SCHED_RR), so by default it runs realtime (root).

--attacker nice|idle|users-idle: the storm process's CPU: nice 10 (default), SCHED_IDLE, or nice 0 in a
control group with cpu.idle = 1, as deploy/systemd/user.slice.d/grenswacht.conf puts every local
login (deploy/install.sh; the run docs/benchmarks.md commits for issue 32).

--service-nice N: the service's niceness; by default the ``Nice=`` of deploy/systemd/grenswacht.service
(-5), as the shipped unit runs it: ahead of ordinary local processes. 0 is a service without it.

Reported per run: the service's CPU (percent of one core, its workers included), calls,
errors, calls answered fail-open, p50, p99 and the longest call (connect to close). Targets:
p99 with the storm within 3x of without, and no legitimate call over 500 ms. The storm process
reports what each kind received; `unexpected` must be 0. Loopback only; bounded in count
(--hostile) and time (--duration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, open_loop  # noqa: E402
from tests.support.agi_client import hostile  # noqa: E402

# Share of the hostile connections by kind, in percent. "mute" sends a valid request and never
# answers: each one holds a slot for a whole period (header_timeout + command_timeout).
MIX = {"silent": 30, "half": 15, "slowloris": 19, "garbage": 10, "huge": 1, "duplicate": 10, "injection": 10, "mute": 5}
EXPECTED = {
    "silent": (b"",),
    "half": (b"",),
    "slowloris": (b"",),
    "huge": (b"",),
    "garbage": (b'SET VARIABLE GW_RESULT "error"\n',),
    "duplicate": (b'EXEC MSet "GW_ACTION=allow,GW_REASON=bad-request"\n',),
    "injection": (b'EXEC MSet "GW_ACTION=allow,GW_REASON=bad-request"\n',),
}


# The storm process's scheduling (see main): "nice" lowers its priority to STORM_NICE; "idle" puts it
# in SCHED_IDLE, so that it runs only on CPU time that the service, the legitimate generator and
# Redis leave unused, as an attacker on another machine would. "users-idle" runs it at nice 0 in a
# control group of its own with cpu.idle = 1: what deploy/systemd/user.slice.d/grenswacht.conf
# (CPUWeight=idle) does to every local login's processes, the attacker's among them.
STORM_NICE = 10
ATTACKER_MODES = ("nice", "idle", "users-idle")
STORM_CGROUP = "grenswacht-bench-storm"


def cgroup_dir() -> Path | None:
    """The storm's control group (made here, with cpu.idle = 1), under the cpu controller's
    hierarchy: cgroup v2's unified one or v1's cpu one; None when the kernel has no cpu.idle."""
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")):
        controllers = root / "cgroup.subtree_control"
        if controllers.exists() and "cpu" not in controllers.read_text().split():
            try:
                controllers.write_text("+cpu")
            except OSError:
                continue
        if not (root / "cpu.idle").exists() and not (root / "cgroup.subtree_control").exists():
            continue
        where = root / STORM_CGROUP
        try:
            where.mkdir(exist_ok=True)
            (where / "cpu.idle").write_text("1")
        except OSError:
            continue
        return where
    return None


# The legitimate generator stands in for Asterisk, the service's one real client. Debian's
# asterisk.service starts it with -p (realtime, SCHED_RR), so by default the generator runs so
# too; only it: whatever it starts (Redis, the service, the storm) gets the ordinary policy back.
PBX_MODES = ("realtime", "normal")


def as_asterisk() -> None:
    os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(1))


UNIT = REPO / "deploy" / "systemd" / "grenswacht.service"


def unit_nice() -> int:
    """The ``Nice=`` of the shipped systemd unit (0 when it sets none)."""
    for line in UNIT.read_text().splitlines():
        if line.startswith("Nice="):
            return int(line.partition("=")[2])
    return 0


def lower_priority(mode: str) -> None:
    if mode == "idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif mode == "users-idle":  # main made the group; a login's processes run at nice 0
        where = cgroup_dir()
        if where is None:
            raise SystemExit("storm: this kernel has no cpu.idle for a control group (--attacker users-idle)")
        (where / "cgroup.procs").write_text(str(os.getpid()))
    else:
        os.nice(STORM_NICE)


def received_as_expected(kind: str, got: bytes) -> bool:
    if kind == "mute":  # the route's one answer (fail-open when the store is over budget), nothing after it
        return got.startswith(b'EXEC MSet "GW_ACTION=allow,') and got.count(b"\n") == 1
    return got in EXPECTED[kind]


def kind_of(i: int) -> str:
    n = i % 100
    for kind, share in MIX.items():
        if n < share:
            return kind
        n -= share
    raise AssertionError("MIX must add up to 100")


def established(port: int) -> int:
    """Server-side sockets of this port in state ESTABLISHED (from /proc/net/tcp)."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f if (p := line.split())[1].endswith(want) and p[3] == "01")


# -- the storm process -------------------------------------------------------------------------


WRONG_SECRET_SCRIPT = "screen?secret=not-the-secret-0000"


async def storm(
    port: int,
    count: int,
    peers: int,
    seconds: float,
    reopen: bool,
    rate: float,
    *,
    from_pbx: bool = False,
    idle: int = 0,
    wrong_secret: bool = False,
) -> dict:
    """Open ``count`` hostile connections, ``rate`` a second (0: as fast as this process can); each
    plays its kind until the service closes it.

    With ``reopen``, a place opens a new connection when its last one is closed (at most one a
    second per place), so that ``count`` stay open for ``seconds``; without, the storm ends when
    the service has closed them all (one period at the most). ``idle`` places more hold a
    connection that never sends a byte, reopened when closed, for ``seconds``. ``from_pbx``: all
    from 127.0.0.1; ``wrong_secret``: every request with a wrong secret (each must get nothing).
    """
    from agi.fastagi.server import raise_fd_limit

    raise_fd_limit()
    results: dict[str, Counter] = {kind: Counter() for kind in MIX}
    results["idle"] = Counter()
    script = WRONG_SECRET_SCRIPT if wrong_secret else "screen"
    end = time.monotonic() + seconds

    async def place(i: int) -> None:
        kind = "idle" if i >= count else kind_of(i)
        bind = "127.0.0.1" if from_pbx else f"127.0.0.{2 + i % peers}"
        while True:
            began = time.monotonic()
            try:
                got = await hostile(
                    "silent" if kind == "idle" else kind,
                    "127.0.0.1",
                    port,
                    bind=bind,
                    script=script,
                    uniqueid=f"storm.{i}",
                    timeout=60,
                    drip=0.5,
                )
                expected = got == b"" if wrong_secret or kind == "idle" else received_as_expected(kind, got)
                results[kind]["as expected" if expected else "unexpected"] += 1
            except (OSError, TimeoutError) as exc:
                results[kind][type(exc).__name__] += 1
            if not (reopen or kind == "idle") or time.monotonic() >= end:
                return
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))

    print("start", flush=True)
    tasks, t0 = [], time.monotonic()
    for i in range(count, count + idle):  # the idle ones first: in place before the storm grows
        tasks.append(asyncio.create_task(place(i)))
        if i % 500 == 499:
            await asyncio.sleep(0)
    for i in range(count):
        tasks.append(asyncio.create_task(place(i)))
        if rate and (delay := t0 + i / rate - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        elif i % 500 == 499:
            await asyncio.sleep(0)
    samples = []
    while not all(t.done() for t in tasks):
        samples.append(established(port))
        await asyncio.sleep(0.5)
    return {"open_max": max(samples, default=0), "connections": {kind: dict(c) for kind, c in results.items()}}


# -- the benchmark -----------------------------------------------------------------------------


async def legit(port: int, rate: float, duration: float, script: str = "screen") -> Result:
    return await open_loop("127.0.0.1", port, rate, duration, 1_000_000, script)


def row(name: str, r: Result, hostile_open: int, cpu_s: float) -> dict:
    return {
        "run": name,
        "hostile_open_max": hostile_open,
        "service_cpu_pct": round(cpu_s / r.seconds * 100),
        "calls": r.calls,
        "errors": r.errors,
        "fail_open": r.fail_open,
        "p50_ms": round(r.pct(50), 2),
        "p99_ms": round(r.pct(99), 2),
        "max_ms": round(max(r.latencies, default=float("nan")) * 1000, 2),
    }


async def main() -> int:
    from bench.procs import cpu_seconds, start, table, wait_port
    from tests.support.redis_server import RedisServer, free_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=300.0, help="legitimate calls/s (open loop)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of legitimate load per run")
    ap.add_argument("--hostile", type=int, default=10_000, help="hostile connections kept open")
    ap.add_argument("--peers", type=int, default=40, help="loopback addresses the storm comes from")
    ap.add_argument(
        "--connect-rate",
        type=float,
        default=1000,
        help="hostile connections opened per second (0: as fast as the storm process can)",
    )
    ap.add_argument(
        "--reopen",
        action="store_true",
        help="keep --hostile connections open for the whole run (open a new one for each one closed)",
    )
    ap.add_argument("--log-level", default="INFO", help="the service's log level during the run")
    ap.add_argument("--workers", type=int, default=1, help="the service's [agi] workers (1: a single process)")
    ap.add_argument(
        "--attacker",
        choices=ATTACKER_MODES,
        default="nice",
        help=f"the storm process's scheduling: nice {STORM_NICE} (default); SCHED_IDLE (only CPU time "
        "nobody else uses, as if the attackers ran on another machine); or users-idle (nice 0 in a control "
        "group with cpu.idle = 1, as deploy/systemd/user.slice.d/grenswacht.conf makes every login's processes)",
    )
    ap.add_argument(
        "--from-pbx",
        action="store_true",
        help="the storm (and --idle) from 127.0.0.1, the legitimate caller's own address (the service "
        "allows 127.0.0.1/32 alone)",
    )
    ap.add_argument("--idle", type=int, default=0, help="connections that never send a byte, kept open all run")
    ap.add_argument(
        "--secret",
        action="store_true",
        help="the service has an [agi] secret; legitimate calls pass it, hostile requests a wrong one",
    )
    ap.add_argument(
        "--service-nice",
        type=int,
        default=unit_nice(),
        help="the service's niceness (default: the Nice= of deploy/systemd/grenswacht.service, as shipped; "
        "below 0 needs root)",
    )
    ap.add_argument(
        "--redis-nice",
        type=int,
        default=0,
        help="Redis's niceness (default 0; e.g. -5: Redis given the service's priority by a drop-in, "
        "docs/benchmarks.md)",
    )
    ap.add_argument(
        "--pbx",
        choices=PBX_MODES,
        default="realtime",
        help="the legitimate generator's scheduling, standing in for Asterisk: realtime (default; "
        "Debian's asterisk.service starts it with -p, SCHED_RR) or normal (nice 0)",
    )
    ap.add_argument("--storm-port", type=int, help=argparse.SUPPRESS)  # internal: be the storm process
    args = ap.parse_args()
    if args.storm_port:
        # On this one machine the attackers' own CPU would compete with the legitimate generator's
        # event loop and with the service; in the field they run elsewhere. Lower priority keeps
        # what is measured the service's doing (open_max and the counts show the storm still ran).
        lower_priority(args.attacker)
        print(
            json.dumps(
                await storm(
                    args.storm_port,
                    args.hostile,
                    args.peers,
                    args.duration,
                    args.reopen,
                    args.connect_rate,
                    from_pbx=args.from_pbx,
                    idle=args.idle,
                    wrong_secret=args.secret,
                )
            ),
            flush=True,
        )
        return 0
    if (
        not 0 < args.hostile <= 50_000
        or not 0 <= args.idle <= 10_000
        or not 0 < args.duration <= 600
        or not 0 < args.peers <= 250
        or not -20 <= args.service_nice <= 19
        or not -20 <= args.redis_nice <= 19
    ):
        print(
            "storm: --hostile 1..50000, --idle 0..10000, --duration 1..600 s, --peers 1..250, "
            "--service-nice and --redis-nice -20..19",
            file=sys.stderr,
        )
        return 2
    if min(args.service_nice, args.redis_nice) < 0 and os.geteuid() != 0:
        print("storm: a negative --service-nice or --redis-nice needs root (or pass 0)", file=sys.stderr)
        return 2

    if args.attacker == "users-idle" and os.geteuid() != 0:
        print("storm: --attacker users-idle needs root (it makes a control group)", file=sys.stderr)
        return 2
    if args.pbx == "realtime":
        if os.geteuid() != 0:
            print("storm: --pbx realtime needs root (or pass --pbx normal)", file=sys.stderr)
            return 2
        as_asterisk()

    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    redis = RedisServer().start()
    if args.redis_nice:
        for thread in os.listdir(f"/proc/{redis.proc.pid}/task"):  # each of Redis's threads has its own
            os.setpriority(os.PRIO_PROCESS, int(thread), args.redis_nice)
    service = storm_proc = None
    try:
        port = free_port()
        cfg = out_dir / "storm.toml"
        peers = "127.0.0.1/32" if args.from_pbx else "127.0.0.0/8"
        cfg.write_text(
            f'[redis]\nurl = "{redis.url}"\nmax_connections = 64\n'
            f'[agi]\nlisten = "127.0.0.1:{port}"\npeers = ["{peers}"]\nworkers = {args.workers}\n'
            f'[storage]\njournal_path = "{out_dir / "storm-journal.jsonl"}"\n'
        )
        secret = secrets.token_hex(24) if args.secret else ""  # never written down: the run's alone
        script = f"screen?secret={secret}" if secret else "screen"
        env = {"GRENSWACHT_LOG_LEVEL": args.log_level, **({"GRENSWACHT_AGI_SECRET": secret} if secret else {})}
        service = start(
            [sys.executable, "-m", "agi", "--config", str(cfg), "serve"],
            env=env,
            log=out_dir / "storm-service.log",
            nice=args.service_nice,
        )
        await wait_port(port)
        await legit(port, args.rate, 1.0, script)  # warm-up
        load = os.getloadavg()[0]
        print(f"legitimate calls alone: {args.rate:g}/s for {args.duration:g} s ...", flush=True)
        cpu0 = cpu_seconds(service.pid)
        alone = await legit(port, args.rate, args.duration, script)
        cpu_alone = cpu_seconds(service.pid) - cpu0
        where = "127.0.0.1 (the PBX's own address)" if args.from_pbx else f"{args.peers} peers"
        print(
            f"starting the storm: {args.hostile:,} hostile, {args.idle:,} idle connections from {where} ...", flush=True
        )
        storm_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--storm-port",
            str(port),
            "--hostile",
            str(args.hostile),
            "--peers",
            str(args.peers),
            "--duration",
            str(args.duration),
            "--connect-rate",
            str(args.connect_rate),
            "--attacker",
            args.attacker,
            "--idle",
            str(args.idle),
            *(["--reopen"] if args.reopen else []),
            *(["--from-pbx"] if args.from_pbx else []),
            *(["--secret"] if args.secret else []),
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(storm_proc.stdout.readline(), 60)  # "start": the storm begins now
        cpu0 = cpu_seconds(service.pid)
        beside = await legit(port, args.rate, args.duration, script)
        load_after = os.getloadavg()[0]
        cpu_beside = cpu_seconds(service.pid) - cpu0
        report = json.loads(await asyncio.wait_for(storm_proc.stdout.readline(), 60))
        await storm_proc.wait()
    finally:
        if storm_proc is not None and storm_proc.returncode is None:
            storm_proc.terminate()
            await storm_proc.wait()
        if service is not None:
            service.terminate()
            service.wait(10)
        redis.cleanup()
        for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")):  # the storm's group, when it made one
            with contextlib.suppress(OSError):
                (root / STORM_CGROUP).rmdir()

    rows = [row("alone", alone, 0, cpu_alone), row("with storm", beside, report["open_max"], cpu_beside)]
    kinds = [
        {
            "kind": kind,
            "share_pct": MIX.get(kind, "-"),
            **{k: c.get(k, 0) for k in ("as expected", "unexpected")},
            "errors": sum(v for k, v in c.items() if k not in ("as expected", "unexpected")),
        }
        for kind, c in report["connections"].items()
        if kind in MIX or args.idle
    ]
    ratio = beside.pct(99) / alone.pct(99)
    longest = max(beside.latencies, default=float("inf")) * 1000
    text = "\n".join(
        [
            f"Machine: {platform.node()} — {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1 min) before the runs: "
            f"{load:.2f}, after: {load_after:.2f}",
            f"Command: bash bench/run --storm --rate {args.rate:g} --duration {args.duration:g} "
            f"--hostile {args.hostile} --peers {args.peers} --connect-rate {args.connect_rate:g} "
            f"--log-level {args.log_level} --workers {args.workers} --attacker {args.attacker}"
            + (f" --idle {args.idle}" if args.idle else "")
            + (" --reopen" if args.reopen else "")
            + (" --from-pbx" if args.from_pbx else "")
            + (" --secret" if args.secret else "")
            + f" --pbx {args.pbx} --service-nice {args.service_nice}"
            + (f" --redis-nice {args.redis_nice}" if args.redis_nice else ""),
            "",
            "Legitimate calls (open loop, connect to close)",
            "",
            table(rows),
            "",
            "Hostile connections completed during the storm, by kind",
            "",
            table(kinds),
            "",
            f"p99 with the storm / alone: {ratio:.2f}x (target <= 3x); longest legitimate call {longest:.1f} ms "
            f"(target <= 500 ms); {beside.fail_open} of {beside.calls} answered fail-open; "
            f"{beside.errors} refused (closed without an answer, or not connected).",
        ]
    )
    (out_dir / "storm.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    from agi.workers import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory("uvloop")) as runner:  # uvloop: both generators
        sys.exit(runner.run(main()))
