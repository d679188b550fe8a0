"""Hostile FastAGI peers beside legitimate calls (issue 9: bounded admission, only the PBX may speak).

The server is driven directly with a tiny route table and a minimal deps object whose route
stores each call in a real Redis; the last test runs the real service process. Distinct peers
are distinct loopback source addresses (127.0.0.x). No test asserts how fast anything is:
latency targets are in bench/storm.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from structlog.testing import capture_logs

from agi.config import AgiConfig
from agi.fastagi.server import FD_TABLE_PRESIZE, REQUEST_LINES, REQUEST_WINDOW, FastAgiServer, _DueQueue, _Quiet
from tests.support.agi_client import HOSTILE_KINDS, agi_header, connect, hostile, hostile_payload, read_to_end, run_call
from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "c0ffee-Grenswacht-7e57"
SCREENED = 'EXEC MSet "GW_ACTION=allow,GW_REASON=clean"'
FALLBACK_BAD = b'EXEC MSet "GW_ACTION=allow,GW_REASON=bad-request"\n'
FALLBACK_ERROR = 'EXEC MSet "GW_ACTION=allow,GW_REASON=error"'
FALLBACK_BUSY = 'EXEC MSet "GW_ACTION=allow,GW_REASON=busy"'
UNKNOWN_ROUTE = b'SET VARIABLE GW_RESULT "error"\n'

# What each hostile kind may receive from the tiny route table below, and nothing else.
RECEIVES = {
    "silent": {b""},
    "half": {b""},
    "slowloris": {b""},
    "huge": {b""},
    "garbage": {UNKNOWN_ROUTE},
    "duplicate": {FALLBACK_BAD},
    "injection": {FALLBACK_BAD},
    "mute": {SCREENED.encode() + b"\n"},
    "hangup": {SCREENED.encode() + b"\n"},
}


class Recorder:
    """A route that stores every call it serves in Redis, then answers with one MSet."""

    async def handle(self, session, deps):
        await deps.redis.rpush("test:served", session.uniqueid)
        await session.set_variables({"GW_ACTION": "allow", "GW_REASON": "clean"})

    async def fallback(self, session, deps, reason):
        await session.set_variables({"GW_ACTION": "allow", "GW_REASON": reason})


class Broken(Recorder):
    async def handle(self, session, deps):
        raise RuntimeError("a bug in the route")


class Stuck(Recorder):
    """A route that never finishes on its own (a store or AMI wait gone wrong)."""

    started = None

    async def handle(self, session, deps):
        Stuck.started.set()
        await asyncio.Event().wait()


ROUTES = {"screen": Recorder(), "endlog": Recorder(), "broken": Broken(), "stuck": Stuck()}


@pytest_asyncio.fixture
async def redis(redis_server):
    client = Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/3", decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


def counting(counter: Counter):
    """An on_peer_failure hook that counts events in ``counter``."""

    def count(event: str) -> None:
        counter[event] += 1

    return count


@pytest_asyncio.fixture
async def serve(redis):
    """serve(**agi_settings) -> a started FastAgiServer with .host/.port; all stopped after the test."""
    servers = []

    async def start(host="127.0.0.1", **settings):
        failures = Counter()
        server = FastAgiServer(
            ROUTES, SimpleNamespace(redis=redis), AgiConfig.model_validate(settings), counting(failures)
        )
        server.failures = failures  # every peer failure by event, as the service's counter has them
        server.host, server.port = await server.start(host, 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def call(server, n=1, *, bind="127.0.0.1", script="screen"):
    return await run_call(server.host, server.port, agi_header(script, uniqueid=f"legit.{n}"), bind=bind)


def tracebacks(logs):
    return [e for e in logs if e.get("exc_info") or e.get("exception")]


@pytest.fixture
def asyncio_errors(caplog):
    """Errors that asyncio itself logs (an unretrieved task exception, a failing callback)."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "asyncio"]


