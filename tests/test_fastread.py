"""The lean screening read (redis_schema/fastread.py) against real redis-server processes."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agi.engine import Incident, Reason
from agi.prefixes import PrefixCache
from agi.screening import screen
from agi.wiring import build_store
from redis_schema.fastread import CallerReader, _Connection
from tests.conftest import make_config
from tests.support.redis_server import RedisServer, free_port

# Well inside the reader's own 5 s socket timeout: a failure this fast is the fault handling, not a timer.
PROMPT = 2.0
# uvloop's timers count whole milliseconds: a deadline may fire up to 1 ms before its time as
# the loop's clock reads it (0.2999999 for a 0.3 s connect deadline, seen under Python 3.13).
TIMER_SLACK = 0.002


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, to stop, pause, kill and restart."""
    servers: list[RedisServer] = []

    def start(**kwargs) -> RedisServer:
        server = RedisServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.resume()
        server.cleanup()


@asynccontextmanager
async def clients(url: str, **reader_options):
    """redis-py (to write and compare) and a CallerReader on the same Redis, both closed after."""
    redis = Redis.from_url(url, password=reader_options.get("password"), decode_responses=True)
    reader = CallerReader.from_url(url, **reader_options)
    try:
        yield redis, reader
    finally:
        await reader.close()
        await redis.aclose()


async def _values(redis: Redis, count: int, prefix: str = "k") -> dict[str, dict[str, str]]:
    """``count`` hashes, each with a value of its own."""
    wanted = {
        f"{prefix}:{i}": {"n": "1", "1.i": f"id-{i}", "1.c": "abuse", "own": f"value {i} ✓"} for i in range(count)
    }
    async with redis.pipeline(transaction=False) as pipe:
        for key, mapping in wanted.items():
            pipe.hset(key, mapping=mapping)
        await pipe.execute()
    return wanted


async def test_same_answers_as_redis_py(redis_server):
    async with clients(redis_server.url) as (redis, reader):
        await redis.flushdb()
        samples = {
            "gw:c:{+31612345678}": {"n": "2", "1.i": "00aa", "1.t": "1700000000.123", "1.n": 'says "x"\nand y'},
            "gw:c:{anonymous}": {"ban.until": "9999999999", "ban.reason": "handmatig"},
            "gw:c:{+32470000000}": {"1.n": "Zoë, café, 日本語, emoji 🚫, tab\tand\r\nCRLF", "é": "ü"},
            "gw:c:{+31000000001}": {"empty": "", " spaced field ": "  ", "$5\r\n": "*1\r\n"},
            "gw:c:{+31000000002}": {f"{i}.n": "x" * (i * 37) for i in range(1, 200)},  # ~730 KB, many fields
        }
        for key, mapping in samples.items():
            await redis.hset(key, mapping=mapping)
        many = await _values(redis, 300)
        for key in [*samples, *many, "gw:c:{+31999999999}", "gw:c:{never}"]:
            ours, theirs = await reader.hgetall(key), await redis.hgetall(key)
            assert ours == theirs, key
        assert await reader.hgetall("gw:c:{never}") == {}  # no such hash: empty, as redis-py
        assert (await reader.hgetall("gw:c:{+32470000000}"))["é"] == "ü"


async def test_a_thousand_concurrent_requests_each_get_their_own_value(redis_server):
    async with clients(redis_server.url, connections=2) as (redis, reader):
        wanted = await _values(redis, 1000, prefix="conc")
        names = list(wanted)
        got = await asyncio.gather(*(reader.hgetall(name) for name in names))
        assert got == [wanted[name] for name in names]
        # and interleaved with missing keys, in a shuffled order
        order = names[::-7] + [f"missing:{i}" for i in range(50)] + names[::3]
        got = await asyncio.gather(*(reader.hgetall(name) for name in order))
        assert got == [wanted.get(name, {}) for name in order]


async def _read_once(url: str, key: str, **options):
    """One read through a reader of its own, closed after."""
    reader = CallerReader.from_url(url, **options)
    try:
        return await reader.hgetall(key)
    finally:
        await reader.close()


