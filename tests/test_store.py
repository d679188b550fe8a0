"""The storage layer against a real redis-server."""

from __future__ import annotations

import asyncio
import time

from agi.actions import logbook
from agi.actions.queries import every_incident
from agi.engine import Allow, Ban, Incident, Reason, decide
from redis_schema import keys
from redis_schema.connection import lua
from redis_schema.records import incident_args

N = "+31612345678"


async def test_incident_round_trip_and_ttl(store, rdb):
    now = time.time()
    iid, created = await store.incidents.add_incident(
        Incident.new(
            N,
            "threat",
            now,
            severity=3,
            agent="PJSIP/101",
            queue="support",
            uniqueid="u1",
            linkedid="l1",
            note='says "x"\nand y',
            source="key",
        )
    )
    assert created
    rec = await store.screening.load_caller(N)
    [inc] = rec.incidents
    assert (inc.id, inc.category, inc.severity, inc.agent, inc.queue, inc.uniqueid, inc.linkedid, inc.note) == (
        iid,
        "threat",
        3,
        "PJSIP/101",
        "support",
        "u1",
        "l1",
        'says "x"\nand y',
    )
    assert abs(inc.at - now) < 0.01
    ttl = await rdb.ttl(keys.caller(N))
    assert 364 * keys.DAY < ttl <= 365 * keys.DAY
    assert await store.incidents.incident_owner(iid) == N


async def test_same_call_same_source_is_logged_once(store):
    a = await store.incidents.add_incident(Incident.new(N, "abuse", 1.0, linkedid="call-1", source="key"))
    b = await store.incidents.add_incident(Incident.new(N, "abuse", 2.0, linkedid="call-1", source="key"))
    c = await store.incidents.add_incident(Incident.new(N, "handover", 3.0, linkedid="call-1", source="handover"))
    assert a[1] and not b[1] and b[0] == a[0] and c[1]
    assert len((await store.screening.load_caller(N)).incidents) == 2


async def test_ban_allow_and_clear(store):
    await store.lists.set_ban(N, Ban(until=123.0, reason="manual", source="manual", set_at=1.0, actor="sup"))
    await store.lists.set_allow(N, Allow(reason="vip", set_at=2.0, actor="sup"))
    rec = await store.screening.load_caller(N)
    assert rec.ban == Ban(until=123.0, reason="manual", source="manual", set_at=1.0, actor="sup")
    assert rec.allow == Allow(reason="vip", set_at=2.0, actor="sup")
    assert await store.lists.clear_ban(N) and await store.lists.clear_allow(N)
    rec = await store.screening.load_caller(N)
    assert rec.ban is None and rec.allow is None


async def test_malformed_fields_are_skipped_not_fatal(store, rdb):
    await rdb.hset(
        keys.caller(N),
        mapping={"x.i": "bad", "x.t": "not-a-time", "x.c": "abuse", "ban.until": "soon", "y.t": "5", "y.c": "abuse"},
    )  # y has no id
    iid, _ = await store.incidents.add_incident(Incident.new(N, "abuse", 5.0))
    rec = await store.screening.load_caller(N)
    assert [i.id for i in rec.incidents] == [iid] and rec.ban is None


async def test_purge_drops_only_what_is_past_retention(store):
    now = time.time()
    old, _ = await store.incidents.add_incident(Incident.new(N, "abuse", now - 400 * keys.DAY))
    new, _ = await store.incidents.add_incident(Incident.new(N, "abuse", now - 10 * keys.DAY))
    assert await store.erasure.purge(now) == 1
    assert [i.id for i in (await store.screening.load_caller(N)).incidents] == [new]
    assert await store.incidents.incident_owner(old) is None


async def test_one_caller_lives_in_one_cluster_slot(store, rdb):
    await store.incidents.add_incident(Incident.new(N, "abuse", 1.0))
    await store.lists.set_ban(N, Ban(until=9.0))
    caller_keys = [k async for k in rdb.scan_iter(match="*" + N + "*")]
    assert caller_keys and all("{" + N + "}" in k for k in caller_keys)


