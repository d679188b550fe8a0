"""/metrics, /healthz and /readyz of a running service, scraped while calls are screened (real Redis)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from agi import metrics, wiring
from agi.callbacks.appointments import new_appointment, save_new
from agi.engine import Ban
from agi.service import Service
from redis_schema.records import Cooldown
from tests.conftest import make_config
from tests.support.agi_client import agi_header, hostile, run_call
from tests.support.redis_server import free_port

N = "+31612345678"
ROOT = str(Path(__file__).resolve().parents[1])


async def http(port: int, path: str, method: str = "GET", raw: bytes | None = None) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw if raw is not None else f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    async with asyncio.timeout(10):
        data = await reader.read()
    writer.close()
    if not data:
        return 0, ""
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(port: int) -> dict[tuple[str, tuple], float]:
    status, body = await http(port, "/metrics")
    assert status == 200
    return samples(body)


def value(s: dict, name: str, **labels) -> float:
    return s.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def served(redis_server, store):
    port = free_port()
    # A budget a loaded test machine keeps with 40 calls at once (a slower read would fail open).
    svc = Service(
        make_config(redis_server.url, metrics={"listen": f"127.0.0.1:{port}"}, agi={"screen_budget_ms": 1000})
    )
    svc.host, svc.port = await svc.start()
    svc.metrics_port = port
    yield svc
    await svc.stop()


async def call(svc, callerid="0612345678", script="screen"):
    return await run_call(svc.host, svc.port, agi_header(script, callerid, "Jansen"))


async def test_screenings_are_counted_by_action_and_reason_while_being_scraped(served, store):
    await store.lists.set_ban(N, Ban(until=time.time() + 999))
    before = await scrape(served.metrics_port)

    async def scrape_meanwhile():
        for _ in range(10):
            await scrape(served.metrics_port)

    results = await asyncio.gather(
        *(call(served, f"06{10000000 + i}") for i in range(40)), call(served), scrape_meanwhile()
    )
    assert [r.variables["GW_REASON"] for r in results[:40]] == ["clean"] * 40
    assert results[40].variables["GW_REASON"] == "banned"
    after = await scrape(served.metrics_port)
    delta = lambda name, **l: value(after, name, **l) - value(before, name, **l)  # noqa: E731
    assert delta("grenswacht_screenings_total", action="allow", reason="clean") == 40
    assert delta("grenswacht_screenings_total", action="refuse", reason="banned") == 1
    assert delta("grenswacht_screening_seconds_count") == 41
    assert delta("grenswacht_screening_seconds_bucket", le="+Inf") == 41
    assert value(after, "grenswacht_agi_slots") == served.config.agi.max_connections


async def test_health_and_readiness(served, store, rdb):
    assert await http(served.metrics_port, "/healthz") == (200, "alive\n")
    status, body = await http(served.metrics_port, "/readyz")
    assert status == 200 and body == "ready: the store answers; AMI not configured\n"
    errors = value(await scrape(served.metrics_port), "grenswacht_store_errors_total", operation="ready-probe")
    await rdb.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    status, body = await http(served.metrics_port, "/readyz")
    assert status == 503 and body.startswith("not ready: the store did not answer within 1000 ms")
    # The pause is over when a command of our own is answered again (the store's reads time out
    # after 5 s, longer than the pause).
    assert await rdb.ping()
    assert (await http(served.metrics_port, "/readyz"))[0] == 200
    after = value(await scrape(served.metrics_port), "grenswacht_store_errors_total", operation="ready-probe")
    assert after == errors + 1


async def test_readiness_wants_ami_when_it_is_configured(redis_server):
    port = free_port()
    cfg = make_config(redis_server.url, metrics={"listen": f"127.0.0.1:{port}"}, ami={"secret": "s" * 20})
    svc = Service(cfg)
    await svc.start()
    try:
        assert await http(port, "/readyz") == (503, "not ready: not logged in to AMI\n")
        assert value(await scrape(port), "grenswacht_ami_connected") == 0
    finally:
        await svc.stop()


async def test_fail_opens_and_store_errors_are_counted(redis_server):
    port = free_port()
    svc = Service(make_config("redis://127.0.0.1:1/0", metrics={"listen": f"127.0.0.1:{port}"}))
    svc.host, svc.port = await svc.start()
    try:
        before = await scrape(port)
        r = await call(svc)
        assert r.variables["GW_REASON"] == "store-unavailable"
        await hostile("duplicate", svc.host, svc.port)
        assert await hostile("silent", svc.host, svc.port, bind="127.0.0.2") == b""  # not in [agi] peers
        after = await scrape(port)
        delta = lambda name, **l: value(after, name, **l) - value(before, name, **l)  # noqa: E731
        assert delta("grenswacht_fail_opens_total", route="screen", reason="store-unavailable") == 1
        assert delta("grenswacht_fail_opens_total", route="screen", reason="bad-request") == 1
        assert delta("grenswacht_store_errors_total", operation="screen") == 1
        # Peer failures, counted whether or not their log line is held back.
        assert delta("grenswacht_agi_peer_failures_total", reason="untrusted-request") == 1
        assert delta("grenswacht_agi_peer_failures_total", reason="refused-peer") == 1
        assert (await http(port, "/readyz"))[0] == 503
    finally:
        await svc.stop()


async def test_gauges_follow_the_journal_the_cooldowns_and_the_callbacks(served, store):
    now = time.time()
    for agent in ("PJSIP/a", "PJSIP/b"):
        await store.cooldowns.swap(agent, None, Cooldown(agent, ("q",), now, now + 300))
    for due, status in ((now - 60, "scheduled"), (now + 3600, "scheduled"), (now - 600, "failed")):
        appt = new_appointment(caller=N, agent="PJSIP/a", queue="q", due=due, now=now - 7200)
        await save_new(store, replace(appt, status=status))
    await metrics.sample_store(served.deps)
    metrics.sample_local(served.deps, served.server)
    s = await scrape(served.metrics_port)
    assert value(s, "grenswacht_cooldowns_active") == 2
    assert (value(s, "grenswacht_callbacks_due"), value(s, "grenswacht_callbacks_failed")) == (1, 1)
    assert value(s, "grenswacht_journal_entries") == served.deps.logbook.journal.pending()
    assert value(s, "grenswacht_agi_slots_in_use") == 0


async def test_a_metrics_port_in_use_does_not_stop_the_service(served, redis_server):
    second = Service(make_config(redis_server.url, metrics={"listen": f"127.0.0.1:{served.metrics_port}"}))
    with capture_logs() as logs:
        second.host, second.port = await second.start()
    try:
        [line] = [e for e in logs if e["event"] == "metrics-http-not-started"]
        assert line["log_level"] == "error" and line["listen"] == f"127.0.0.1:{served.metrics_port}"
        assert second.http is None
        assert (await call(second)).variables["GW_ACTION"] == "allow"  # calls are served all the same
    finally:
        await second.stop()


async def test_the_http_endpoint_is_bounded_and_plain(served):
    port = served.metrics_port
    assert (await http(port, "/nothing"))[0] == 404
    assert (await http(port, "/metrics", method="POST"))[0] == 405
    status, body = await http(port, "/healthz", method="HEAD")
    assert status == 200 and body == ""
    assert (await http(port, "", raw=b"GET /metrics\r\n\r\n"))[0] == 400
    # A request head larger than the bound is closed without an answer.
    assert await http(port, "", raw=b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10_000 + b"\r\n\r\n") == (0, "")
    assert (await http(port, "/healthz"))[0] == 200  # and the server still answers


WORKER = """
import sys
from agi import metrics, wiring
metrics.screened("allow", "clean", 0.002)
metrics.screened("allow", "store-unavailable", 0.1)
metrics.SLOTS.set(int(sys.argv[1])); metrics.AMI_CONNECTED.set(1)
"""


async def test_worker_processes_are_added_up_by_the_parent_endpoint(tmp_path, redis_server):
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": "/usr/bin:/bin"}
    for slots in (100, 200):
        subprocess.run([sys.executable, "-c", WORKER, str(slots)], env=env, check=True, timeout=60, cwd=ROOT)
    port = free_port()
    cfg = make_config(redis_server.url, metrics={"listen": f"127.0.0.1:{port}"})
    stop = await asyncio.to_thread(wiring.parent_http, cfg, str(folder))
    try:
        s = await scrape(port)
        assert value(s, "grenswacht_screenings_total", action="allow", reason="clean") == 2
        assert value(s, "grenswacht_fail_opens_total", route="screen", reason="store-unavailable") == 2
        assert value(s, "grenswacht_screening_seconds_count") == 4
        assert value(s, "grenswacht_agi_slots") == 300  # livesum
        assert await http(port, "/readyz") == (200, "ready: the store answers; AMI not configured\n")
    finally:
        await asyncio.to_thread(stop)
    assert await asyncio.to_thread(wiring.parent_http, make_config(redis_server.url), str(folder)) is None
