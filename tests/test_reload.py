"""Reload on SIGHUP: protocols, DIDs, prompts and routing change at once; a bad file is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agi.config import load_config
from agi.engine import Incident
from agi.reload import plan
from agi.service import Service
from tests.support.agi_client import agi_header, connect, run_call
from tests.support.redis_server import free_port

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))
N = "+31612345678"


def write(path: Path, redis_url: str, port: int, journal: Path, body: str = "") -> None:
    path.write_text(f"""[redis]
url = "{redis_url}"
[agi]
listen = "127.0.0.1:{port}"
screen_budget_ms = 1000
[storage]
journal_path = "{journal}"
{body}""")


STRICT = (
    '[protocols.default]\nwarn_at = 1\nsenior_at = 1\nrefuse_at = 5\n[dids]\n"0201111111" = "lenient"\n'
    '[protocols.lenient]\nwarn_at = 3\nsenior_at = 4\nrefuse_at = 5\n[prompts]\nlanguage = "en"\n'
    '[routing]\nsenior_destination = "Local/seniors@queues"\n'
)


def test_plan_applies_the_hot_sections_and_keeps_the_rest(tmp_path):
    cfg, journal = tmp_path / "a.toml", tmp_path / "j.jsonl"
    write(cfg, "redis://127.0.0.1:6379/0", 4573, journal)
    old = load_config(cfg, env={})
    write(cfg, "redis://127.0.0.1:6390/0", 4574, journal, STRICT + '[metrics]\nlisten = "127.0.0.1:9464"\n')
    new = load_config(cfg, env={})
    p = plan(old, new)
    assert p.changed == ("protocols", "dids", "prompts", "routing")
    assert p.needs_restart == ("redis", "agi", "metrics")
    assert p.config.redis == old.redis and p.config.agi == old.agi and p.config.metrics == old.metrics
    assert p.config.protocols == new.protocols and p.config.routing.senior_destination == "Local/seniors@queues"
    assert plan(old, old).changed == plan(old, old).needs_restart == ()
    # A worker's own journal (<journal_path>.w3, agi.workers) is not a change of [storage].
    worker = old.model_copy(update={"storage": old.storage.model_copy(update={"journal_path": f"{journal}.w3"})})
    assert plan(worker, old).needs_restart == () and plan(worker, old).config.storage.journal_path == f"{journal}.w3"


async def screen(svc, did: str = "0207654321") -> dict[str, str]:
    return (await run_call(svc.host, svc.port, agi_header("screen", "0612345678", "Jansen", args=(did,)))).variables


async def test_reload_changes_the_decision_without_a_restart_and_refuses_a_bad_file(tmp_path, redis_server, store):
    cfg, journal = tmp_path / "gw.toml", tmp_path / "j.jsonl"
    port = free_port()  # a file's listen port is from 1 to 65535
    write(cfg, redis_server.url, port, journal)
    await store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 60, source="cli"))
    svc = Service(load_config(cfg), config_path=str(cfg))
    svc.host, svc.port = await svc.start()
    try:
        assert (await screen(svc))["GW_ACTION"] == "warn"
        # A call under way when the reload happens: it is answered on the configuration it started with.
        reader, writer = await connect(svc.host, svc.port)
        writer.write(agi_header("screen", "0612345678", "Jansen"))
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), 5)
        write(cfg, redis_server.url, port, journal, STRICT)
        with capture_logs() as logs:
            assert svc.reload() is True
        assert [e["event"] for e in logs] == ["config-reloaded"]
        assert b"GW_ACTION=warn" in first
        writer.write(b"200 result=0\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # finished normally, by the server
        writer.close()

        v = await screen(svc)
        assert (v["GW_ACTION"], v["GW_SENIOR"], v["GW_PROMPTS"]) == ("senior", "Local/seniors@queues", "grenswacht/en")
        assert (await screen(svc, did="0201111111"))["GW_ACTION"] == "allow"  # the new DID's protocol
        assert svc.deps.logbook.config is svc.deps.config is svc.config

        cfg.write_text(cfg.read_text() + "[protocols.default.weights]\nabuse = -1\n")
        with capture_logs() as logs:
            assert svc.reload() is False
        [line] = logs
        assert line["event"] == "config-reload-refused" and line["log_level"] == "error"
        assert "weight 'abuse' must be a plain name with a weight >= 0" in line["problem"]
        assert (await screen(svc))["GW_ACTION"] == "senior"  # the last good one is kept

        write(cfg, redis_server.url, free_port(), journal, STRICT)
        cfg.write_text(cfg.read_text().replace("[redis]", '[metrics]\nlisten = "127.0.0.1:1"\n[redis]'))
        with capture_logs() as logs:
            assert svc.reload() is True
        assert [(e["event"], e.get("sections")) for e in logs] == [
            ("config-needs-restart", ["agi", "metrics"]),
            ("config-reloaded", None),
        ]
        assert svc.config.agi.listen == f"127.0.0.1:{port}" and svc.config.metrics.listen == ""
    finally:
        await svc.stop()


@pytest.fixture
def serve(tmp_path, redis_server):
    """`grenswacht serve` as a process, with its config file."""
    port = free_port()
    cfg, journal = tmp_path / "gw.toml", tmp_path / "state" / "j.jsonl"
    write(cfg, redis_server.url, port, journal)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")} | {"GRENSWACHT_CONFIG": str(cfg)}
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([SCRIPT, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    yield proc, cfg, port, journal, tmp_path / "serve.log"
    end(proc)
    log.close()


def end(proc: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not ended within 15 s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_for_action(port: int, action: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            last = (await run_call("127.0.0.1", port, agi_header("screen", "0612345678", "Jansen"))).variables
            if last.get("GW_ACTION") == action:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {last} after {deadline} s")


async def wait_for_log(log: Path, text: str, deadline: float = 30.0) -> None:
    """Until the service's log has a line with ``text`` (the event itself, not a guess at its time)."""
    end = time.monotonic() + deadline
    while text not in log.read_text():
        if time.monotonic() > end:
            raise AssertionError(f"no {text!r} in the log after {deadline} s")
        await asyncio.sleep(0.05)