async def test_bulk_load_writes_what_add_incident_writes(store, rdb):
    from agi.engine import Ban as B

    n = await store.incidents.bulk_load(
        [
            (
                N,
                [Incident.new(N, "abuse", 10.0, agent="A", linkedid="x"), Incident.new(N, "threat", 20.0)],
                B(until=99.0, reason="r", source="manual"),
            ),
            ("+31687654321", [], None),
        ],
        batch=1,
    )
    assert n == 2
    rec = await store.screening.load_caller(N)
    assert [(i.category, i.at, i.agent) for i in rec.incidents] == [("abuse", 10.0, "A"), ("threat", 20.0, "")]
    assert rec.ban.until == 99.0 and await rdb.zcard(keys.INCIDENTS_BY_TIME) == 2
    assert await rdb.ttl(keys.caller(N)) > 0


async def test_one_incident_caller_stays_small(store, rdb):
    """The layout keeps a typical caller with one key-press incident in Redis's compact encoding."""
    await store.incidents.add_incident(
        Incident.new(
            N,
            "abuse",
            1763800000.123,
            severity=1,
            agent="PJSIP/101",
            queue="support",
            uniqueid="1763800000.123",
            linkedid="1763800000.120",
            source="key",
            actor="PJSIP/101",
        )
    )
    assert await rdb.object("encoding", keys.caller(N)) == "listpack"
    fields = await rdb.hkeys(keys.caller(N))
    assert all(len(f) <= 4 for f in fields)  # "n", "1.i", "1.t", ...: no id repeated per field


async def test_forget_rewrites_the_aof(tmp_path):
    """After an erasure the number is in no file Redis keeps on disk."""
    from agi.wiring import build_store, redis_client
    from tests.conftest import make_config
    from tests.support.redis_server import RedisServer

    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always", "--save", "60 1")).start()
    config = make_config(server.url)
    store, rdb = build_store(config), redis_client(config)
    try:
        other = "+31687654321"
        for n in (N, other):
            await store.incidents.add_incident(Incident.new(n, "abuse", time.time(), note="shouted"))
            await store.lists.set_ban(n, Ban(until=time.time() + 99, reason="x"))
        await rdb.bgsave()

        def on_disk(number: str) -> list[str]:
            return [p.name for p in server.dir.rglob("*") if p.is_file() and number.encode() in p.read_bytes()]

        while (await rdb.info("persistence"))["rdb_bgsave_in_progress"]:
            await asyncio.sleep(0.05)
        assert on_disk(N) and on_disk(other)
        await store.erasure.forget(N)
        assert on_disk(N) == []
        assert on_disk(other)  # the rest is still there
    finally:
        await rdb.aclose()
        await store.close()
        server.cleanup()


async def test_an_absurd_stored_ban_time_still_refuses_and_shows(store, config, rdb):
    """A ban.until past the year 9999 (written by an old version, or by hand) never breaks screening."""
    from agi.prefixes import PrefixCache
    from agi.routes.screen import iso
    from agi.screening import screen
    from redis_schema.records import MAX_TIME

    await rdb.hset(keys.caller(N), mapping={"ban.until": "8.64e16", "ban.src": "manual"})
    result = await screen(config, store, PrefixCache(), N, None, time.time(), None)
    assert (result.decision.action.value, result.decision.ban_until) == ("refuse", MAX_TIME)
    assert iso(result.decision.ban_until) == "9999-12-31T23:59:59Z"
    await rdb.hset(keys.caller(N), mapping={"ban.until": "nan"})
    assert (await store.screening.load_caller(N)).ban is None