async def test_password_username_and_database(own_redis):
    server = own_redis(password="s3cret pw")
    url = f"redis://127.0.0.1:{server.port}/3"
    key = "gw:c:{+31612345678}"
    async with clients(url, password="s3cret pw") as (redis, reader):
        await redis.hset(key, mapping={"n": "1", "where": "db3"})
        assert await reader.hgetall(key) == {"n": "1", "where": "db3"}
    # the default user by name, the password in the URL (it wins over password=, as in redis-py)
    assert await _read_once(f"redis://default:s3cret%20pw@127.0.0.1:{server.port}/3", key, password="ignored") == {
        "n": "1",
        "where": "db3",
    }
    assert await _read_once(f"redis://127.0.0.1:{server.port}/0", key, password="s3cret pw") == {}  # not in db 0
    # a wrong password is refused at connect; no password: Redis refuses the read itself
    with pytest.raises(AuthenticationError):
        await _read_once(url, key, password="wrong")
    with pytest.raises(ResponseError, match="NOAUTH"):
        await _read_once(url, key)


async def test_unix_socket_with_database(own_redis):
    path = Path(tempfile.mkdtemp(prefix="gw-sock-")) / "redis.sock"
    own_redis(extra_args=("--unixsocket", str(path), "--unixsocketperm", "700"))
    url = f"unix://{path}?db=2"
    async with clients(url) as (redis, reader):
        await redis.hset("gw:c:{+31612345678}", "via", "socket")
        assert await reader.hgetall("gw:c:{+31612345678}") == {"via": "socket"}


async def test_wrongtype_fails_that_request_only(redis_server):
    async with clients(redis_server.url, connections=1) as (redis, reader):
        await redis.set("gw:c:{string}", "not a hash")
        await redis.hset("gw:c:{hash}", "a", "b")
        results = await asyncio.gather(
            reader.hgetall("gw:c:{hash}"),
            reader.hgetall("gw:c:{string}"),
            reader.hgetall("gw:c:{hash}"),
            return_exceptions=True,
        )
        assert results[0] == results[2] == {"a": "b"}
        assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])
        assert await reader.hgetall("gw:c:{hash}") == {"a": "b"}


async def test_redis_killed_then_restarted_on_the_same_port(own_redis):
    server = own_redis()
    redis = Redis.from_url(server.url, decode_responses=True)
    await redis.hset("gw:c:{a}", "v", "a")
    await redis.aclose()
    reader = CallerReader.from_url(server.url, backoff=0.05)
    try:
        assert await reader.hgetall("gw:c:{a}") == {"v": "a"}
        assert await reader.hgetall("gw:c:{a}") == {"v": "a"}  # both connections open
        server.pause()  # requests now wait on the connections
        pending = [asyncio.ensure_future(reader.hgetall("gw:c:{a}")) for _ in range(20)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in pending)
        server.kill()
        async with asyncio.timeout(PROMPT):
            results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results), results
        async with asyncio.timeout(PROMPT):  # new requests: refused at once, too
            for _ in range(50):
                with pytest.raises(ConnectionError):
                    await reader.hgetall("gw:c:{a}")
        restarted = own_redis(port=server.port)
        redis = Redis.from_url(restarted.url, decode_responses=True)
        await redis.hset("gw:c:{a}", "v", "after restart")
        await redis.aclose()
        await asyncio.sleep(0.1)  # past the reconnect backoff
        assert await reader.hgetall("gw:c:{a}") == {"v": "after restart"}
        assert await reader.hgetall("gw:c:{a}") == {"v": "after restart"}
    finally:
        await reader.close()


