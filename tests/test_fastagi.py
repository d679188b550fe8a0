"""The FastAGI server and the screen route, driven by a client that behaves like Asterisk."""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agi.engine import Ban, Incident
from agi.fastagi.server import find_block_end
from agi.service import Service
from tests.conftest import make_config
from tests.support.agi_client import agi_header, run_call

N = "+31612345678"


async def call(svc, callerid="0612345678", name="Jansen", script="screen", **kw):
    return await run_call(svc.host, svc.port, agi_header(script, callerid, name, **kw))


async def test_clean_caller_is_allowed(service):
    r = await call(service)
    assert r.variables["GW_ACTION"] == "allow" and r.variables["GW_REASON"] == "clean"
    assert r.variables["GW_CALLER"] == N and r.variables["GW_SCORE"] == "0"
    [mset] = r.commands  # one round trip: every variable in one MSet
    assert mset.startswith('EXEC MSet "GW_ACTION=allow,GW_REASON=clean,') and ",__GW_CALLER=+31612345678" in mset
    assert r.closed_by_server


async def test_the_ladder_follows_the_default_protocol(service, store):
    seen = []
    for category in ("abuse", "abuse", "abuse"):
        await store.incidents.add_incident(Incident.new(N, category, time.time()))
        r = await call(service, callerid="+31 6 1234 5678")
        seen.append((r.variables["GW_ACTION"], r.variables["GW_SCORE"]))
    assert seen == [("warn", "1"), ("senior", "2"), ("refuse", "3")]
    await service.deps.drain()
    rec = await store.screening.load_caller(N)
    assert rec.ban is not None and rec.ban.source == "protocol"
    assert abs(rec.ban.until - (time.time() + 90 * 86400)) < 60
    r = await call(service)
    assert (r.variables["GW_ACTION"], r.variables["GW_REASON"]) == ("refuse", "banned")
    assert r.variables["GW_BAN_UNTIL"].endswith("Z") and r.variables["GW_PROMPTS"] == "grenswacht/nl"


async def test_senior_gets_the_destination_and_a_sanitised_display_name(service, store):
    await store.incidents.add_incident(Incident.new(N, "intimidation", time.time()))
    r = await call(service, name='Jansen" , EXEC Dial(PJSIP/evil)')
    assert r.variables["GW_ACTION"] == "senior"
    assert r.variables["GW_SENIOR"] == ""  # none configured: the normal route after the prompt
    assert r.variables["GW_CID_NAME"] == "[GW 1] Jansen  EXEC DialPJSIP/evil"
    assert len(r.commands) == 1 and r.commands[0].startswith("EXEC MSet ")


async def test_caller_id_with_newline_and_agi_command_cannot_inject(service, store):
    await store.lists.set_ban(N, Ban(until=time.time() + 999))
    r = await call(service, callerid='0612345678"\nEXEC Dial(PJSIP/evil)\nagi_arg_9: x')
    assert r.commands == ['EXEC MSet "GW_ACTION=allow,GW_REASON=bad-request"']
    assert (r.variables["GW_ACTION"], r.variables["GW_REASON"]) == ("allow", "bad-request")


async def test_duplicate_header_is_untrusted(service):
    header = agi_header("screen", "0612345678").replace(b"\n\n", b"\nagi_callerid: 0699999999\n\n")
    r = await run_call(service.host, service.port, header)
    assert r.variables["GW_REASON"] == "bad-request"


async def test_half_header_then_close_does_not_stall_other_calls(service):
    reader, writer = await asyncio.open_connection(service.host, service.port)
    writer.write(b"agi_network: yes\nagi_network_script: scr")
    await writer.drain()
    writer.close()
    # With panoramisk 1.4's handler, this end-of-file spins the event loop forever and the
    # next call never completes; the timeout in run_call would fail this test.
    r = await asyncio.wait_for(call(service), 5)
    assert r.variables["GW_ACTION"] == "allow"