async def test_a_hostile_storm_beside_legitimate_calls(serve, redis, asyncio_errors):
    server = await serve(peers=["127.0.0.0/8"], header_timeout=1.0, command_timeout=1.0, max_connections=100)
    kinds = [(kind, i) for i in range(40) for kind in HOSTILE_KINDS if kind not in ("mute", "hangup") or i < 10]
    with capture_logs() as logs:
        storm = [
            asyncio.create_task(
                hostile(kind, server.host, server.port, bind=f"127.0.0.{2 + i % 19}", uniqueid=f"hostile.{kind}.{i}")
            )
            for kind, i in kinds
        ]
        await asyncio.sleep(0.2)  # the storm is in place
        legit = await asyncio.gather(*(call(server, n) for n in range(60)))
        received = await asyncio.gather(*storm)
        await asyncio.sleep(REQUEST_WINDOW + 0.5)  # what the log held back is reported by then
    for r in legit:
        assert r.commands == [SCREENED] and r.closed_by_server
    for (kind, _), got in zip(kinds, received):
        assert got in RECEIVES[kind], (kind, got[:200])
    served = await redis.lrange("test:served", 0, -1)
    assert sorted(served) == sorted(
        [f"legit.{n}" for n in range(60)] + [f"hostile.{kind}.{i}" for i in range(10) for kind in ("mute", "hangup")]
    )
    assert not tracebacks(logs) and not asyncio_errors()
    # Each peer that got a command and never answered times out at the end of its one period:
    # every one counted, REQUEST_LINES a second logged with its uniqueid, the rest reported held back.
    never_answered = sum(kind in ("mute", "duplicate", "injection", "garbage") for kind, _ in kinds)
    timeouts = [e for e in logs if e["event"] == "fastagi-timeout"]
    held = [e for e in logs if e["event"] == "fastagi-log-lines-held-back"]
    assert server.failures["fastagi-timeout"] == never_answered == 130
    assert REQUEST_LINES <= len(timeouts) < never_answered
    sent = {f"hostile.{kind}.{i}" for kind, i in kinds} | {""}  # garbage has no agi_uniqueid
    assert all(e["waiting_on_peer"] and e["uniqueid"] in sent for e in timeouts)
    assert len(timeouts) + sum(e["events"].get("fastagi-timeout", 0) for e in held) == never_answered
    assert len(logs) < len(kinds) / 2  # not a line per junk connection
    assert sum(e["event"] == "fastagi-peer-gone" for e in logs) == server.failures["fastagi-peer-gone"] == 10


async def test_thousands_of_idle_connections_do_not_keep_a_call_from_its_answer(serve, redis):
    server = await serve(peers=["127.0.0.0/8"], header_timeout=60.0, max_connections=10)
    idle = [await connect(server.host, server.port, f"127.0.0.{2 + i % 12}") for i in range(3000)]
    r = await call(server)
    assert r.commands == [SCREENED]
    assert await redis.lrange("test:served", 0, -1) == ["legit.1"]
    assert not any(reader.at_eof() for reader, _ in idle)  # they were served around, not dropped
    await asyncio.wait_for(server.stop(), 30)  # and stop() closes them all
    for reader, writer in idle:
        assert await asyncio.wait_for(read_to_end(reader), 10) == b""
        writer.close()


async def test_a_refused_peer_gets_nothing_and_changes_nothing(serve, redis):
    server = await serve()  # default peers: 127.0.0.1/32, ::1/128
    header = agi_header("endlog", uniqueid="intruder", args=("threat",))
    with capture_logs() as logs:
        for _ in range(20):
            reader, writer = await connect(server.host, server.port, "127.0.0.2")
            writer.write(header)
            assert await asyncio.wait_for(read_to_end(reader), 10) == b""
            writer.close()
        r = await call(server)  # the PBX itself is still served
    assert r.commands == [SCREENED]
    assert await redis.lrange("test:served", 0, -1) == ["legit.1"]
    refused = [e for e in logs if e["event"] == "fastagi-refused-peer"]
    assert len(refused) == 1 and refused[0]["peer"] == "127.0.0.2"  # rate-limited: one line for 20


