"""Issue 27's bugs, each with a test that failed before its fix (real redis-server, no mocks)."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from agi.actions import lists, logbook
from agi.ami.client import AmiClient
from agi.callbacks import appointments as A
from agi.callbacks.model import Appointment
from agi.callbacks.placer import Placer
from agi.engine import DAY, Allow, Ban, Incident
from agi.wiring import build
from redis_schema import keys
from redis_schema.connection import connect
from redis_schema.record_hash import Quarantine, RecordHash
from redis_schema.records import APPOINTMENT
from redis_schema.store import Store
from tests.conftest import make_config
from tests.support.redis_server import RedisServer

N = "+31612345678"


# ---- bug 1: a ban longer than the retention keeps its caller until it ends ----------------------
async def _ends_in(store, number: str) -> float:
    return (await store.screening.load_caller(number)).ban.until - time.time()


async def test_a_ten_year_ban_keeps_the_caller_until_it_ends_through_every_later_write(store, rdb):
    now = time.time()
    target = lists.Target("number", N)
    await lists.ban(store, lists.Change(target, "threats", "sup1", now), lists.MAX_BAN_DAYS)
    key = keys.caller(N)
    assert store.retention == 365 * DAY
    assert await rdb.ttl(key) >= await _ends_in(store, N) > 9 * 365 * DAY
    # Every later write that sets the TTL: a key press (add_incident.lua), the allowlist, a warning.
    await store.incidents.add_incident(Incident.new(N, "abuse", time.time(), source="key", linkedid="call-1"))
    assert await rdb.ttl(key) >= await _ends_in(store, N)
    await store.lists.set_allow(N, Allow(reason="r", set_at=time.time(), actor="sup1"))
    assert await rdb.ttl(key) >= await _ends_in(store, N)
    await store.incidents.mark_warning_sent(N, time.time(), "sup1")
    assert await rdb.ttl(key) >= await _ends_in(store, N)
    # The bans index lists what refuses, with the same end.
    [row] = await lists.active_bans(store, time.time())
    assert (row.target, row.until) == (N, (await store.screening.load_caller(N)).ban.until)
    assert await rdb.zscore(keys.BANS, N) == pytest.approx(row.until, abs=0.001)


async def test_a_short_ban_a_shorter_re_ban_and_an_unban_keep_the_retention(store, rdb):
    key = keys.caller(N)
    now = time.time()
    await store.incidents.add_incident(Incident.new(N, "abuse", now))
    await store.lists.set_ban(N, Ban(until=now + 3650 * DAY, reason="r", set_at=now))
    await store.lists.set_ban(N, Ban(until=now + 30 * DAY, reason="r", set_at=now))  # shortened: no longer kept past it
    assert store.retention - 60 <= await rdb.ttl(key) <= store.retention
    await store.lists.set_ban(N, Ban(until=now + 3650 * DAY, reason="r", set_at=now))
    await lists.unban(store, lists.Target("number", N), "sup1", now)
    assert store.retention - 60 <= await rdb.ttl(key) <= store.retention
    # A new caller's first write sets the retention (the key had no TTL yet).
    await store.lists.set_allow("+31687654321", Allow(reason="r", set_at=now))
    assert store.retention - 60 <= await rdb.ttl(keys.caller("+31687654321")) <= store.retention


async def test_seeded_and_earlier_long_bans_keep_their_caller_until_they_end(store, rdb):
    now = time.time()
    long_ban = Ban(until=now + 3650 * DAY, reason="r", set_at=now)
    await store.incidents.bulk_load([(N, [Incident.new(N, "abuse", now)], long_ban)])
    assert await rdb.ttl(keys.caller(N)) >= await _ends_in(store, N)
    # A ban stored by an earlier version, whose caller key had only the retention: the upgrade's
    # `grenswacht bans --rebuild-index` extends it.
    await rdb.expire(keys.caller(N), store.retention)
    await store.lists.rebuild_list_indexes()
    assert await rdb.ttl(keys.caller(N)) >= await _ends_in(store, N)


# ---- bug 4: an appointment erased while the placer handles it ends only its own handling ---------
class ErasedMeanwhile(RecordHash[Appointment]):
    """The placer's store's appointments; another supervisor's `forget` of ``victim`` lands right
    after the placer read them (real Redis, real erasure: only the moment is chosen)."""

    def __init__(self, redis: Redis, quarantine: Quarantine, eraser: Store, victim: str) -> None:
        super().__init__(redis, keys.CALLBACKS, APPOINTMENT, quarantine)
        self.eraser, self.victim = eraser, victim

    @staticmethod
    def store(redis: Redis, eraser: Store, victim: str) -> Store:
        store = Store(redis)
        store.callbacks = ErasedMeanwhile(redis, store.quarantine, eraser, victim)
        return store

    async def all(self) -> dict[str, Appointment]:
        found = await super().all()
        if self.victim:
            victim, self.victim = self.victim, ""
            await self.eraser.erasure.forget(victim)
        return found


async def test_an_appointment_erased_while_placed_leaves_the_others_alone(redis_server, store):
    now = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()
    deps = build(make_config(redis_server.url, callbacks={"caller_id": "+31201234567"}), clock=lambda: now)
    erased, missed, due = "+31611111111", "+31622222222", "+31633333333"

    def booked(caller: str, minutes_ago: float) -> A.Appointment:
        return A.new_appointment(
            caller=caller, agent="PJSIP/1001", queue="support", due=now - minutes_ago * 60, now=now - 3600
        )

    gone = await A.save_new(store, booked(erased, 40))  # missed, and erased while the placer handles it
    late = await A.save_new(store, booked(missed, 35))  # missed: marked and reported
    placed = await A.save_new(store, booked(due, 1))  # due: claimed and placed (AMI is down: a retry)
    ami = AmiClient("127.0.0.1", 1, "grenswacht", "secret")  # not connected: an attempt fails at once
    placer = Placer(
        deps.settings, ErasedMeanwhile.store(connect(redis_server.url), store, erased), ami, deps.logbook, deps.clock
    )
    try:
        with capture_logs() as logs:
            assert await placer.round() == [placed.id]
            await placer.wait_calls()
    finally:
        await placer.store.close()
        await deps.store.close()
    assert await store.callbacks.get(gone.id) is None
    missed_one = await store.callbacks.get(late.id)
    assert missed_one is not None and missed_one.status == "missed"
    [inc] = (await store.screening.load_caller(missed)).incidents
    assert inc.category == "callback" and "missed" in inc.note
    retried = await store.callbacks.get(placed.id)
    assert retried is not None and (retried.status, retried.attempts, retried.outcome) == (
        "scheduled",
        1,
        "agent-no-answer",
    )
    told = [e for e in logs if e["event"] == "callback-changed-meanwhile"]
    assert [e["id"] for e in told] == [gone.id]
    assert not [e for e in logs if e["event"] == "callback-placing-failed"]


# ---- bug 3: an erasure whose rewrite on disk is not confirmed in time is audited and said so -----
REWRITE_SECONDS_PER_KEY = 1  # Redis's own test knob: each key delays an AOF rewrite by this much


def slow_rewrite_redis() -> RedisServer:
    """A real Redis with AOF whose rewrite takes about a second per key (rdb-key-save-delay, in µs)."""
    delay = str(REWRITE_SECONDS_PER_KEY * 1_000_000)
    return RedisServer(extra_args=("--appendonly", "yes", "--rdb-key-save-delay", delay)).start()


async def seed_for_erasure(store: Store, others: int = 40) -> None:
    """The caller to erase and ``others`` callers, so the rewrite after the erasure takes ``others`` s."""
    now = time.time()
    callers = [(N, [Incident.new(N, "abuse", now, note="shouted")], None)]
    callers += [(f"+3161{k:07d}", [Incident.new(f"+3161{k:07d}", "abuse", now)], None) for k in range(others)]
    await store.incidents.bulk_load(callers)
    await store.streams.audit("sup1", "ban", now, number=N)  # an audit entry naming the number: erased too


async def test_forget_whose_rewrite_outlasts_the_wait_is_audited_and_says_so(tmp_path):
    from tests.test_cli import SCRIPT

    server = slow_rewrite_redis()
    store = build(make_config(server.url)).store
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{server.url}"\n')
    try:
        await seed_for_erasure(store)
        out = subprocess.run(
            [SCRIPT, "--config", str(cfg), "forget", "0612345678", "--yes", "--wait", "0.5", "--actor", "dpo"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr == (
            "grenswacht: erased: 2 record(s) removed, but durability not confirmed within 0.5 s: Redis is still "
            "rewriting its files on disk, which may hold the number until then; run forget again later.\n"
        )
        assert (await store.screening.load_caller(N)).incidents == ()
        audit = [
            (e["actor"], e["action"], e.get("records"), e.get("wait")) for e in await store.streams.audit_entries()
        ]
        assert audit == [("dpo", "forget", "2", None), ("dpo", "forget-not-on-disk", None, "0.5 s")]
        bad = subprocess.run(
            [SCRIPT, "--config", str(cfg), "forget", "0612345678", "--yes", "--wait", "0"],
            capture_output=True,
            text=True,
        )
        assert (bad.returncode, bad.stderr) == (2, "grenswacht: --wait must be more than 0 and at most 3600 seconds.\n")
    finally:
        await store.close()
        server.cleanup()


# ---- bug 5: a rare match past the scan budget is reached through the next page -------------------
BUDGET = 20_000  # the index entries one logbook page reads at most (logbook.query's max_scan)


async def seed_past_the_budget(store: Store, now: float) -> str:
    """BUDGET + 3000 incidents in the index (pipelined), and one rare match older than a page's scan reaches
    (before the fix the last batch could overshoot the budget by up to 2,000 entries)."""
    common = [
        (f"+3162{k:07d}", [Incident.new(f"+3162{k:07d}", "abuse", now - k, agent="PJSIP/common")], None)
        for k in range(BUDGET + 3000)
    ]
    rare = Incident.new("+31699999999", "threat", now - BUDGET - 2500.5, agent="PJSIP/rare")
    await store.incidents.bulk_load([*common, ("+31699999999", [rare], None)])
    # (at least: a late write of an earlier test in this worker may add its own entry)
    assert len(await store.incidents.incident_ids()) >= BUDGET + 3001
    return rare.id


async def test_a_rare_match_past_the_scan_budget_is_on_the_next_page(store):
    now = time.time()
    rare = await seed_past_the_budget(store, now)
    f = logbook.Filters(agent="rare")
    first = await logbook.query(store, f, 1, 50)
    assert (first.items, first.more) == ([], True)  # nothing within the budget, but the scan is not done
    second = await logbook.query(store, f, 2, 50, after=logbook.position(first.after))
    assert ([i.id for i in second.items], second.more, second.after) == ([rare], False, "")
    # Unfiltered pages continue where the previous one ended, by position as by page number.
    top = await logbook.query(store, logbook.Filters(), 1, 50)
    assert top.more and len(top.items) == 50
    nxt = await logbook.query(store, logbook.Filters(), 2, 50, after=logbook.position(top.after))
    assert [i.id for i in nxt.items] == [i.id for i in (await logbook.query(store, logbook.Filters(), 2, 50)).items]


async def test_positions_page_through_incidents_of_the_same_time_once_each(store):
    at = time.time()
    ids = {(await store.incidents.add_incident(Incident.new(f"+3161000000{k}", "abuse", at)))[0] for k in range(5)}
    seen: list[str] = []
    after = None
    while True:
        page = await logbook.query(store, logbook.Filters(category="abuse"), 1, 2, after=after)
        seen += [i.id for i in page.items]
        if not page.more:
            break
        after = logbook.position(page.after)
    assert sorted(seen) == sorted(ids) and len(seen) == 5
