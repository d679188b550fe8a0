"""Issue 29: the board's live calls (store.live's record of every answered call) and their listen-in's refusals."""

from __future__ import annotations

import time

from agi.actions import help as help_actions
from agi.actions import users
from redis_schema import keys
from redis_schema.records import LiveCall
from tests.console.conftest import PASSWORD, logged_in

A1, A2, A3 = "Local/1001@agents/n", "Local/1002@agents/n", "PJSIP/1003"


def call(agent: str, lid: str, queue: str = "support", started: float = 0.0) -> LiveCall:
    return LiveCall(agent, lid, "+31612345678", queue, agent.replace("/n", "") + "-0000000a;1", started or time.time())


async def test_answered_calls_are_listed_until_they_end_and_a_newer_call_stays(store):
    now = time.time()
    await store.live.start(call(A1, "L1", started=now - 60), 600)
    await store.live.start(call(A2, "L2", "sales", now - 30), 600)
    assert [c.linkedid for c in await store.live.talking(now)] == ["L1", "L2"]  # longest first
    await store.live.start(call(A1, "L3", started=now), 600)  # A1's next call replaces the first
    assert await store.live.talking_on(A1, "L1") is None and (await store.live.talking_on(A1, "L3")).linkedid == "L3"
    await store.live.end(A1, "L1", now, 600)  # the first call's late end leaves the newer call alone
    assert await store.live.talking_on(A1, "L3") is not None
    await store.live.end(A1, "L3", now, 600)
    assert [c.linkedid for c in await store.live.talking(now)] == ["L2"]
    assert (await store.live.current(A1)).ended == now  # the after-call window's record is untouched


async def test_an_entry_whose_end_never_came_or_that_cannot_be_read_is_dropped(store, rdb):
    now = time.time()
    await store.live.start(call(A1, "OLD", started=now - 9 * 3600), 600)
    await rdb.hset(keys.TALKING, A2, "{not json")
    await store.live.start(call(A3, "NEW", queue=""), 600)
    assert [c.linkedid for c in await store.live.talking(now)] == ["NEW"]
    assert await rdb.hkeys(keys.TALKING) == [A3]
    assert [k for k in await rdb.hkeys(keys.QUARANTINE) if A2 in k]  # set aside for an operator


async def test_the_board_lists_the_calls_by_queue_with_the_three_buttons(app, sup, store):
    now = time.time()
    for agent, lid, queue in ((A1, "L1", "support"), (A2, "L2", "sales"), (A3, "L3", "")):
        await store.live.start(call(agent, lid, queue, now), 600)
    assert list(await help_actions.live_calls(store, now)) == ["sales", "support", ""]
    html = (await sup.get("/")).text
    block = html[html.index('id="live-calls"') :]
    assert block.index('data-queue="sales"') < block.index('data-queue="support"') < block.index('data-queue=""')
    for lid in ("L1", "L2", "L3"):
        for mode in help_actions.MODES:
            assert f'action="/live/{lid}/{mode}"' in block
    assert 'name="agent" value="PJSIP/1003"' in block
    assert 'id="live-calls"' in (await sup.get("/board/panels")).text  # the panel the stream refreshes


async def test_listen_without_a_phone_or_without_ami_says_so_and_audits_nothing(app, sup, store):
    await store.live.start(call(A1, "L1"), 600)
    r = await sup.post("/live/L1/listen", {"agent": A1})
    assert r.status_code == 409 and "sup1 has no phone to ring" in r.text
    await users.set_phone(store, "sup1", "PJSIP/1005", "test", time.time())
    r = await sup.post("/live/L1/listen", {"agent": A1})
    assert r.status_code == 409 and "listening in needs AMI" in r.text
    r = await sup.post("/live/L1/spy", {"agent": A1})
    assert r.status_code == 409 and "the mode must be" in r.text
    assert not [e for e in await store.streams.audit_entries() if e["action"] in help_actions.MODES]


async def test_an_agent_cannot_listen_in_and_the_form_needs_its_csrf(app, sup, store):
    await users.add(store, "bert", "agent", PASSWORD, "test", time.time(), interfaces=[A1])
    bert = await logged_in(app, "bert")
    await store.live.start(call(A2, "L2"), 600)
    r = await bert.post("/live/L2/listen", {"agent": A2}, page="/me")
    assert r.status_code in (303, 403) and r.headers.get("location") != "/?ringing=listen"
    assert "L2" not in (await bert.get("/me")).text
    r = await sup.post("/live/L2/listen", {"agent": A2}, csrf="wrong")
    assert r.status_code == 403
    await bert.http.aclose()