async def test_withheld_callers_share_no_growing_hash(store, config, rdb):
    """Key presses on withheld callers (issue 27, bug 6): the hash that screening and
    add_incident.lua read for them stays as small as it was, each press has a hash of its own
    holding that one incident, and the logbook still has every one of them, as keys.ANONYMOUS."""
    now = time.time()
    await store.lists.set_ban(
        keys.ANONYMOUS, Ban(until=now - 1, reason="old", source="manual", set_at=now - 9, actor="x")
    )
    shared = await rdb.hlen(keys.caller(keys.ANONYMOUS))
    ids = []
    for n in range(60):
        inc = Incident.new(
            keys.ANONYMOUS, "abuse", now - n, severity=2, agent="PJSIP/1", linkedid=f"l{n}", source="key"
        )
        ids.append((await store.incidents.add_incident(inc))[0])
    assert await rdb.hlen(keys.caller(keys.ANONYMOUS)) == shared  # not one field more
    sizes = {await rdb.hlen(key) async for key in rdb.scan_iter(match="gw:w:*")}
    assert len([k async for k in rdb.scan_iter(match="gw:w:*")]) == 60 and max(sizes) <= 12
    again = Incident.new(keys.ANONYMOUS, "abuse", now, severity=2, agent="PJSIP/1", linkedid="l7", source="key")
    assert await store.incidents.add_incident(again) == (ids[7], False)  # the same press under another id: once
    found = await store.incidents.incidents_by_id(ids)
    assert [i.id for i in found] == ids and {i.caller for i in found} == {keys.ANONYMOUS}
    number, inc = await store.incidents.get_incident(ids[3])
    await store.incidents.set_debrief(inc.caller, inc, "talked it through", now, "sup")
    assert (await store.incidents.get_incident(ids[3]))[1].debrief == "talked it through"
    assert await rdb.hlen(keys.caller(keys.ANONYMOUS)) == shared
    # Screening a withheld caller: the protocol's treatment for them, as before.
    record = await store.screening.load_caller(keys.ANONYMOUS)
    assert decide(record, config.protocol_for(None)[1], now).reason is Reason.ANONYMOUS


async def test_withheld_incidents_in_the_shared_hash_are_moved_out_with_their_debrief(store, rdb):
    """Data written before each withheld press had a hash of its own: purge moves every incident
    out of gw:c:{anonymous} (the ban stays), the logbook still finds each with its debrief, and
    moving again (another process, an interrupted run) changes nothing."""
    now = time.time()
    shared = keys.caller(keys.ANONYMOUS)
    add_incident_lua = rdb.register_script(lua("add_incident"))
    ids = []
    for n in range(30):  # as add_incident.lua wrote them then: all into the one shared hash
        inc = Incident.new(
            keys.ANONYMOUS, "abuse", now - n, severity=2, linkedid=f"l{n}" if n % 2 else "", source="key"
        )
        await add_incident_lua(keys=[shared], args=incident_args(inc, store.retention))
        await rdb.zadd(keys.INCIDENTS_BY_TIME, {inc.id: inc.at})
        await rdb.hset(keys.INCIDENT_OWNER, inc.id, keys.ANONYMOUS)
        ids.append(inc.id)
    await store.incidents.set_debrief(
        keys.ANONYMOUS, (await store.incidents.get_incident(ids[1]))[1], "spoken", now, "sup", "conscious"
    )
    await store.lists.set_ban(keys.ANONYMOUS, Ban(until=now + 99, reason="r", source="manual", set_at=now, actor="x"))
    assert await store.erasure.purge(now) == 0
    record = await store.screening.load_caller(keys.ANONYMOUS)
    assert record.incidents == () and record.ban is not None and record.ban.until == round(now + 99, 3)
    assert await store.migrations.move_withheld_incidents() == 0
    found = await store.incidents.incidents_by_id(ids)
    assert [i.id for i in found] == ids and {i.caller for i in found} == {keys.ANONYMOUS}
    assert (found[1].debrief, found[1].debrief_answer, found[1].debrief_by) == ("spoken", "conscious", "sup")
    assert len([k async for k in rdb.scan_iter(match="gw:w:*")]) == 30


async def test_the_logbook_filtered_by_a_withheld_caller_finds_every_press(store):
    """Each withheld press has a hash of its own, so "caller anonymous" is answered from the
    logbook index, by the console's filter and the CLI's listing alike."""
    now = time.time()
    ids = set()
    for n in range(5):
        inc = Incident.new(keys.ANONYMOUS, "abuse", now - n, severity=2, linkedid=f"l{n}", source="key")
        ids.add((await store.incidents.add_incident(inc))[0])
    await store.incidents.add_incident(Incident.new(N, "abuse", now, severity=2, linkedid="x", source="key"))
    page = await logbook.query(store, logbook.Filters(caller=keys.ANONYMOUS))
    assert {i.id for i in page.items} == ids and not page.more
    listed = await every_incident(store, logbook.Filters(caller=keys.ANONYMOUS))
    assert {i.id for i in listed} == ids and {i.caller for i in listed} == {keys.ANONYMOUS}
    assert [i.caller for i in await every_incident(store, logbook.Filters(caller=N))] == [N]