async def test_ipv6_loopback_and_ipv4_mapped_peers(serve):
    server = await serve(host="::1")
    assert (await call(server, bind="::1")).commands == [SCREENED]
    assert server._allowed_peer("::ffff:127.0.0.1") == "127.0.0.1"  # as a dual-stack socket reports it
    assert server._allowed_peer("::ffff:127.0.0.2") is None
    assert server._allowed_peer("not an address") is None


async def test_the_shared_secret(serve, redis):
    server = await serve(secret=SECRET)
    scripts = {
        "wrong": "endlog?secret=guess",
        "missing": "endlog",
        "empty": "endlog?secret=",
        "twice": f"endlog?secret={SECRET}&secret={SECRET}",
        "prefix": f"endlog?secret={SECRET[:-1]}",
    }
    with capture_logs() as logs:
        for name, script in scripts.items():
            r = await run_call(server.host, server.port, agi_header(script, uniqueid=name), bind="127.0.0.1")
            assert r.commands == [] and r.closed_by_server, name
        right = await run_call(server.host, server.port, agi_header(f"screen?secret={SECRET}&x=1", uniqueid="right"))
    assert right.commands == [SCREENED]
    assert await redis.lrange("test:served", 0, -1) == ["right"]
    assert [e["route"] for e in logs if e["event"] == "fastagi-refused-secret"] == ["endlog"]  # rate-limited
    assert SECRET not in repr(logs) and "guess" not in repr(logs)


async def test_a_peer_that_never_answers_holds_its_slot_for_one_bounded_period(serve, redis, asyncio_errors):
    server = await serve(header_timeout=0.3, command_timeout=0.7, max_connections=1)
    with capture_logs() as logs:
        reader, writer = await connect(server.host, server.port)
        writer.write(agi_header("screen", uniqueid="mute"))
        assert await asyncio.wait_for(reader.readline(), 10) == SCREENED.encode() + b"\n"
        busy = await call(server, 1)  # the only slot is held: fail-open at once
        assert await asyncio.wait_for(read_to_end(reader), 10) == b""  # closed; no second command
        after = await call(server, 2)  # the slot is free again
    assert busy.commands == [FALLBACK_BUSY] and after.commands == [SCREENED]
    assert await redis.lrange("test:served", 0, -1) == ["mute", "legit.2"]
    [timeout] = [e for e in logs if e["event"] == "fastagi-timeout"]
    assert timeout["uniqueid"] == "mute" and timeout["waiting_on_peer"] is True
    assert [e["uniqueid"] for e in logs if e["event"] == "fastagi-busy"] == ["legit.1"]
    assert not tracebacks(logs) and not asyncio_errors()
    writer.close()


async def test_per_peer_and_overall_caps_close_at_once(serve):
    server = await serve(peers=["127.0.0.0/8"], header_timeout=60.0, max_per_peer=3)
    held = [await connect(server.host, server.port, "127.0.0.5") for _ in range(3)]
    reader, writer = await connect(server.host, server.port, "127.0.0.5")
    assert await asyncio.wait_for(read_to_end(reader), 10) == b""  # the fourth: closed, nothing written
    assert not any(r.at_eof() for r, _ in held)  # the three are still waiting
    assert (await call(server, bind="127.0.0.6")).commands == [SCREENED]  # another peer is served
    held[0][1].write_eof()  # one of the three hangs up ...
    assert await asyncio.wait_for(read_to_end(held[0][0]), 10) == b""  # ... and the server has let it go
    assert (await call(server, bind="127.0.0.5")).commands == [SCREENED]  # so a place came free
    server.max_open = 2  # the two still held fill the whole server now
    reader, writer = await connect(server.host, server.port, "127.0.0.7")
    assert await asyncio.wait_for(read_to_end(reader), 10) == b""
    for _, w in held:
        w.close()