async def test_stalled_header_is_served_around_and_then_dropped(config, store):
    cfg = make_config(config.redis.url, agi={"listen": "127.0.0.1:0", "header_timeout": 1.0})
    svc = Service(cfg)
    svc.host, svc.port = await svc.start()
    try:
        reader, writer = await asyncio.open_connection(svc.host, svc.port)
        writer.write(b"agi_network: yes\n")
        await writer.drain()
        r = await call(svc)
        assert r.variables["GW_ACTION"] == "allow"
        assert not reader.at_eof()  # still waiting for its header
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed by the header timeout
    finally:
        await svc.stop()


async def test_oversized_header_is_refused(service):
    reader, writer = await asyncio.open_connection(service.host, service.port)
    writer.write(b"agi_x: " + b"a" * 40000 + b"\n\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    r = await call(service)
    assert r.variables["GW_ACTION"] == "allow"


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"a", b":", b"\r", b"\n"]), max_size=40).map(b"".join), st.data())
def test_the_header_end_is_found_where_the_pattern_finds_it(buf, data):
    """find_block_end (memchr, for speed under hostile headers) against the pattern it replaced."""
    start = data.draw(st.integers(0, len(buf)))
    stop = data.draw(st.integers(start, len(buf)))
    m = re.compile(rb"\r?\n\r?\n").search(buf, start, stop)
    assert find_block_end(buf, start, stop) == (None if m is None else m.span())
    assert find_block_end(bytearray(buf), start, stop) == find_block_end(buf, start, stop)


async def test_a_header_that_ends_at_the_size_limit_is_served_one_byte_more_is_refused(redis_server, store):
    svc = Service(make_config(redis_server.url, agi={"max_header_bytes": 2048}))
    host, port = await svc.start()
    try:
        base = agi_header("screen", "0612345678")
        for pad, served in ((2048 - len(base), True), (2049 - len(base), False)):
            header = base.replace(b"agi_network: yes", b"agi_network: yes\nagi_pad: " + b"p" * (pad - 10), 1)
            assert len(header) == 2048 + (not served)
            r = await run_call(host, port, header)
            assert (r.variables.get("GW_REASON") == "clean") is served, (len(header), r.commands)
            assert bool(r.commands) is served
    finally:
        await svc.stop()


async def test_unknown_route_gets_a_failure_result_and_a_log_line(service):
    with capture_logs() as logs:
        r = await call(service, script="nosuchroute")
    assert r.variables == {"GW_RESULT": "error"}
    assert any(e["event"] == "fastagi-unknown-route" and e["route"] == "nosuchroute" for e in logs)


async def test_store_down_fails_open(redis_server):
    cfg = make_config("redis://127.0.0.1:1/0")
    svc = Service(cfg)
    svc.host, svc.port = await svc.start()
    try:
        with capture_logs() as logs:
            r = await call(svc)
        assert (r.variables["GW_ACTION"], r.variables["GW_REASON"]) == ("allow", "store-unavailable")
        assert any(e["event"] == "store-unavailable-fail-open" for e in logs)
    finally:
        await svc.stop()


async def test_store_slower_than_budget_fails_open(service, store, rdb):
    await store.lists.set_ban(N, Ban(until=time.time() + 999))
    await rdb.execute_command("CLIENT", "PAUSE", "600", "ALL")
    r = await call(service)
    assert (r.variables["GW_ACTION"], r.variables["GW_REASON"]) == ("allow", "store-unavailable")
    await asyncio.sleep(0.7)
    r = await call(service)
    assert r.variables["GW_REASON"] == "banned"


async def test_200_concurrent_screenings_with_a_small_pool_all_succeed(config, store):
    cfg = make_config(
        config.redis.url,
        redis={"url": config.redis.url, "max_connections": 4},
        agi={"listen": "127.0.0.1:0", "screen_budget_ms": 5000},
    )
    svc = Service(cfg)
    svc.host, svc.port = await svc.start()
    try:
        await store.incidents.add_incident(Incident.new(N, "abuse", time.time()))
        results = await asyncio.gather(*(call(svc) for _ in range(200)))
        assert [r.variables["GW_ACTION"] for r in results] == ["warn"] * 200
    finally:
        await svc.stop()


async def test_screening_log_line_masks_the_number(service):
    with capture_logs() as logs:
        await call(service)
    [line] = [e for e in logs if e["event"] == "screened"]
    assert line["caller"] == "+316****5678" and line["action"] == "allow" and "ms" in line and line["uniqueid"]