async def restart_while_backing_off(own_redis, server: RedisServer, reader: CallerReader) -> None:
    """Stop Redis; once a connection of ``reader`` has tried to reconnect (so it backs off), start
    it again on the same port, with ``gw:c:{a}`` holding ``v`` = "after restart"."""
    server.stop()
    async with asyncio.timeout(PROMPT):
        while True:
            with pytest.raises(ConnectionError) as failed:
                await reader.hgetall("gw:c:{a}")
            # An attempt failed (refused, or a Redis still shutting down closed it while it was set
            # up), or an earlier one did and the backoff now answers at once.
            if any(s in str(failed.value) for s in ("Cannot connect", "while it was set up", "retrying shortly")):
                break
            await asyncio.sleep(0)  # (a failure without a wait must not keep the timeout from firing)
    restarted = own_redis(port=server.port)
    redis = Redis.from_url(restarted.url, decode_responses=True)
    await redis.hset("gw:c:{a}", "v", "after restart")
    await redis.aclose()


async def test_after_a_restart_the_first_answer_ends_every_connections_backoff(own_redis):
    """Redis restarted on the same port: once one connection is back, no request fails on another
    that is still waiting out the backoff of an attempt made while Redis was away (at 300 calls/s,
    0.1 s of backoff failed about 30 calls open after the first one was screened again). The
    backoff is long here so that the window cannot close before the requests that test it."""
    server = own_redis()
    reader = CallerReader.from_url(server.url, backoff=60.0, connections=2)
    try:
        assert await reader.hgetall("gw:c:{a}") == {}  # connection 1
        assert await reader.hgetall("gw:c:{a}") == {}  # connection 2: both open
        await restart_while_backing_off(own_redis, server, reader)
        assert await reader.hgetall("gw:c:{a}") == {"v": "after restart"}  # the other reconnects
        for _ in range(10):  # the first one's turns, too
            assert await reader.hgetall("gw:c:{a}") == {"v": "after restart"}
    finally:
        await reader.close()


def test_timeouts_in_the_url_win_as_in_redis_py():
    reader = CallerReader.from_url(
        "redis://127.0.0.1:1/2?socket_timeout=1.5&socket_connect_timeout=0.5", socket_timeout=9.0
    )
    assert (reader.socket_timeout, reader.connect_timeout) == (1.5, 0.5)
    reader = CallerReader.from_url("redis://127.0.0.1:1/2")
    assert (reader.socket_timeout, reader.connect_timeout) == (5.0, 2.0)  # the service's redis-py settings


async def test_unreachable_redis_fails_fast_during_the_backoff():
    reader = CallerReader(port=free_port(), backoff=0.3, connections=1)
    try:
        with pytest.raises(ConnectionError, match="Cannot connect"):
            await reader.hgetall("gw:c:{a}")
        # within the backoff, a request whose budget ends before it: no new connect attempt, the
        # last error is repeated at once
        async with asyncio.timeout(0.2):
            with pytest.raises(ConnectionError, match="retrying shortly"):
                await reader.hgetall("gw:c:{a}", budget=0.1)
        # one without a budget waits for the next attempt (one, shared by all who wait)
        waiting = [asyncio.ensure_future(reader.hgetall("gw:c:{a}")) for _ in range(5)]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) and "Cannot connect" in str(r) for r in results), results
    finally:
        await reader.close()


async def test_a_request_in_the_backoff_waits_for_the_next_attempt_when_its_budget_reaches_it(own_redis):
    """Issue 32, a Redis restart in worker mode: a worker whose connection last tried while Redis
    was away must not fail the calls that come after Redis is back (each worker has its own
    connections, so another worker's first answer ends nothing here). A request within the
    backoff whose budget reaches past it waits for the next attempt instead of failing at once.
    The backoff is long here so that Redis is back well within it."""
    server = own_redis()
    reader = CallerReader.from_url(server.url, backoff=3.0, connections=1)
    try:
        assert await reader.hgetall("gw:c:{a}") == {}
        await restart_while_backing_off(own_redis, server, reader)
        with pytest.raises(ConnectionError, match="retrying shortly"):  # its budget ends first: at once
            await reader.hgetall("gw:c:{a}", budget=0.05)
        calls = [asyncio.ensure_future(reader.hgetall("gw:c:{a}", budget=10.0)) for _ in range(20)]
        assert await asyncio.gather(*calls) == [{"v": "after restart"}] * 20
    finally:
        await reader.close()