async def test_an_oversized_header_is_closed_at_once_not_at_its_deadline(serve):
    server = await serve(header_timeout=60.0, max_header_bytes=4096)
    reader, writer = await connect(server.host, server.port)
    writer.write(b"agi_network: yes\nagi_x: " + b"a" * 100_000)  # no end in sight
    assert await asyncio.wait_for(read_to_end(reader), 10) == b""
    assert (await call(server)).commands == [SCREENED]
    writer.close()


async def test_an_unexpected_route_failure_is_one_traceback_and_the_fallback(serve):
    server = await serve()
    with capture_logs() as logs:
        r = await call(server, script="broken")
    assert r.commands == [FALLBACK_ERROR]
    [failed] = tracebacks(logs)
    assert (failed["event"], failed["route"], failed["uniqueid"]) == ("fastagi-route-failed", "broken", "legit.1")


async def test_stop_with_open_connections_returns(serve, asyncio_errors):
    server = await serve(header_timeout=30.0, command_timeout=30.0)
    idle = [await connect(server.host, server.port) for _ in range(5)]
    mute_reader, mute_writer = await connect(server.host, server.port)
    mute_writer.write(agi_header("screen", uniqueid="mute"))
    assert await asyncio.wait_for(mute_reader.readline(), 10) == SCREENED.encode() + b"\n"
    await asyncio.wait_for(server.stop(), 10)
    for reader, writer in [*idle, (mute_reader, mute_writer)]:
        assert await asyncio.wait_for(read_to_end(reader), 10) == b""
        writer.close()
    assert not asyncio_errors()


# -- the real service process ---------------------------------------------------------------


async def keyspace(client: Redis) -> dict:
    return {key: await client.dump(key) for key in await client.keys("*")}


async def test_peer_failure_lines_are_rate_limited_and_every_one_is_counted():
    """The two policies of the limiter, on a clock of our own: per key per window, and in all."""
    now, counted = [0.0], Counter()
    requests = _Quiet(1.0, float("inf"), 3, counting(counted), clock=lambda: now[0])
    peers = _Quiet(60.0, 2, 1, counting(counted), clock=lambda: now[0])
    with capture_logs() as logs:
        for n in range(7):
            requests.line("warning", "fastagi-timeout", "fastagi-timeout", uniqueid=f"t.{n}")
        requests.line("error", "fastagi-unknown-route", "fastagi-unknown-route", uniqueid="u.0")
        for peer in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"):
            peers.line("warning", "fastagi-refused-peer", ("fastagi-refused-peer", peer), peer=peer)
        assert [e.get("uniqueid") or e["peer"] for e in logs] == ["t.0", "t.1", "t.2", "u.0", "10.0.0.1", "10.0.0.2"]
        now[0] = 1.0  # a new window: the held lines are reported first
        requests.line("warning", "fastagi-timeout", "fastagi-timeout", uniqueid="t.7")
        peers.flush()
    assert counted == {"fastagi-timeout": 8, "fastagi-unknown-route": 1, "fastagi-refused-peer": 4}
    assert [(e["event"], e.get("events"), e.get("uniqueid")) for e in logs[6:]] == [
        ("fastagi-log-lines-held-back", {"fastagi-timeout": 4}, None),
        ("fastagi-timeout", None, "t.7"),
        ("fastagi-log-lines-held-back", {"fastagi-refused-peer": 2}, None),
    ]
    assert logs[6]["lines"] == 4 and logs[6]["log_level"] == "warning" and logs[3]["log_level"] == "error"


