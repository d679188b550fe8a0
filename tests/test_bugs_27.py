"""Issue 27's bugs, each with a test that failed before its fix (real redis-server, no mocks)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from agi.actions import lists
from agi.ami.client import AmiClient
from agi.callbacks import appointments as A
from agi.callbacks.model import Appointment
from agi.callbacks.placer import Placer
from agi.engine import DAY, Allow, Ban, Incident
from agi.service import build
from redis_schema import keys
from redis_schema.store import Store, connect
from tests.conftest import make_config

N = "+31612345678"


# ---- bug 1: a ban longer than the retention keeps its caller until it ends ----------------------
async def _ends_in(store, number: str) -> float:
    return (await store.load_caller(number)).ban.until - time.time()


async def test_a_ten_year_ban_keeps_the_caller_until_it_ends_through_every_later_write(store):
    now = time.time()
    target = lists.Target("number", N)
    await lists.ban(store, target, lists.MAX_BAN_DAYS, "threats", "sup1", now)
    key = keys.caller(N)
    assert store.retention == 365 * DAY
    assert await store.redis.ttl(key) >= await _ends_in(store, N) > 9 * 365 * DAY
    # Every later write that sets the TTL: a key press (add_incident.lua), the allowlist, a warning.
    await store.add_incident(Incident.new(N, "abuse", time.time(), source="key", linkedid="call-1"))
    assert await store.redis.ttl(key) >= await _ends_in(store, N)
    await store.set_allow(N, Allow(reason="r", set_at=time.time(), actor="sup1"))
    assert await store.redis.ttl(key) >= await _ends_in(store, N)
    await store.mark_warning_sent(N, time.time(), "sup1")
    assert await store.redis.ttl(key) >= await _ends_in(store, N)
    # The bans index lists what refuses, with the same end.
    [row] = await lists.active_bans(store, time.time())
    assert (row.target, row.until) == (N, (await store.load_caller(N)).ban.until)
    assert await store.redis.zscore(keys.BANS, N) == pytest.approx(row.until, abs=0.001)


async def test_a_short_ban_a_shorter_re_ban_and_an_unban_keep_the_retention(store):
    key = keys.caller(N)
    now = time.time()
    await store.add_incident(Incident.new(N, "abuse", now))
    await store.set_ban(N, Ban(until=now + 3650 * DAY, reason="r", set_at=now))
    await store.set_ban(N, Ban(until=now + 30 * DAY, reason="r", set_at=now))  # shortened: no longer kept past it
    assert store.retention - 60 <= await store.redis.ttl(key) <= store.retention
    await store.set_ban(N, Ban(until=now + 3650 * DAY, reason="r", set_at=now))
    await lists.unban(store, lists.Target("number", N), "sup1", now)
    assert store.retention - 60 <= await store.redis.ttl(key) <= store.retention
    # A new caller's first write sets the retention (the key had no TTL yet).
    await store.set_allow("+31687654321", Allow(reason="r", set_at=now))
    assert store.retention - 60 <= await store.redis.ttl(keys.caller("+31687654321")) <= store.retention


async def test_seeded_and_earlier_long_bans_keep_their_caller_until_they_end(store):
    now = time.time()
    long_ban = Ban(until=now + 3650 * DAY, reason="r", set_at=now)
    await store.bulk_load([(N, [Incident.new(N, "abuse", now)], long_ban)])
    assert await store.redis.ttl(keys.caller(N)) >= await _ends_in(store, N)
    # A ban stored by an earlier version, whose caller key had only the retention: the upgrade's
    # `grenswacht bans --rebuild-index` extends it.
    await store.redis.expire(keys.caller(N), store.retention)
    await store.rebuild_list_indexes()
    assert await store.redis.ttl(keys.caller(N)) >= await _ends_in(store, N)


# ---- bug 4: an appointment erased while the placer handles it ends only its own handling ---------
class ErasedMeanwhile(Store):
    """The placer's own store; another supervisor's `forget` of ``victim`` lands right after the
    placer read the appointments (real Redis, real erasure: only the moment is chosen)."""

    def __init__(self, redis, eraser: Store, victim: str):
        super().__init__(redis)
        self.eraser, self.victim = eraser, victim

    async def callbacks(self) -> dict[str, str]:
        found = await super().callbacks()
        if self.victim:
            victim, self.victim = self.victim, ""
            await self.eraser.forget(victim)
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
        deps.config, ErasedMeanwhile(connect(redis_server.url), store, erased), ami, deps.logbook, deps.clock
    )
    try:
        with capture_logs() as logs:
            assert await placer.round() == [placed.id]
            await placer.wait_calls()
    finally:
        await placer.store.close()
        await deps.store.close()
    assert await store.callback(gone.id) == ""
    assert Appointment.load(await store.callback(late.id)).status == "missed"
    [inc] = (await store.load_caller(missed)).incidents
    assert inc.category == "callback" and "missed" in inc.note
    retried = Appointment.load(await store.callback(placed.id))
    assert (retried.status, retried.attempts, retried.outcome) == ("scheduled", 1, "agent-no-answer")
    told = [e for e in logs if e["event"] == "callback-changed-meanwhile"]
    assert [e["id"] for e in told] == [gone.id]
    assert not [e for e in logs if e["event"] == "callback-placing-failed"]