async def test_stalled_redis_caller_timeout_then_own_values_after_resume(own_redis):
    server = own_redis()
    async with clients(server.url, connections=2) as (redis, reader):
        wanted = await _values(redis, 200, prefix="stall")
        names = list(wanted)
        await asyncio.gather(*(reader.hgetall(name) for name in names[:4]))  # both connections open
        connections = [slot.conn for slot in reader._slots]
        server.pause()

        async def screened(name: str):
            async with asyncio.timeout(0.2):
                return await reader.hgetall(name)

        results = await asyncio.gather(*(screened(name) for name in names[:100]), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results), results
        server.resume()
        # the 100 abandoned replies arrive first; every later caller still gets its own value
        got = await asyncio.gather(*(reader.hgetall(name) for name in names[100:]))
        assert got == [wanted[name] for name in names[100:]]
        for name in names[::-1][:40]:
            assert await reader.hgetall(name) == wanted[name]
        assert [slot.conn for slot in reader._slots] == connections  # same connections: replies were discarded


async def test_stalled_redis_requests_fail_at_their_own_budget_and_keep_their_place(own_redis):
    """Screening's budget is watched by the connection's one timer: each request fails at its
    own deadline (a shorter one queued behind a longer one too), with the builtin TimeoutError
    that screening fails open on, and the connection stays: later callers get their own values."""
    server = own_redis()
    async with clients(server.url, connections=1, socket_timeout=3.0) as (redis, reader):
        wanted = await _values(redis, 140, prefix="budget")
        names = list(wanted)
        assert await reader.hgetall(names[0], 1.0) == wanted[names[0]]
        connection = reader._slots[0].conn
        server.pause()
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def timed(name: str, budget: float):
            try:
                return await reader.hgetall(name, budget), loop.time() - started
            except TimeoutError as exc:
                return exc, loop.time() - started

        budgets = [0.6] + [0.2] * 50 + [0.4] * 49
        async with asyncio.timeout(PROMPT):
            results = await asyncio.gather(*(timed(name, budget) for name, budget in zip(names[:100], budgets)))
        for (error, waited), budget in zip(results, budgets):
            assert type(error) is TimeoutError, error  # not redis-py's: the budget, not the socket
            assert budget - 0.01 <= waited < budget + 0.35, (budget, waited)
        server.resume()
        got = await asyncio.gather(*(reader.hgetall(name, 1.0) for name in names[100:]))
        assert got == [wanted[name] for name in names[100:]]
        assert reader._slots[0].conn is connection  # their replies were read and discarded


async def test_request_older_than_socket_timeout_drops_the_connection(own_redis):
    server = own_redis()
    async with clients(server.url, connections=1, socket_timeout=0.5) as (redis, reader):
        await redis.hset("gw:c:{a}", "v", "a")
        assert await reader.hgetall("gw:c:{a}") == {"v": "a"}
        before = reader._slots[0].conn
        server.pause()
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(PROMPT):  # no caller timeout: the reader's own fires
            results = await asyncio.gather(*(reader.hgetall("gw:c:{a}") for _ in range(10)), return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert waited >= 0.5 - TIMER_SLACK
        assert reader._slots[0].conn is None
        server.resume()
        assert await reader.hgetall("gw:c:{a}") == {"v": "a"}  # a fresh connection
        assert reader._slots[0].conn is not before


async def test_in_flight_bound(own_redis):
    server = own_redis()
    async with clients(server.url, connections=1, max_in_flight=10) as (redis, reader):
        wanted = await _values(redis, 10, prefix="bound")
        await reader.hgetall("bound:0")
        server.pause()
        waiting = [asyncio.ensure_future(reader.hgetall(name)) for name in wanted]
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionError, match="already waiting"):
            await reader.hgetall("bound:0")
        server.resume()
        assert await asyncio.gather(*waiting) == list(wanted.values())
        assert await reader.hgetall("bound:3") == wanted["bound:3"]  # room again