async def test_a_failure_counter_that_fails_changes_nothing_for_the_peer(redis):
    """A metrics store that raises (a full /dev/shm): the refused peer is still closed at once,
    the untrusted request still gets its fallback, and the stop reports what was not counted."""

    def broken(event: str) -> None:
        raise OSError("No space left on device")

    server = FastAgiServer(ROUTES, SimpleNamespace(redis=redis), AgiConfig.model_validate({}), broken)
    server.host, server.port = host, port = await server.start("127.0.0.1", 0)
    with capture_logs() as logs:
        try:
            reader, writer = await connect(host, port, "127.0.0.2")  # not in [agi] peers
            assert await asyncio.wait_for(read_to_end(reader), 10) == b""
            writer.close()
            untrusted = await run_call(host, port, hostile_payload("duplicate", uniqueid="dup"))
            assert untrusted.commands == [FALLBACK_BAD.decode().strip()] and untrusted.closed_by_server
            assert (await call(server)).commands == [SCREENED]
            assert not server._conns
        finally:
            await server.stop()
    # one from each limiter: the refused peer's (header phase) and the untrusted request's
    assert [e["failures"] for e in logs if e["event"] == "fastagi-peer-failures-not-counted"] == [1, 1]
    assert not tracebacks(logs)


async def test_lines_held_back_are_reported_when_the_window_ends_even_if_no_line_follows():
    counted = Counter()
    quiet = _Quiet(0.2, float("inf"), 1, counting(counted))
    with capture_logs() as logs:
        for n in range(5):
            quiet.line("info", "fastagi-peer-gone", "fastagi-peer-gone", uniqueid=f"g.{n}")
        assert len(logs) == 1
        await asyncio.sleep(0.5)
    assert [(e["event"], e.get("lines")) for e in logs] == [
        ("fastagi-peer-gone", None),
        ("fastagi-log-lines-held-back", 4),
    ]
    assert counted["fastagi-peer-gone"] == 5


def fd_table_size(pid: int | str = "self") -> int:
    """How many descriptors the kernel's table of a process holds now (FDSize in its status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("FDSize:")))


PRESIZE_PROBE = """
import json, os, resource, sys
from pathlib import Path
from agi.fastagi.server import presize_fd_table
from tests.test_fastagi_hostile import fd_table_size
def fds():                          # the listing's own descriptor is gone when it is read
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            pass
    return found