async def test_sighup_to_the_service_process(serve, store, redis_server):
    proc, cfg, port, journal, log = serve
    await store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 60, source="cli"))
    await wait_for_action(port, "warn")
    write(cfg, redis_server.url, port, journal, STRICT)
    calls = [run_call("127.0.0.1", port, agi_header("screen", f"06{20000000 + i}", "X")) for i in range(30)]
    proc.send_signal(signal.SIGHUP)
    answered = await asyncio.gather(*calls)
    assert all(r.variables.get("GW_ACTION") == "allow" for r in answered)  # none dropped
    await wait_for_action(port, "senior")
    cfg.write_text("[agi\n")  # not TOML
    proc.send_signal(signal.SIGHUP)
    await wait_for_log(log, "config-reload-refused")
    await wait_for_action(port, "senior")
    assert proc.poll() is None
    text = log.read_text()
    assert text.count("config-reloaded") == 1 and text.count("config-reload-refused") == 1
    assert "is not valid TOML" in text


def test_systemd_hears_ready_once_the_port_listens_and_stopping_at_the_end(tmp_path, redis_server):
    """Type=notify: READY=1 when FastAGI listens, STOPPING=1 on SIGTERM (NOTIFY_SOCKET, a datagram socket)."""
    import socket

    port = free_port()
    cfg = tmp_path / "gw.toml"
    write(cfg, redis_server.url, port, tmp_path / "j.jsonl")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        listener.settimeout(20)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")} | {
            "GRENSWACHT_CONFIG": str(cfg),
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
        }
        proc = subprocess.Popen([SCRIPT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert listener.recv(256) == b"READY=1"
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # it listens by the time it says so
            proc.send_signal(signal.SIGTERM)
            assert listener.recv(256) == b"STOPPING=1"
            assert proc.wait(20) == 0
        finally:
            end(proc)
