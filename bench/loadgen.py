"""A FastAGI load generator that behaves like Asterisk: one connection per call, the agi_* block,
then an answer to every command (``200 result=1`` to SET VARIABLE, ``200 result=1 (value)`` to
GET VARIABLE, ``200 result=0`` to EXEC), until the server closes the connection.

Latency is connect-to-close of each call. A call answered fail-open (``GW_REASON`` error,
store-unavailable, bad-request or busy) counts as a call and in ``fail_open``. Closed loop: N calls in flight at all times (how much
the server can take). Open loop: calls started on a fixed schedule (what a busy PBX offers),
each timed from its own connect, so the generator's own backlog does not count as latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from dataclasses import dataclass, field

FAIL_OPEN = (b"GW_REASON=error", b"GW_REASON=store-unavailable", b"GW_REASON=bad-request", b"GW_REASON=busy")


def header(number: str, uniqueid: str, script: str = "screen") -> bytes:
    return (
        f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1/{script}\n"
        f"agi_channel: PJSIP/trunk-{uniqueid}\nagi_language: nl\nagi_type: PJSIP\nagi_uniqueid: {uniqueid}\n"
        f"agi_version: 22.10.1\nagi_callerid: {number}\nagi_calleridname: Bench\nagi_callingpres: 0\n"
        f"agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 0201234567\nagi_rdnis: unknown\n"
        f"agi_context: inbound\nagi_extension: 0201234567\nagi_priority: 5\nagi_enhanced: 0.0\n"
        f"agi_accountcode: \nagi_threadid: 1\nagi_arg_1: 0201234567\n\n"
    ).encode()


class _Call(asyncio.Protocol):
    def __init__(self, payload: bytes, done: asyncio.Future):
        self.payload, self.done, self.buf, self.commands, self.first = payload, done, b"", 0, b""

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.payload)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.commands += 1
            self.first = self.first or line
            if line.startswith(b"SET VARIABLE"):
                self.transport.write(b"200 result=1\n")
            elif line.startswith(b"GET VARIABLE"):
                self.transport.write(b"200 result=1 (x)\n")
            else:
                self.transport.write(b"200 result=0\n")

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result((self.commands, self.first))


async def one_call(host: str, port: int, payload: bytes, timeout: float = 5.0) -> tuple[float, bytes]:
    """Seconds from connect to the server closing the call, and the first command it sent;
    raises on error or a call with no answer."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    start = time.perf_counter()
    transport, _ = await loop.create_connection(lambda: _Call(payload, done), host, port)
    try:
        commands, first = await asyncio.wait_for(done, timeout)
    finally:
        transport.close()
    if commands == 0:
        raise RuntimeError("the server closed without a command")
    return time.perf_counter() - start, first


@dataclass
class Result:
    mode: str
    calls: int = 0
    errors: int = 0
    fail_open: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    def row(self) -> dict:
        return {
            "mode": self.mode,
            "calls": self.calls,
            "errors": self.errors,
            "calls_per_s": round(self.rate),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
        }


async def _timed(res: Result, host: str, port: int, payload: bytes) -> None:
    """One call into ``res``: its latency, or an error."""
    try:
        seconds, first = await one_call(host, port, payload)
    except (TimeoutError, OSError, RuntimeError):
        res.errors += 1
        return
    res.latencies.append(seconds)
    res.calls += 1
    res.fail_open += any(reason in first for reason in FAIL_OPEN)


def numbers(population: int, seed: int = 7):
    rnd = random.Random(seed)
    while True:
        yield f"+316{rnd.randrange(population):08d}"


@contextlib.contextmanager
def generator_gc_paused():
    """The generator's own garbage collections (tens of ms for a full one) would stall its event
    loop and count as the server's latency: paused while a load step runs (a step makes few
    reference cycles, and runs for seconds)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def closed_loop(host: str, port: int, concurrency: int, duration: float, population: int) -> Result:
    with generator_gc_paused():
        return await _closed_loop(host, port, concurrency, duration, population)


async def open_loop(
    host: str, port: int, rate: float, duration: float, population: int, script: str = "screen"
) -> Result:
    """``script``: the AGI script as the dialplan writes it, e.g. ``screen?secret=...``."""
    with generator_gc_paused():
        return await _open_loop(host, port, rate, duration, population, script)


async def _closed_loop(host: str, port: int, concurrency: int, duration: float, population: int) -> Result:
    res = Result(f"closed c={concurrency}")
    gen = numbers(population, concurrency)
    stop = time.perf_counter() + duration
    counter = [0]

    async def worker():
        while time.perf_counter() < stop:
            counter[0] += 1
            await _timed(res, host, port, header(next(gen), f"{counter[0]}.1"))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    res.seconds = time.perf_counter() - t0
    return res


async def _open_loop(host: str, port: int, rate: float, duration: float, population: int, script: str) -> Result:
    res = Result(f"open {int(rate)}/s")
    gen = numbers(population, 99)
    total = int(rate * duration)
    tasks = []

    t0 = time.perf_counter()
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_timed(res, host, port, header(next(gen), f"{i}.1", script))))
    await asyncio.gather(*tasks)
    res.seconds = max(time.perf_counter() - t0, duration)
    return res


def summary(results: list[Result]) -> str:
    return "\n".join(
        f"{r.mode:>14}  {r.rate:8.0f} calls/s  p50 {r.pct(50):6.2f} ms  p99 {r.pct(99):6.2f} ms  errors {r.errors}"
        for r in results
    )


if __name__ == "__main__":  # quick manual use: python -m bench.loadgen HOST PORT
    import sys

    h, p = sys.argv[1], int(sys.argv[2])
    print(summary([asyncio.run(closed_loop(h, p, c, 3, 1_000_000)) for c in (1, 50)]))