kept = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
before, open_before = fd_table_size(), fds()
presize_fd_table(int(sys.argv[1]))
print(json.dumps([before, fd_table_size(), open_before == fds(), resource.getrlimit(resource.RLIMIT_NOFILE)[0]]))
"""


@pytest.mark.parametrize("count", [4096, 1 << 30])
def test_the_descriptor_table_is_grown_once_at_start_and_nothing_open_is_touched(count):
    """The table's growth (each doubling waits for an RCU grace period in a process with threads)
    happens at start, not in accept() under a storm; a size past the limit is a log line, no error."""
    out = subprocess.run(
        [sys.executable, "-c", PRESIZE_PROBE, str(count)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    before, after, untouched, soft = json.loads(out.stdout.splitlines()[-1])
    assert untouched  # same descriptors, same files, the probe closed
    if count <= soft:
        assert before < count <= after
    else:
        assert after == before and "fastagi-fd-table-not-presized" in out.stdout + out.stderr


async def test_the_real_service_process(redis_server, tmp_path):
    """`python -m agi serve`: refused peer, wrong secret, a storm beside calls, then SIGTERM."""
    url = redis_server.url.rsplit("/", 1)[0] + "/4"
    client = Redis.from_url(url)
    await client.flushdb()
    port = free_port()
    config = tmp_path / "grenswacht.toml"
    config.write_text(
        f'[redis]\nurl = "{url}"\n[agi]\nlisten = "127.0.0.1:{port}"\nheader_timeout = 1.0\n'
        f'command_timeout = 1.0\nscreen_budget_ms = 3000\n[ami]\naddress = "127.0.0.1:1"\n'
        f'[storage]\njournal_path = "{tmp_path / "journal.jsonl"}"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agi",
        "serve",
        "--config",
        str(config),
        cwd=REPO,
        env={**os.environ, "GRENSWACHT_AGI_SECRET": SECRET, "GRENSWACHT_LOG_LEVEL": "INFO"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr = asyncio.create_task(proc.stderr.read())
    try:
        for _ in range(400):
            try:
                _, writer = await connect("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        assert fd_table_size(proc.pid) >= min(hard, FD_TABLE_PRESIZE)  # grown once, at start
        before = await keyspace(client)
        endlog = agi_header(f"endlog?secret={SECRET}", uniqueid="intruder", args=("threat",))
        refused = await run_call("127.0.0.1", port, endlog, bind="127.0.0.2")
        wrong = await run_call("127.0.0.1", port, agi_header("endlog?secret=guess", args=("threat",)))
        assert refused.commands == wrong.commands == [] and refused.closed_by_server and wrong.closed_by_server
        await asyncio.sleep(1.5)  # past the service's once-a-second writes
        assert await keyspace(client) == before  # nothing stored

        kinds = [kind for kind in HOSTILE_KINDS for _ in range(25)]
        storm = [
            asyncio.create_task(
                hostile(kind, "127.0.0.1", port, script=f"screen?secret={SECRET}", uniqueid=f"hostile.{i}")
            )
            for i, kind in enumerate(kinds)
        ]
        await asyncio.sleep(0.2)
        header = agi_header(f"screen?secret={SECRET}", "0612345678")
        legit = await asyncio.gather(*(run_call("127.0.0.1", port, header) for _ in range(40)))
        received = await asyncio.gather(*storm)
        for r in legit:
            assert (r.variables["GW_ACTION"], r.variables["GW_REASON"]) == ("allow", "clean"), r.commands
            assert len(r.commands) == 1 and r.commands[0].startswith('EXEC MSet "GW_ACTION=allow,GW_REASON=clean,')
        for kind, got in zip(kinds, received):
            if kind in ("mute", "hangup"):
                assert got.startswith(b'EXEC MSet "GW_ACTION=allow,GW_REASON=clean,') and got.count(b"\n") == 1
            elif kind == "garbage":
                assert got == b""  # no secret: closed without an answer
            else:
                assert got in RECEIVES[kind], (kind, got[:200])
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
        log_text = (await stderr).decode()
        await client.aclose()
    assert code == 0, log_text[-2000:]
    assert "Traceback" not in log_text and SECRET not in log_text and "guess" not in log_text
    assert '"fastagi-refused-peer"' in log_text and '"fastagi-refused-secret"' in log_text


async def test_idle_connections_wait_out_their_deadline_on_one_shared_timer(serve):
    """A header deadline is a place in the server's queue, not a loop timer per connection (under
    uvloop a timer, a libuv handle, a context and a bound method, for every idle peer)."""
    loop = asyncio.get_running_loop()
    server = await serve(peers=["127.0.0.0/8"], header_timeout=3.0)
    timers = lambda: sum(not handle.cancelled() for handle in loop._scheduled)  # noqa: E731
    before = timers()
    opened = loop.time()
    idle = [await connect(server.host, server.port, f"127.0.0.{2 + i % 5}") for i in range(200)]
    async with asyncio.timeout(10):
        while len(server._conns) < 200:
            await asyncio.sleep(0.01)
    assert len(server._header_due) == 200 and timers() <= before + 1
    assert await asyncio.wait_for(read_to_end(idle[0][0]), 10) == b""  # closed at its deadline,
    assert loop.time() - opened >= 3.0 - _DueQueue.SLACK  # not before it
    for reader, writer in idle:
        assert await asyncio.wait_for(read_to_end(reader), 10) == b""
        writer.close()
    assert len(server._header_due) == 0 and len(server._period_due) == 0


async def test_the_deadline_queue_calls_in_order_each_at_its_time_and_stops_when_closed():
    loop = asyncio.get_running_loop()
    seen = []
    queue = _DueQueue(loop, 0.05, lambda c: seen.append((c.name, loop.time() - c.accepted)))
    start = loop.time()
    for i, name in enumerate("abc"):
        queue.add(SimpleNamespace(name=name, accepted=start + i * 0.03))
    await asyncio.sleep(0.25)
    assert [name for name, _ in seen] == ["a", "b", "c"]
    assert all(waited >= 0.05 - _DueQueue.SLACK for _, waited in seen)
    assert len(queue) == 0 and queue._timer is None
    queue.add(SimpleNamespace(name="d", accepted=loop.time()))
    queue.close()
    await asyncio.sleep(0.1)
    assert [name for name, _ in seen] == ["a", "b", "c"]


async def test_a_route_still_at_work_after_its_peer_is_gone_ends_with_the_period(serve, asyncio_errors):
    server = await serve(header_timeout=0.3, command_timeout=3.0, max_connections=1)
    Stuck.started = asyncio.Event()
    with capture_logs() as logs:
        reader, writer = await connect(server.host, server.port)
        writer.write(agi_header("stuck", uniqueid="stuck"))
        await asyncio.wait_for(Stuck.started.wait(), 10)
        linger = writer.get_extra_info("socket")  # the peer is gone (a reset: the server's
        linger.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # side closes)
        writer.transport.abort()  # and the route holds the only slot
        async with asyncio.timeout(10):
            while server._conns:
                await asyncio.sleep(0.01)
        assert (await call(server, 1)).commands == [FALLBACK_BUSY]
        async with asyncio.timeout(10):  # the period ends: the route is cancelled, the slot freed
            while server.slots_in_use:
                await asyncio.sleep(0.05)
        assert (await call(server, 2)).commands == [SCREENED]
    [timeout] = [e for e in logs if e["event"] == "fastagi-timeout"]
    assert timeout["uniqueid"] == "stuck"
    assert not tracebacks(logs) and not asyncio_errors()


# -- admission by credential: a local process on the PBX's own address (issue 32) ----------------


def screen_header(n: int, secret: str = SECRET) -> bytes:
    return agi_header(f"screen?secret={secret}", uniqueid=f"legit.{n}")


async def until(condition, seconds: float = 10.0) -> None:
    """Wait (bounded) until the server has caught up with what the test did."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_idle_sockets_from_the_pbx_address_cannot_keep_an_authenticated_call_out(serve, redis):
    """Without the secret shown, a socket from 127.0.0.1 does not count in 127.0.0.1's limit: a
    local user holding 3x max_per_peer idle sockets open does not refuse one call of the PBX."""
    server = await serve(secret=SECRET, header_timeout=60.0, max_per_peer=40)
    idle = [await connect(server.host, server.port, "127.0.0.1") for _ in range(120)]
    await until(lambda: len(server._conns) + server.failures["fastagi-peer-over-limit"] == 120)
    legit = await asyncio.gather(*(run_call(server.host, server.port, screen_header(n)) for n in range(30)))
    assert [r.commands for r in legit] == [[SCREENED]] * 30
    assert sorted(await redis.lrange("test:served", 0, -1)) == sorted(f"legit.{n}" for n in range(30))
    assert not any(reader.at_eof() for reader, _ in idle)  # served around, not dropped: the pool has room
    assert server.failures["fastagi-peer-over-limit"] == 0
    for _, writer in idle:
        writer.close()


