"""The board's threats not yet reported to the police come from an index of their own.

Before, the board read the newest 2,000 incidents of the last 30 days (2,000 caller hashes on
every board load) and kept the threats among them: a threat with 2,000 other incidents after it
was missing from the board, though its report was the most urgent.
"""

from __future__ import annotations

import time

import pytest

from agi.actions import police
from agi.engine import DAY, Incident
from redis_schema import keys


@pytest.mark.asyncio
async def test_an_old_unreported_threat_is_on_the_board_however_many_incidents_came_after(store, config) -> None:
    now = time.time()
    old = Incident.new("+31612345678", "threat", now - 20 * DAY, severity=3, agent="PJSIP/a1")
    await store.incidents.add_incident(old)
    for k in range(2001):
        await store.incidents.add_incident(Incident.new(f"+3162{k:07d}", "abuse", now - 10 * DAY + k, agent="PJSIP/a2"))
    recent = Incident.new("+31698765432", "threat", now - 3600, severity=3)
    await store.incidents.add_incident(recent)

    shown = await police.unreported_threats(store, config, now)
    assert [u.incident.id for u in shown] == [old.id, recent.id]  # the most urgent (oldest) first

    await police.mark_reported(store, old.id, now, "PL0900-1", "sup1", now)
    assert [u.incident.id for u in await police.unreported_threats(store, config, now)] == [recent.id]


@pytest.mark.asyncio
async def test_the_unreported_index_is_rebuilt_without_the_reported_and_emptied_by_erasure(store, config, rdb) -> None:
    now = time.time()
    a = Incident.new("+31611111111", "threat", now - 5 * DAY)
    b = Incident.new("+31622222222", "threat", now - 4 * DAY)
    c = Incident.new("+31633333333", "abuse", now - 3 * DAY)
    for inc in (a, b, c):
        await store.incidents.add_incident(inc)
    await police.mark_reported(store, a.id, now, "PL0900-2", "sup1", now)
    assert await rdb.zrange(keys.UNREPORTED_THREATS, 0, -1) == [b.id]
    await rdb.delete(keys.UNREPORTED_THREATS)
    await store.rebuild.run()
    assert await rdb.zrange(keys.UNREPORTED_THREATS, 0, -1) == [b.id]
    await store.erasure.erase_caller("+31622222222")
    assert await rdb.zrange(keys.UNREPORTED_THREATS, 0, -1) == []
    assert await police.unreported_threats(store, config, now) == []