async def test_screenings_are_counted_per_day_by_decision(service, store, rdb):
    await store.lists.set_ban(N, Ban(until=time.time() + 999))
    await call(service)
    await call(service, callerid="0687654321")
    await service.deps.counters.flush(service.deps.store)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert await rdb.hgetall(f"gw:stats:{day}") == {
        "screen.refuse": "1",
        "screen.allow": "1",
        "refused-while-banned": "1",
    }


async def test_crlf_header_and_leading_blank_lines_are_tolerated(service):
    header = b"\r\n" + agi_header("screen", "0612345678").replace(b"\n", b"\r\n")
    r = await run_call(service.host, service.port, header)
    assert (r.variables["GW_ACTION"], r.variables["GW_CALLER"]) == ("allow", N)


async def test_header_sent_in_small_pieces_is_assembled(service):
    reader, writer = await asyncio.open_connection(service.host, service.port)
    for i in range(0, len(h := agi_header("screen", "0612345678")), 7):
        writer.write(h[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    line = await asyncio.wait_for(reader.readline(), 5)
    assert line.startswith(b'EXEC MSet "GW_ACTION=allow,')
    writer.write(b"200 result=0\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


@pytest.mark.parametrize(
    "answer",
    [
        [b"200 result=0 (" + b"x" * 20_000 + b")\n"],  # one oversized line, whole in one write
        [b"x" * 8_000, b"y" * 8_000 + b"\n"],  # an oversized line in two writes
        [b"200 result=0\n" * 500],  # far more lines than commands sent
    ],
    ids=["long-line", "long-line-split", "many-lines"],
)
async def test_a_peer_answering_with_more_than_asterisk_would_is_cut_off(service, answer):
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection(service.host, service.port)
        writer.write(agi_header("screen", uniqueid="1763800000.77"))
        command = await asyncio.wait_for(reader.readline(), 5)
        assert command.startswith(b"EXEC MSet ")
        for part in answer:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        try:
            rest = await asyncio.wait_for(reader.read(), 5)  # closed by the server: nothing more sent
        except ConnectionResetError:
            rest = b""
        writer.close()
    assert rest == b""
    mine = [e for e in logs if e.get("uniqueid") == "1763800000.77"]
    assert [(e["event"], e.get("problem")) for e in mine] == [("fastagi-peer-gone", "AgiProtocolError")]
    assert not any("exc_info" in e or e.get("log_level") == "error" for e in logs)
    assert (await call(service)).variables["GW_ACTION"] == "allow"  # the server serves on


async def test_a_finished_connection_leaves_nothing_for_the_garbage_collector(service):
    """asyncio's own socket transport refers to itself (CPython gh-100348, gh-106503; the service's
    default loop): connection_lost breaks that, so a served, an aborted, a reset and a refused
    connection are each freed when they end, not left to the collector (whose full collections
    stalled calls)."""

    def server_side() -> list:
        return [
            o
            for o in gc.get_objects()
            if isinstance(o, asyncio.BaseTransport) and (o.get_extra_info("sockname") or ("", 0))[1] == service.port
        ]

    gc.collect()
    gc.disable()
    try:
        assert (await call(service)).commands[0].startswith("EXEC MSet ")  # served, closed
        reader, writer = await asyncio.open_connection(service.host, service.port)
        writer.write(agi_header("screen"))
        await asyncio.wait_for(reader.readline(), 5)
        writer.write(b"200 result=0 (" + b"x" * 20_000 + b")\n")  # aborted
        try:
            await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            pass
        writer.close()
        reader, writer = await asyncio.open_connection(service.host, service.port)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.write(b"agi_network: yes\n")
        await asyncio.sleep(0.05)
        writer.transport.abort()  # reset in the header
        reader, writer = await asyncio.open_connection(
            service.host,
            service.port,  # refused peer
            local_addr=("127.0.0.2", 0),
        )
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await asyncio.sleep(0.05)  # the last connection_lost callbacks
        assert server_side() == []
    finally:
        gc.enable()