async def test_a_wrong_secret_storm_from_the_pbx_address_takes_no_capacity_from_calls(serve, redis, asyncio_errors):
    """Junk, slow and wrong-secret requests from 127.0.0.1, well over max_per_peer and the slots,
    beside calls from the same address: every call is answered by the route, not refused."""
    server = await serve(
        secret=SECRET, header_timeout=5.0, command_timeout=5.0, max_per_peer=20, max_connections=4, slot_wait_ms=0
    )
    kinds = [(kind, i) for i in range(12) for kind in HOSTILE_KINDS]  # 108: over 5x max_per_peer
    with capture_logs() as logs:
        storm = [
            asyncio.create_task(
                hostile(
                    kind, server.host, server.port, bind="127.0.0.1", script="screen?secret=guess", uniqueid=f"h.{i}"
                )
            )
            for kind, i in kinds
        ]
        # each one in place: still open (the idle and slow ones), or closed and counted
        await until(lambda: len(server._conns) + sum(server.failures.values()) >= len(kinds))
        legit = []
        for batch in range(10):  # as many at once as there are slots: none may be taken by the storm
            calls = (run_call(server.host, server.port, screen_header(n)) for n in range(batch * 4, batch * 4 + 4))
            legit += await asyncio.gather(*calls)
        received = await asyncio.gather(*storm)
    assert [r.commands for r in legit] == [[SCREENED]] * 40
    assert all(r.closed_by_server for r in legit)
    assert all(got == b"" for got in received)  # nothing for a request without the secret
    assert sorted(await redis.lrange("test:served", 0, -1)) == sorted(f"legit.{n}" for n in range(40))
    assert server.failures["fastagi-refused-secret"] >= 60 and server.failures["fastagi-peer-over-limit"] == 0
    assert server.failures["fastagi-busy"] == 0
    assert not tracebacks(logs) and not asyncio_errors()


