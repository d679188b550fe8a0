"""Issue 29: the agent's page refreshes itself from /me/live, which only ever carries the asking
agent's own call, cool-down, block requests and callbacks (tried as two agents)."""

from __future__ import annotations

import time

import pytest_asyncio

from agi.actions import agents, users
from agi.engine import Incident
from redis_schema.records import Cooldown, LiveCall
from tests.console.conftest import PASSWORD, logged_in

BERT, CARLA = "Local/1001@agents/n", "Local/1002@agents/n"
FOR_BERT, FOR_CARLA = "+31612345678", "+31687654321"


@pytest_asyncio.fixture
async def two(app, store):
    """Two agents, each on a call, in a cool-down and with a block request of their own."""
    now = time.time()
    out = {}
    for name, iface, caller, reason in (
        ("bert", BERT, FOR_BERT, "bert's reason"),
        ("carla", CARLA, FOR_CARLA, "carla's reason"),
    ):
        user = await users.add(store, name, "agent", PASSWORD, "test", now, interfaces=[iface])
        await store.live.start(LiveCall(iface, f"call-{name}", caller, "support", iface + ";1", now - 30), 600)
        await store.cooldowns.put(iface, Cooldown(iface, ("support",), now, now + 120))
        iid, _ = await store.incidents.add_incident(Incident.new(caller, "abuse", now - 60, agent=iface, source="key"))
        req = await agents.request_block(store, user, iid, reason, now)
        out[name] = (await logged_in(app, name), req)
    yield out
    for client, _ in out.values():
        await client.http.aclose()


async def test_each_agent_gets_only_their_own_live_parts(two):
    for me, other in (("bert", "carla"), ("carla", "bert")):
        client, _ = two[me]
        r = await client.get("/me/live")
        assert r.status_code == 200
        html = r.text
        mine = {"bert": (BERT, FOR_BERT), "carla": (CARLA, FOR_CARLA)}
        assert all(x in html for x in mine[me]) and f"{me}&#39;s reason" in html
        assert (
            not any(x in html for x in mine[other])
            and "call-" + other not in html
            and f"{other}&#39;s reason" not in html
        )
        assert 'id="my-call"' in html and 'id="my-side"' in html
        assert 'class="incident-own"' not in html  # the incidents and their forms are not refreshed


async def test_a_decision_on_a_block_request_reaches_the_agents_live_parts(two, sup, store):
    client, req = two["bert"]
    assert "open" in (await client.get("/me/live")).text
    r = await sup.post(f"/block-requests/{req.id}/decline", {"note": "talk to me first"})
    assert r.status_code == 303
    html = (await client.get("/me/live")).text
    assert "declined" in html and "talk to me first" in html
    assert "talk to me first" not in (await two["carla"][0].get("/me/live")).text


async def test_the_call_leaves_the_live_parts_when_it_ends_and_the_session_is_checked_each_time(two, store):
    client, _ = two["bert"]
    await store.live.end(BERT, "call-bert", time.time(), 600)
    assert FOR_BERT not in (await client.get("/me/live")).text.split('id="my-side"')[0]
    await users.remove(store, "bert", "test", time.time())  # the account is gone: the next fetch is refused
    r = await client.get("/me/live")
    assert r.status_code == 303 and r.headers["location"] == "/login"
