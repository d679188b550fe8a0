"""The write-ahead journal and the logbook's write path, against real redis-server processes.

Each fault is real: a Redis that is down, killed and restarted without its data, or stalled;
what the agent was told ("logged", "journaled") is counted against what the logbook holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest
from structlog.testing import capture_logs

from agi import incidents as incidents_module
from agi.aftercare.journal import STORE, Entry, Journal
from agi.config_holder import ConfigHolder
from agi.engine import Incident
from agi.incidents import Logbook
from agi.wiring import build_store, redis_client
from redis_schema import keys
from tests.conftest import make_config
from tests.support.redis_server import RedisServer

N = "+31612345678"


class Clock:
    def __init__(self, now: float = 1_763_800_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def logbook_for(url: str, path, clock=None) -> Logbook:
    config = make_config(url, storage={"journal_path": str(path)})
    journal = Journal(path)
    journal.load()
    return Logbook(ConfigHolder(config), build_store(config), journal, None, clock or Clock())


def press(book: Logbook, linkedid: str, caller: str = N) -> Incident:
    return book.incident(caller, "abuse", source="key", agent="PJSIP/1001", linkedid=linkedid)


async def logbook_ids(store) -> set[str]:
    """What a supervisor can find: incidents that are in the index and whose owner holds them."""
    found = set()
    for iid, _ in await store.incidents.incident_ids():
        if await store.incidents.get_incident(iid) is not None:
            found.add(iid)
    return found


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.cleanup()


async def test_logged_incident_is_in_the_logbook_and_journal_is_private(tmp_path, redis_server, store):
    book = logbook_for(redis_server.url, tmp_path / "j" / "journal.jsonl")
    iid, status = await book.record(press(book, "call-1"), pause=False)
    assert status == "logged"
    assert await logbook_ids(store) == {iid}
    assert stat.S_IMODE(os.stat(book.journal.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(book.journal.path.parent).st_mode) == 0o700
    again, status = await book.record(press(book, "call-1"), pause=False)  # the same press again
    assert (again, status) == ("", "duplicate")
    assert await logbook_ids(store) == {iid}
    await book.store.close()


async def test_redis_down_journals_then_stores_once(tmp_path, redis_server, store, rdb):
    path = tmp_path / "journal.jsonl"
    down = logbook_for("redis://127.0.0.1:1/0", path)
    told = [await down.record(press(down, f"call-{i}"), pause=False) for i in range(5)]
    assert {s for _, s in told} == {"journaled"}
    assert await down.record(press(down, "call-0"), pause=False) == ("", "duplicate")  # retry while away
    await down.store.close()
    # The service restarts with Redis back: the journal is read from disk and stored.
    up = logbook_for(redis_server.url, path)
    assert up.journal.pending() == 5
    await up.work_once()
    assert await logbook_ids(store) == {iid for iid, _ in told}
    await up.work_once()  # nothing twice
    assert await rdb.zcard(keys.INCIDENTS_BY_TIME) == 5
    await up.store.close()


async def test_redis_restart_without_data_loses_no_acknowledged_incident(tmp_path, own_redis):
    clock = Clock()
    book = logbook_for(own_redis.url, tmp_path / "journal.jsonl", clock)
    await book.work_once()  # learns Redis's run_id and persistence
    assert not book.durability.durable and book.durability.mode == "none"
    told = [await book.record(press(book, f"call-{i}"), pause=False) for i in range(40)]
    assert {s for _, s in told} == {"logged"}
    own_redis.kill()
    own_redis.start()  # same port, no persistence: empty
    probe, own = build_store(book.config), redis_client(book.config)
    assert await own.dbsize() == 0
    for _ in range(3):
        clock.now += 10
        await book.work_once()
    assert await logbook_ids(probe) == {iid for iid, _ in told}
    [[_, raw]] = [(k, v) for k, v in (await own.hgetall(keys.caller(N))).items() if k == "n"]
    assert int(raw) == 40  # each stored once
    await own.aclose()
    await probe.close()
    await book.store.close()


async def test_durable_redis_settles_the_journal(tmp_path):
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    try:
        book = logbook_for(server.url, tmp_path / "journal.jsonl")
        await book.work_once()
        assert book.durability.durable and book.durability.mode == "aof-always"
        _, status = await book.record(press(book, "call-1"), pause=False)
        assert status == "logged"
        await book.work_once()
        assert book.journal.pending() == 0  # on Redis's disk, after-care done
        await book.store.close()
    finally:
        server.cleanup()


async def test_stalled_redis_answers_within_the_budget_and_loses_nothing(tmp_path, own_redis):
    book = logbook_for(own_redis.url, tmp_path / "journal.jsonl")
    await book.work_once()
    own_redis.pause()
    try:
        told = await asyncio.wait_for(
            asyncio.gather(*(book.record(press(book, f"c{i}"), pause=False) for i in range(10))), 5
        )
    finally:
        own_redis.resume()
    assert {s for _, s in told} == {"journaled"}
    for _ in range(3):
        book.clock.now += 70
        await book.work_once()
    probe = build_store(book.config)
    assert await logbook_ids(probe) == {iid for iid, _ in told}
    await probe.close()
    await book.store.close()


async def test_a_missing_index_is_completed_by_writing_again(store, rdb):
    inc = Incident.new(N, "abuse", 5.0, linkedid="l", source="key")
    await store.incidents.add_incident(inc)
    await rdb.zrem(keys.INCIDENTS_BY_TIME, inc.id)  # as if the budget ran out in between
    await rdb.hdel(keys.INCIDENT_OWNER, inc.id)
    assert await store.incidents.add_incident(inc) == (inc.id, False)
    assert await store.incidents.get_incident(inc.id) is not None
    assert await rdb.zscore(keys.INCIDENTS_BY_TIME, inc.id) == 5.0


async def test_unreadable_and_torn_lines_are_set_aside_not_dropped(tmp_path):
    path = tmp_path / "journal.jsonl"
    good = Entry(Incident.new(N, "abuse", 1.0), False, {STORE}, 1.0)
    path.write_bytes(b"{not json\n" + json.dumps(good.line()).encode() + b"\n" + b'{"op": "add", "inc')
    os.chmod(path, 0o644)
    journal = Journal(path)
    with capture_logs() as logs:
        assert journal.load() == 1
    assert [e["event"] for e in logs] == ["journal-lines-set-aside"]
    poison = path.with_name("journal.jsonl.poison")
    assert poison.read_bytes().splitlines() == [b"{not json", b'{"op": "add", "inc']
    assert stat.S_IMODE(os.stat(poison).st_mode) == 0o600
    await journal.note({"op": "done", "id": good.incident.id, "step": STORE})
    assert Journal(path).load() == 1 and stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_a_poison_incident_is_set_aside_and_the_rest_goes_on(tmp_path, redis_server, store, rdb):
    clock = Clock()
    book = logbook_for(redis_server.url, tmp_path / "journal.jsonl", clock)
    bad_caller = "+31687654321"
    await rdb.set(keys.caller(bad_caller), "not a hash")  # WRONGTYPE for ever
    _, status = await book.record(press(book, "x", bad_caller), pause=False)
    assert status == "journaled"
    iid, status = await book.record(press(book, "y"), pause=False)
    assert status == "logged"
    with capture_logs() as logs:
        for _ in range(8):
            clock.now += 120
            await book.work_once()
    assert book.journal.pending() == 1 and iid in book.journal.entries  # kept: Redis has no disk
    assert "journal-entry-set-aside" in [e["event"] for e in logs]
    assert len(tmp_path.joinpath("journal.jsonl.poison").read_text().splitlines()) == 1
    await book.store.close()


async def test_compaction_keeps_only_what_is_live(tmp_path, redis_server):
    clock = Clock()
    book = logbook_for(redis_server.url, tmp_path / "journal.jsonl", clock)
    for i in range(60):
        await book.record(press(book, f"call-{i}"), pause=False)
    await book.work_once()
    clock.now += book.config.storage.unconfirmed_keep_hours * 3600 + 1
    await book.work_once()
    assert book.journal.pending() == 0
    assert book.journal.path.read_bytes() == b""
    await book.store.close()


def test_only_what_no_retry_can_mend_is_poison():
    from redis.exceptions import (
        BusyLoadingError,
        DataError,
        NoPermissionError,
        ResponseError,
    )
    from redis.exceptions import (
        ConnectionError as RedisConnectionError,
    )

    from agi.incidents import is_outage

    for exc in (
        RedisConnectionError("refused"),
        BusyLoadingError("LOADING"),
        NoPermissionError("NOPERM"),
        ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist"),
        ResponseError("OOM command not allowed"),
        TimeoutError(),
        OSError("disk"),
    ):
        assert is_outage(exc), exc
    for exc in (
        ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ResponseError("ERR Error running script (call to f_x): user_script:1: bad"),
        DataError("x"),
        ValueError("a bug"),
    ):
        assert not is_outage(exc), exc


async def test_host_reboot_the_service_stores_its_journal_again(tmp_path, own_redis):
    """Service and a Redis without persistence restart together: the journal is written again."""
    path = tmp_path / "journal.jsonl"
    before = logbook_for(own_redis.url, path)
    told = [await before.record(press(before, f"call-{i}"), pause=False) for i in range(5)]
    assert {s for _, s in told} == {"logged"}
    await before.store.close()
    own_redis.kill()
    own_redis.start()
    after = logbook_for(own_redis.url, path)  # a new process reads the journal
    await after.work_once()
    assert await logbook_ids(after.store) == {iid for iid, _ in told}
    await after.store.close()


async def test_an_erased_caller_does_not_come_back_from_the_journal(tmp_path, redis_server, store):
    path = tmp_path / "journal.jsonl"
    book = logbook_for(redis_server.url, path)
    iid, _ = await book.record(press(book, "call-1"), pause=False)
    other, _ = await book.record(press(book, "call-2", caller="+31687654321"), pause=False)
    await store.erasure.forget(N)
    await book.store.close()
    restarted = logbook_for(redis_server.url, path)  # its first contact writes the journal again
    await restarted.work_once()
    assert await logbook_ids(store) == {other}
    assert iid not in restarted.journal.entries
    later, status = await restarted.record(press(restarted, "call-3"), pause=False)
    assert status == "logged" and await logbook_ids(store) == {other, later}  # a new incident is new
    await restarted.store.close()


async def test_nothing_taken_is_told_error_and_never_stored_behind_the_agents_back(tmp_path, redis_server, store):
    (tmp_path / "journal.jsonl").mkdir()  # the journal cannot be written
    down = logbook_for("redis://127.0.0.1:1/0", tmp_path / "journal.jsonl")
    iid, status = await down.record(press(down, "call-1"), pause=False)
    assert status == "error" and down.journal.pending() == 0
    up = Logbook(
        ConfigHolder(
            down.config.model_copy(update={"redis": down.config.redis.model_copy(update={"url": redis_server.url})})
        ),
        build_store(make_config(redis_server.url)),
        down.journal,
        None,
        Clock(),
    )
    await up.work_once()
    assert await logbook_ids(store) == set()  # the agent logs it another way, once
    _, status = await up.record(press(up, "call-2"), pause=False)
    assert status == "logged"  # Redis alone still logs, and says so
    await down.store.close()
    await up.store.close()


async def test_a_journal_from_before_0_2_is_stored(tmp_path, redis_server, store):
    path = tmp_path / "journal.jsonl"
    old = {
        "caller": N,
        "incident_id": "6b04179a2bbb",
        "category": "abuse",
        "at": 1763800000.0,
        "severity": 1,
        "agent": "PJSIP/1",
        "queue": "q",
        "uniqueid": "u",
        "linkedid": "call-9",
        "note": "",
        "source": "key",
        "actor": "PJSIP/1",
    }
    path.write_text(json.dumps(old) + "\n")
    book = logbook_for(redis_server.url, path)
    assert book.journal.pending() == 1
    await book.work_once()
    assert await logbook_ids(store) == {"6b04179a2bbb"}
    await book.store.close()


async def test_forget_takes_settled_history_out_of_the_journal_at_once(tmp_path):
    """With a durable Redis an incident leaves the journal's live entries within a pass, but its
    add line stays in the file until a compaction: an erasure rewrites the file at the next pass."""
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    path = tmp_path / "journal.jsonl"
    try:
        book = logbook_for(server.url, path)
        await book.work_once()
        await book.record(press(book, "call-0", caller="+31687654321"), pause=False)
        for n in range(3):
            assert (await book.record(press(book, f"call-{n + 1}"), pause=False))[1] == "logged"
        await book.work_once()
        assert book.journal.pending() == 0 and N.encode() in path.read_bytes()  # history, not live
        await book.store.erasure.forget(N)
        with capture_logs() as logs:
            await book.work_once()
        assert N.encode() not in path.read_bytes() and N[1:].encode() not in path.read_bytes()
        assert [e["entries"] for e in logs if e["event"] == "journal-erased"] == [0]
        assert oct(os.stat(path).st_mode & 0o777) == "0o600" and not path.with_name(path.name + ".tmp").exists()
        with capture_logs() as logs:
            await book.work_once()
        assert not [e for e in logs if e["event"] == "journal-erased"]  # nothing new: not rewritten again
        later, status = await book.record(press(book, "call-9"), pause=False)
        assert status == "logged" and N.encode() in path.read_bytes()  # a new incident is new
        await book.store.close()
    finally:
        server.cleanup()


async def test_a_press_with_redis_stalled_waits_one_budget_not_one_per_step(tmp_path, own_redis, monkeypatch):
    """A press from a call (agent and linkedid: the caller's name is read, the recording marked)
    answers within one store budget and the quarter for the recording's mark. It waited one budget
    per step before (a quarter for the name, one for the store, one for the mark: 2.25 budgets).
    The budget is made long here, so that the machine's load is small beside the difference."""
    monkeypatch.setattr(incidents_module, "STORE_BUDGET_SECONDS", 4.0)
    book = logbook_for(own_redis.url, tmp_path / "journal.jsonl")
    await book.work_once()
    own_redis.pause()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        iid, status = await book.record(press(book, "call-stalled"), pause=False)
        waited = loop.time() - began
    finally:
        own_redis.resume()
    assert status == "journaled" and iid
    assert 4.0 <= waited < 7.0, waited  # 5 s now (1.25 budgets); 9 s before
    await book.store.close()
