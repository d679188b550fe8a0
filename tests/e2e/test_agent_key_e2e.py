"""The agent's side on a real Asterisk 22: end-and-log, handover, cool-down, notification, journal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from agi.aftercare.journal import STORE
from agi.engine import Incident
from tests.e2e.test_screening_e2e import contexts, on, played, varset

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"


async def incidents(e2e, number=N):
    return (await e2e.deps.store.screening.load_caller(number)).incidents


async def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not reached")


async def call_and_press(ami, keys="*0", number="0612345678", **kw):
    return await ami.originate(number, variables={"__GW_TEST_KEYS": keys}, **kw)


async def test_end_and_log_closes_the_caller_logs_once_notifies_and_cools_down(e2e, ami, rdb):
    lid = await call_and_press(ami)
    # The caller's side hears the closing message and is hung up.
    await ami.wait_for(
        lambda e: (
            e.get("Linkedid") == lid
            and e.get("Event") == "Newexten"
            and e.get("Context") == "grenswacht-closing"
            and e.get("Application") == "Playback"
        )
    )
    assert "grenswacht/nl/closing" in played(ami, lid)
    await ami.wait_for(on(lid, "Hangup", Context="grenswacht-closing"), timeout=30)
    # The agent heard the confirmation tone.
    assert "beep" in played(ami, lid)
    # Logged once, with who / when / what.
    [inc] = await wait_until(lambda: incidents(e2e))
    assert (inc.category, inc.source, inc.queue) == ("abuse", "key", "support")
    assert inc.agent.startswith("Local/100") and inc.agent.endswith("@agents/n")
    assert inc.linkedid == lid and abs(inc.at - time.time()) < 30
    # The supervisor's AMI event, and the logbook stream entry.
    ev = await ami.wait_for(
        lambda e: (
            e.get("Event") == "UserEvent"
            and e.get("UserEvent") == "GrenswachtIncident"
            and e.get("IncidentId") == inc.id
        )
    )
    assert ev["Caller"] == N and ev["Category"] == "abuse" and ev["Agent"] == inc.agent
    stream = await rdb.xrange("gw:events")
    # One incident (the live board also hears of the cool-down it started: type "cooldown").
    assert [f["id"] for _, f in stream if f.get("type", "incident") == "incident"] == [inc.id]
    assert {f.get("type", "incident") for _, f in stream} <= {"incident", "cooldown"}
    # Cool-down: paused with our reason, then unpaused automatically (3 s in the test config).
    await ami.wait_for(
        lambda e: (
            e.get("Event") == "QueueMemberPause"
            and e.get("Interface") == inc.agent
            and e.get("Paused") == "1"
            and e.get("PausedReason") == "grenswacht-cooldown"
        )
    )
    await ami.wait_for(
        lambda e: e.get("Event") == "QueueMemberPause" and e.get("Interface") == inc.agent and e.get("Paused") == "0",
        timeout=20,
    )
    # The incident counts in the caller's next screening.
    lid2 = await ami.originate("0612345678")
    # The dialplan first empties GW_ACTION (MSet), then the screening sets it.
    await ami.wait_for(lambda e: on(lid2, "VarSet", Variable="GW_ACTION")(e) and e.get("Value"))
    assert varset(ami, lid2, "GW_ACTION") == "warn"


async def test_a_retry_for_the_same_call_logs_nothing_new(e2e, ami):
    lid = await call_and_press(ami, keys="*0")
    [first] = await wait_until(lambda: incidents(e2e))
    # The same call's key press replayed: the route runs again with the same linkedid.
    again, created = await e2e.deps.store.incidents.add_incident(
        Incident.new(N, "abuse", time.time(), linkedid=lid, source="key")
    )
    assert (again, created) == (first.id, False)
    assert len(await incidents(e2e)) == 1


async def test_one_caller_up_the_whole_ladder(e2e, ami):
    seen = []
    for step in range(4):
        lid = await ami.originate("0612345678", variables={"__GW_TEST_KEYS": "*0", "__GW_TEST_SENIOR_KEYS": "*0"})
        await ami.wait_for(
            lambda e: (
                e.get("Linkedid") == lid
                and e.get("Event") == "VarSet"
                and e.get("Variable") == "GW_ACTION"
                and e.get("Value")
            )
        )
        action = varset(ami, lid, "GW_ACTION")
        seen.append(action)
        if action == "refuse":
            break
        await wait_until(lambda: _count_is(e2e, step + 1), timeout=45)
    assert seen == ["allow", "warn", "senior", "refuse"]
    await ami.wait_for(on(lid, "Newexten", Application="Playback"))
    assert played(ami, lid) == ["grenswacht/nl/refused"]


async def _count_is(e2e, n):
    return len(await incidents(e2e)) == n


async def test_handover_moves_the_caller_to_the_senior_and_logs_a_handover(e2e, ami):
    lid = await call_and_press(ami, keys="*8")
    ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestSeniorAnswered"), timeout=30)
    assert ev["Name"] == "[GW 1] Jansen" and ev["Caller"] == N
    [inc] = await wait_until(lambda: incidents(e2e))
    assert (inc.category, inc.source) == ("handover", "handover")
    assert "grenswacht-handover" in contexts(ami, lid)
    # A handover weighs 0: the next call is still allowed.
    lid2 = await ami.originate("0612345678")
    await ami.wait_for(lambda e: e.get("Linkedid") == lid2 and e.get("Variable") == "GW_ACTION" and e.get("Value"))
    assert varset(ami, lid2, "GW_ACTION") == "allow"


async def test_redis_down_during_the_key_press_the_incident_arrives_once_later(e2e, ami, redis_server):
    redis_server.stop()
    try:
        lid = await call_and_press(ami)
        # The call still ends politely for the caller.
        await ami.wait_for(on(lid, "Hangup", Context="grenswacht-closing"), timeout=30)
        await wait_until(lambda: _journal_has(e2e, 1), timeout=10)
    finally:
        redis_server.start()
    [inc] = await wait_until(lambda: incidents(e2e), timeout=20)
    assert inc.linkedid == lid and inc.category == "abuse"
    await wait_until(lambda: _journal_has(e2e, 0))
    await asyncio.sleep(2.5)  # another replay round: still exactly one
    assert len(await incidents(e2e)) == 1


async def _journal_has(e2e, n):
    """Incidents in the journal that Redis does not hold yet."""
    return sum(STORE in e.steps for e in e2e.deps.logbook.journal.entries.values()) == n


async def test_a_manual_pause_is_left_alone(e2e, ami):
    # Every agent is paused in "sales" by a supervisor before the call.
    for agent in ("1001", "1002"):
        await ami.action(
            Action="QueuePause", Interface=f"Local/{agent}@agents/n", Queue="sales", Paused="true", Reason="supervisor"
        )
    try:
        mark = len(ami.events)  # a cool-down pause after this is this call's
        await call_and_press(ami)
        [inc] = await wait_until(lambda: incidents(e2e))

        def after(index: int, match: Callable[[dict], bool]) -> Callable[[dict], bool]:
            return lambda e: match(e) and any(e is x for x in ami.events[index:])

        def support_pause(paused: str) -> Callable[[dict], bool]:
            return lambda e: (
                e.get("Event") == "QueueMemberPause"
                and e.get("Interface") == inc.agent
                and e.get("Queue") == "support"
                and e.get("Paused") == paused
            )

        # This call's cool-down, then its end: an unpause left over from an earlier test on this
        # worker's Asterisk (a cool-down ending after that test) must not count.
        started = await ami.wait_for(after(mark, support_pause("1")), timeout=20)
        later = next(i for i, e in enumerate(ami.events) if e is started) + 1
        await ami.wait_for(after(later, support_pause("0")), timeout=20)
        await asyncio.sleep(1.5)
        status = await e2e.deps.ami.member_pauses(inc.agent)
        assert status == {"support": None, "sales": "supervisor"}
    finally:
        for agent in ("1001", "1002"):
            await ami.action(Action="QueuePause", Interface=f"Local/{agent}@agents/n", Queue="sales", Paused="false")
