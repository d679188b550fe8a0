"""Issue 27's bugs, each with a test that failed before its fix (real redis-server, no mocks)."""

from __future__ import annotations

import time

import pytest

from agi.actions import lists
from agi.engine import DAY, Allow, Ban, Incident
from redis_schema import keys

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