async def test_a_turns_first_request_is_written_at_once_and_the_rest_together_at_its_end():
    """The first request does not wait for the loop's other ready work (a connection storm's,
    say) before it leaves; the others made in the same turn still go out in one write."""
    loop = asyncio.get_running_loop()
    writes: list[bytes] = []
    conn = _Connection(loop, lambda lost: None, max_in_flight=10, socket_timeout=5.0, max_reply_bytes=4096)
    conn.connection_made(SimpleNamespace(write=writes.append, is_closing=lambda: False, abort=lambda: None))
    futures = [conn.send(b"A")]
    assert writes == [b"A"]
    futures += [conn.send(b"B"), conn.send(b"C")]
    assert writes == [b"A"]
    await asyncio.sleep(0)  # the end of the turn
    assert writes == [b"A", b"BC"]
    futures.append(conn.send(b"D"))  # a new turn: at once again
    assert writes == [b"A", b"BC", b"D"]
    conn.data_received(b"$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n")
    assert [f.result() for f in futures] == ["a", "b", "c", "d"]  # replies in the order sent
    conn._fail_all(ConnectionError("done"))  # stops its timer


async def test_a_reply_beyond_the_size_bound_drops_the_connection(redis_server):
    async with clients(redis_server.url, connections=1, max_reply_bytes=4096) as (redis, reader):
        await redis.hset("gw:c:{huge}", mapping={"note": "x" * 2_000_000})  # arrives in several reads
        await redis.hset("gw:c:{small}", mapping={"n": "1"})
        with pytest.raises(ConnectionError, match="larger than 4096 bytes"):
            await reader.hgetall("gw:c:{huge}")
        assert await reader.hgetall("gw:c:{small}") == {"n": "1"}  # reconnected


