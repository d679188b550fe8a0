"""Two Grenswacht service processes on one Redis, as two Asterisk hosts (or a dialplan fallback)
would use them; one is SIGKILLed mid-work and started again.

The caller side does what the documented dialplan fallback does (docs/high-availability.md): a
request the first instance does not answer goes to the second. Asserted: the surviving instance
answers every screening from the store while the other is gone; every key press an agent pressed
is stored exactly once, under the id that instance told the agent (a press the killed instance
had journaled and the second stored again is folded by its (linkedid, source)); the killed
instance's journal is replayed when it starts again and then holds nothing left to do.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from agi.aftercare.journal import STORE, Journal
from agi.engine import Incident
from agi.wiring import build_store
from tests.conftest import make_config
from tests.support.redis_server import RedisServer, free_port
from tests.support.service import ServiceProcess, write_config
from tests.test_failover import screen, until
from tests.test_faults import ACKED, CALLER, press


async def press_with_fallback(ports: tuple[int, int], n: int) -> tuple[str, str, str, int]:
    """A press on the first instance, else on the second: (linkedid, status, id, port that answered)."""
    for port in ports:
        linkedid, status, logged = await press(port, n)
        if status in ACKED or status == "duplicate":
            return linkedid, status, logged, port
    return linkedid, status, logged, 0


async def test_two_instances_one_killed(tmp_path):
    redis = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    procs: list[ServiceProcess] = []
    try:
        seed = build_store(make_config(redis.url))
        await seed.incidents.add_incident(Incident.new("+31201234567", "abuse", time.time() - 86400))
        await seed.close()
        ports = (free_port(), free_port())
        for i, port in enumerate(ports):
            cfg = write_config(tmp_path / f"gw-{i}.toml", redis.url, port, tmp_path / f"state-{i}")
            procs.append(ServiceProcess(cfg, tmp_path / f"service-{i}.log"))
            procs[-1].start(port)
        a, b = procs
        stop = asyncio.Event()
        screened: list[tuple[float, float, str]] = []
        pressed: list[tuple[str, str, str, int]] = []
        load = asyncio.gather(
            until(stop, screened, lambda n: screen(ports[1], n), 0.02),
            until(stop, pressed, lambda n: press_with_fallback(ports, n), 0.01),
        )
        await _until(lambda: len(pressed) >= 10)
        await asyncio.to_thread(a.kill)  # SIGKILL mid-work: presses in flight on it
        killed_at = len(pressed)
        await _until(lambda: len(pressed) >= killed_at + 10)
        await asyncio.to_thread(a.start, ports[0])  # back: its journal is replayed
        restarted_at = len(pressed)
        await _until(lambda: len(pressed) >= restarted_at + 10)
        stop.set()
        await load

        assert {port for *_, port in pressed[killed_at:]} >= {ports[1]}, "the second instance took over"
        assert [r for _, _, r in screened if r != "warn-threshold"] == [], "the surviving instance failed open"
        unanswered = [lid for lid, status, _, _ in pressed if status not in ACKED and status != "duplicate"]
        assert unanswered == []
        told = {lid: iid for lid, status, iid, _ in pressed if status in ACKED}
        store = build_store(make_config(redis.url))
        try:
            deadline = time.monotonic() + 30
            while True:
                by_call: dict[str, list[str]] = {}
                for inc in (await store.screening.load_caller(CALLER)).incidents:
                    by_call.setdefault(inc.linkedid, []).append(inc.id)
                if set(told) <= set(by_call) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert set(told) <= set(by_call), f"{len(set(told) - set(by_call))} presses lost"
            assert [lid for lid, ids in by_call.items() if len(ids) > 1] == [], "a press stored twice"
            assert set(by_call) == {lid for lid, *_ in pressed}, "an incident nobody pressed"
            assert {lid: by_call[lid][0] for lid in told} == told
            owners = await store.incidents.owners([ids[0] for ids in by_call.values()])
            assert set(owners.values()) == {CALLER}
        finally:
            await store.close()
        journal = tmp_path / "state-0" / "journal.jsonl"
        deadline = time.monotonic() + 20
        while _pending(journal, tmp_path) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert _pending(journal, tmp_path) == set(), "the restarted instance left work undone"
    finally:
        for proc in procs:
            proc.stop()
        redis.cleanup()


async def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the load did not go on"
        await asyncio.sleep(0.05)


def _pending(path: Path, tmp: Path) -> set[str]:
    """Incident ids the journal still has to store, read from a copy as the service reads it at start
    (so a line the running service is half-way through writing never disturbs it)."""
    copy = tmp / "journal-copy.jsonl"
    shutil.copyfile(path, copy)
    journal = Journal(copy)
    journal.load()
    return {iid for iid, entry in journal.entries.items() if STORE not in entry.steps}
