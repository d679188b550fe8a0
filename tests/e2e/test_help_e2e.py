"""Issue 29 on a real Asterisk 22: the help key (*2) and the quieter key (*4) on a bridged call."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from selenium.webdriver.common.by import By

from agi.actions import ActionError, users
from agi.actions import help as help_actions
from agi.engine import Incident
from redis_schema.records import User
from tests.console.browser import chromium, console_process, shot, wait
from tests.e2e.board import open_board, row_appears
from tests.e2e.test_agent_key_e2e import call_and_press, wait_until
from tests.e2e.test_screening_e2e import on

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
PASSWORD = "a long enough password"


async def key_ran(ami, lid: str, exten: str) -> dict:
    """The Newexten of the agent's feature code (its Channel is the agent's channel)."""
    return await ami.wait_for(
        lambda e: on(lid, "Newexten", Context="grenswacht-agent-key", Extension=exten)(e) and e.get("Priority") == "1"
    )


async def press(ami, agent_channel: str, keys: str) -> None:
    """The agent presses keys again, once the last feature code has returned to the bridge: DTMF
    received on the agent's channel (PlayDTMF's Receive), where the bridge detects feature codes."""
    await ami.wait_for(
        lambda e: (
            e.get("Event") == "VarSet"
            and e.get("Channel") == agent_channel
            and e.get("Context") == "grenswacht-agent-key"
            and e.get("Variable") == "GOSUB_RETVAL"
        )
    )
    for digit in keys:
        # Async: panoramisk reads it from every action whose answer says "successfully queued".
        resp = await ami.action(
            Action="PlayDTMF", Channel=agent_channel, Digit=digit, Duration="120", Receive="true", Async="false"
        )
        assert resp.get("Response") == "Success", resp
        await asyncio.sleep(0.3)


async def help_rows(e2e):
    return await e2e.deps.store.help.active(time.time())


async def test_help_key_stores_one_request_that_leaves_when_the_call_ends(e2e, ami, rdb):
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 3600, source="cli"))
    lid = await call_and_press(ami, keys="*2")
    ev = await key_ran(ami, lid, "help")
    [req] = await wait_until(lambda: help_rows(e2e))
    # The agent's channel as Asterisk names it, the caller and their history, agent and queue.
    assert req.call == lid and req.agent_channel == ev["Channel"]
    assert req.caller == N and (req.score, req.incidents, req.rung) == (1, 1, "warn")
    assert req.agent.startswith("Local/100") and req.queue == "support"
    assert req.caller_channel.startswith("Local/0201234567@inbound")
    assert 0 <= req.asked - req.started < 30
    # The call goes on: the caller is still there, the agent heard the beep.
    await ami.wait_for(lambda e: on(lid, "Newexten", Context="grenswacht-agent-key", AppData="beep")(e))
    assert not [e for e in ami.call_events(lid) if e.get("Event") == "Hangup"]
    # Told like an incident: the event stream and the AMI UserEvent.
    stream = await rdb.xrange("gw:events")
    assert [(f["type"], f["id"]) for _, f in stream] == [("help", lid)]
    user_event = await ami.wait_for(lambda e: e.get("UserEvent") == "GrenswachtHelp" and e.get("Call") == lid)
    assert user_event["Caller"] == N and user_event["AgentChannel"] == req.agent_channel
    # A second press on the same call: no second request.
    await press(ami, req.agent_channel, "*2")
    await ami.wait_for(lambda e: on(lid, "VarSet", Variable="GW_RESULT", Value="duplicate")(e))
    assert len(await help_rows(e2e)) == 1
    # The call ends: the request goes, and its end is announced.
    await ami.action(Action="Hangup", Channel=req.caller_channel)
    await wait_until(lambda: _none(e2e))
    stream = await rdb.xrange("gw:events")
    assert [(f["type"], f["id"]) for _, f in stream] == [("help", lid), ("help-end", lid)]


async def _none(e2e):
    return not await help_rows(e2e)


async def test_quieter_key_lowers_what_the_agent_hears_and_a_second_press_restores_it(e2e, ami):
    lid = await call_and_press(ami, keys="*4")
    ev = await key_ran(ami, lid, "quieter")
    agent_channel = ev["Channel"]
    await ami.wait_for(lambda e: on(lid, "VarSet", Variable="GW_VOLUME")(e) and e.get("Value"))

    async def gain() -> float:
        resp = await ami.action(Action="Getvar", Channel=agent_channel, Variable="VOLUME(TX)")
        return float(resp.get("Value") or 0)

    # 10 dB down: func_volume divides by the factor 10 ** (10 / 20).
    assert await wait_until(lambda: _is(gain, -3.16))
    await press(ami, agent_channel, "*4")
    assert await wait_until(lambda: _is(gain, 0.0))
    # Nothing logged, no help request, the call goes on.
    assert (await e2e.deps.store.screening.load_caller(N)).incidents == ()
    assert not [e for e in ami.call_events(lid) if e.get("Event") == "Hangup"]


async def _is(read, value: float) -> bool:
    return abs(await read() - value) < 0.01


async def test_a_help_request_appears_on_the_board(e2e, ami, redis_server, tmp_path):
    await users.add(e2e.deps.store, "sup", "supervisor", PASSWORD, "test", time.time())
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        await open_board(driver, base, "sup", PASSWORD)
        seen = row_appears(driver, "#help-rows tr", N)
        lid = await call_and_press(ami, keys="*2")
        [req] = await wait_until(lambda: help_rows(e2e))
        appeared = await seen
        assert appeared - req.asked < 2.0, f"on the board {appeared - req.asked:.2f} s after the key press"
        row = driver.find_element(By.CSS_SELECTOR, "#help-rows tr").text
        assert "support" in row and req.agent in row
        await asyncio.to_thread(shot, driver, "board-help")
        # The call ends: the row leaves the board by itself.
        await ami.action(Action="Hangup", Channel=req.caller_channel)
        await asyncio.to_thread(wait(driver, 20).until, lambda d: not d.find_elements(By.CSS_SELECTOR, "#help-rows tr"))
        assert lid not in driver.page_source


# ---- listen, whisper, take over (issue 29) -------------------------------------------------------

SUPERVISOR = User("sup", "supervisor", phone="Local/1005@supervisors")


async def channels(ami) -> list[dict]:
    msgs = await ami.manager.send_action({"Action": "CoreShowChannels"})
    return [dict(m) for m in (msgs if isinstance(msgs, list) else [msgs]) if m.get("Event") == "CoreShowChannel"]


async def helped_call(e2e, ami):
    """A bridged call whose agent pressed the help key; its stored request."""
    await call_and_press(ami, keys="*2")
    [req] = await wait_until(lambda: help_rows(e2e))
    return req


@pytest.mark.parametrize("mode, options", [("listen", "qEb"), ("whisper", "qEbw")])
async def test_listen_and_whisper_ring_the_supervisor_who_spies_on_the_agents_channel(e2e, ami, mode, options):
    req = await helped_call(e2e, ami)
    await help_actions.listen(e2e.deps.store, e2e.deps.ami, SUPERVISOR, req.call, mode, "web:sup", time.time())
    await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestSupervisorAnswered")
    start = await ami.wait_for(lambda e: e.get("Event") == "ChanSpyStart")
    assert start["SpyeeChannel"] == req.agent_channel and start["SpyerChannel"].startswith("Local/1005@supervisors")
    [spy] = [c for c in await channels(ami) if c["Application"] == "ChanSpy"]
    assert spy["Channel"] == start["SpyerChannel"] and spy["ApplicationData"] == f"{req.agent_channel},{options}"
    # The caller does not hear the supervisor: the supervisor is in no bridge, and the caller's
    # bridge holds the caller and the agent only.
    by_name = {c["Channel"]: c for c in await channels(ami)}
    assert not by_name[spy["Channel"]].get("BridgeId")
    bridge = by_name[req.caller_channel]["BridgeId"]
    assert bridge and {n for n, c in by_name.items() if c.get("BridgeId") == bridge} == {
        req.caller_channel,
        req.agent_channel,
    }
    [entry] = [e for e in await e2e.deps.store.streams.audit_entries() if e["action"] == mode]
    assert (entry["actor"], entry["call"], entry["phone"]) == ("web:sup", req.call, SUPERVISOR.phone)


async def test_take_over_leaves_the_caller_with_the_supervisor_and_frees_the_agent(e2e, ami):
    req = await helped_call(e2e, ami)
    await help_actions.listen(e2e.deps.store, e2e.deps.ami, SUPERVISOR, req.call, "takeover", "web:sup", time.time())
    await ami.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == req.agent_channel)

    async def caller_with_supervisor():
        by_name = {c["Channel"]: c for c in await channels(ami)}
        caller = by_name.get(req.caller_channel, {})
        together = {n for n, c in by_name.items() if caller.get("BridgeId") and c.get("BridgeId") == caller["BridgeId"]}
        return len(together) == 2 and any(n.startswith("Local/1005@supervisors") for n in together)

    assert await wait_until(caller_with_supervisor)
    assert req.agent_channel not in {c["Channel"] for c in await channels(ami)}


async def test_a_listen_on_a_call_that_has_ended_says_so(e2e, ami):
    req = await helped_call(e2e, ami)
    await ami.action(Action="Hangup", Channel=req.caller_channel)
    await wait_until(lambda: _none(e2e))
    with pytest.raises(ActionError, match="this call has ended"):
        await help_actions.listen(e2e.deps.store, e2e.deps.ami, SUPERVISOR, req.call, "listen", "web:sup", time.time())
    # A request whose channel Asterisk no longer has (its hang-up never reached Grenswacht): the same.
    await e2e.deps.store.help.add(replace(req, agent_channel="Local/1001@agents-0000ffff;1"))
    with pytest.raises(ActionError, match="this call has ended"):
        await help_actions.listen(e2e.deps.store, e2e.deps.ami, SUPERVISOR, req.call, "listen", "web:sup", time.time())
    assert await help_rows(e2e) == []
    assert not [e for e in await e2e.deps.store.streams.audit_entries() if e["action"] == "listen"]


async def test_a_warned_callers_history_reaches_the_agent_in_the_caller_id_name(e2e, ami):
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 3600, source="cli"))
    await ami.originate("0612345678")
    answered = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered")
    assert answered["Name"] == "[GW 1] Jansen"
    # A clean caller keeps their own name (allow is not in the default [help] history_rungs).
    await ami.originate("0687654321", name="Pietersen")
    answered = await ami.wait_for(
        lambda e: e.get("UserEvent") == "GwTestAgentAnswered" and e.get("Caller") == "+31687654321"
    )
    assert answered["Name"] == "Pietersen"


async def test_redis_down_at_the_help_key_the_call_goes_on_and_the_agent_hears_the_low_tones(e2e, ami, redis_server):
    redis_server.stop()
    try:
        lid = await call_and_press(ami, keys="*2")
        await ami.wait_for(
            lambda e: on(lid, "Newexten", Context="grenswacht-agent-key", AppData="grenswacht/tones/not-logged")(e),
            timeout=30,
        )
        assert not [e for e in ami.call_events(lid) if e.get("Event") == "Hangup"]
    finally:
        redis_server.start()