async def test_connect_has_a_deadline_shared_by_concurrent_requests(own_redis):
    server = own_redis(password="pw")
    reader = CallerReader.from_url(server.url, password="pw", connections=1, connect_timeout=0.3)
    try:
        server.pause()  # the kernel still accepts the TCP connection; AUTH is never answered
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(PROMPT):
            results = await asyncio.gather(*(reader.hgetall("gw:c:{a}") for _ in range(20)), return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert len({id(r) for r in results}) == 1  # one connect attempt, shared by all 20
        assert 0.3 - TIMER_SLACK <= waited < PROMPT
        server.resume()
        await asyncio.sleep(0.15)  # past the backoff
        assert await reader.hgetall("gw:c:{a}") == {}
    finally:
        await reader.close()


async def closed_while_waiting(reader: CallerReader, n: int, *, settle: float) -> list:
    """What ``n`` requests that are waiting when the reader is closed end with (bounded)."""
    waiting = [asyncio.ensure_future(reader.hgetall("gw:c:{a}")) for _ in range(n)]
    await asyncio.sleep(settle)
    async with asyncio.timeout(PROMPT):
        await reader.close()
        return await asyncio.gather(*waiting, return_exceptions=True)


async def test_close_fails_pending_requests(own_redis):
    server = own_redis()
    reader = CallerReader.from_url(server.url, connections=2)
    try:
        await asyncio.gather(reader.hgetall("gw:c:{a}"), reader.hgetall("gw:c:{a}"))
        server.pause()
        results = await closed_while_waiting(reader, 10, settle=0.05)
        assert all(isinstance(r, ConnectionError) for r in results), results
        with pytest.raises(ConnectionError, match="closed"):
            await reader.hgetall("gw:c:{a}")
    finally:
        server.resume()
        await reader.close()


async def test_caller_cancellation_propagates(own_redis):
    server = own_redis()
    reader = CallerReader.from_url(server.url, connections=1)
    try:
        await reader.hgetall("gw:c:{a}")
        server.pause()
        task = asyncio.ensure_future(reader.hgetall("gw:c:{a}"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.resume()
        assert await reader.hgetall("gw:c:{a}") == {}
    finally:
        await reader.close()


async def test_store_uses_the_reader_in_standalone_mode_and_connects_lazily(own_redis):
    server = own_redis()
    admin = Redis.from_url(server.url, decode_responses=True)
    try:
        opened = len(await admin.client_list())
        store = build_store(make_config(server.url))
        try:
            assert isinstance(store.screening.reader, CallerReader)
            assert len(await admin.client_list()) == opened  # nothing opened yet
            number = "+31612345678"
            await store.incidents.add_incident(
                Incident.new(number, "threat", 1_700_000_000.0, severity=3, source="key")
            )
            [incident] = (await store.screening.load_caller(number)).incidents
            assert incident.category == "threat"
            assert len(await admin.client_list()) == opened + 2  # redis-py's, and the reader's one
            assert [slot.conn is not None for slot in store.screening.reader._slots] == [True, False]
            # Redis stalled: screening fails open within its budget, then reads the store again
            server.pause()
            config = make_config(server.url)
            result = await screen(config, store, PrefixCache(), number, None, 1_700_000_100.0, budget=0.2)
            assert result.record is None and result.decision.reason is Reason.STORE_UNAVAILABLE
            server.resume()
            result = await screen(config, store, PrefixCache(), number, None, 1_700_000_100.0, budget=1.0)
            assert result.record is not None and len(result.record.incidents) == 1
        finally:
            await store.close()
        assert store.screening.reader.closed
    finally:
        await admin.aclose()


def test_sentinel_and_cluster_keep_redis_py():
    for redis in ({"mode": "sentinel", "sentinels": ["127.0.0.1:1"]}, {"mode": "cluster", "nodes": ["127.0.0.1:1"]}):
        store = build_store(make_config("redis://127.0.0.1:1/0", redis=redis))
        assert store.screening.reader is None
    assert build_store(make_config("redis://127.0.0.1:1/0")).screening.reader is not None


async def test_tls_with_the_context_redis_py_builds(own_redis, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    tls_port = free_port()
    own_redis(
        extra_args=(
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
        )
    )
    url = f"rediss://127.0.0.1:{tls_port}/1?ssl_ca_certs={cert}"
    redis = Redis.from_url(url, decode_responses=True)
    reader = CallerReader.from_url(url)
    untrusted = CallerReader.from_url(f"rediss://127.0.0.1:{tls_port}/1")  # the system CAs do not know it
    try:
        await redis.hset("gw:c:{+31612345678}", mapping={"over": "tls", "é": "ü"})
        assert await reader.hgetall("gw:c:{+31612345678}") == await redis.hgetall("gw:c:{+31612345678}")
        with pytest.raises(ConnectionError, match="certificate verify failed"):
            await untrusted.hgetall("gw:c:{+31612345678}")
    finally:
        await untrusted.close()
        await reader.close()
        await redis.aclose()


def _on_uvloop(coro) -> None:
    """The service runs on uvloop with `[agi] event_loop = "uvloop"` (agi/workers.py): the same results there."""
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.mark.parametrize(
    "scenario",
    [
        test_same_answers_as_redis_py,
        test_a_thousand_concurrent_requests_each_get_their_own_value,
        test_wrongtype_fails_that_request_only,
    ],
)
def test_under_uvloop_on_the_shared_server(scenario, redis_server):
    _on_uvloop(scenario(redis_server))


@pytest.mark.parametrize(
    "scenario",
    [
        test_redis_killed_then_restarted_on_the_same_port,
        test_stalled_redis_caller_timeout_then_own_values_after_resume,
        test_request_older_than_socket_timeout_drops_the_connection,
        test_connect_has_a_deadline_shared_by_concurrent_requests,
        test_close_fails_pending_requests,
    ],
)
def test_faults_under_uvloop(scenario, own_redis):
    _on_uvloop(scenario(own_redis))


async def test_close_during_a_shared_connect_fails_the_waiting_requests_with_connection_error(own_redis):
    server = own_redis(password="pw")
    reader = CallerReader.from_url(server.url, password="pw", connections=1, connect_timeout=5.0)
    server.pause()  # the AUTH of the connect attempt waits
    try:
        results = await closed_while_waiting(reader, 5, settle=0.2)
        # Not CancelledError: these callers were not cancelled, and screening fails open on this.
        assert all(isinstance(r, ConnectionError) for r in results), results
    finally:
        server.resume()
        await reader.close()