async def test_a_full_server_closes_the_oldest_unauthenticated_socket_not_the_call(serve, redis):
    """Over max_unauthenticated, or at the server's cap on open sockets, the socket that waited
    longest without the secret makes room: the newcomer (a call whose header is on its way) is
    accepted. Each one closed so is counted."""
    server = await serve(secret=SECRET, header_timeout=60.0, max_unauthenticated=64)
    idle = [await connect(server.host, server.port, "127.0.0.1") for _ in range(200)]
    await until(lambda: server.failures["fastagi-unauthenticated-dropped"] == 200 - 64)
    assert (await call_with_secret(server, 1)).commands == [SCREENED]
    oldest = [await asyncio.wait_for(read_to_end(reader), 10) for reader, _ in idle[:100]]
    assert oldest == [b""] * 100  # the first ones made room (each closed without a byte)
    assert not any(reader.at_eof() for reader, _ in idle[-50:])  # the newest are still open
    server.max_open = len(server._conns)  # now the server's own cap is reached, too
    assert (await call_with_secret(server, 2)).commands == [SCREENED]
    assert server.failures["fastagi-over-capacity"] == 0
    assert await redis.lrange("test:served", 0, -1) == ["legit.1", "legit.2"]
    for _, writer in idle:
        writer.close()


async def call_with_secret(server, n: int):
    return await run_call(server.host, server.port, screen_header(n), bind="127.0.0.1")


async def test_with_a_secret_max_per_peer_still_bounds_requests_that_showed_it(serve, redis):
    """The per-peer limit now counts requests that showed the secret: a peer over it is closed."""
    Stuck.started = asyncio.Event()
    server = await serve(secret=SECRET, header_timeout=0.5, command_timeout=1.0, max_per_peer=1)
    reader, writer = await connect(server.host, server.port)
    writer.write(agi_header(f"stuck?secret={SECRET}", uniqueid="stuck"))
    await asyncio.wait_for(Stuck.started.wait(), 10)
    over = await call_with_secret(server, 1)
    assert over.commands == [] and over.closed_by_server
    assert server.failures["fastagi-peer-over-limit"] == 1
    writer.close()
    await until(lambda: not server._open)  # the stuck request's period is over: its place is free
    assert (await call_with_secret(server, 2)).commands == [SCREENED]
