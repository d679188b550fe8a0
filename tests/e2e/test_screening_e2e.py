"""Screening on a real Asterisk 22: what Asterisk did with our dialplan and our FastAGI answers."""

from __future__ import annotations

import time

import pytest

from agi.engine import Incident

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"


def on(linkedid, event, **fields):
    """Predicate: an AMI event of this call with these fields."""

    def match(e):
        return (
            e.get("Linkedid") == linkedid and e.get("Event") == event and all(e.get(k) == v for k, v in fields.items())
        )

    return match


def varset(ami, linkedid, name):
    vals = [
        e.get("Value", "")
        for e in ami.call_events(linkedid)
        if e.get("Event") == "VarSet" and e.get("Variable") == name
    ]
    return vals[-1] if vals else None


def played(ami, linkedid):
    return [
        e["AppData"]
        for e in ami.call_events(linkedid)
        if e.get("Event") == "Newexten" and e.get("Application") == "Playback"
    ]


def contexts(ami, linkedid):
    return {e.get("Context") for e in ami.call_events(linkedid) if e.get("Event") == "Newexten"}


async def test_clean_caller_reaches_the_queue(e2e, ami):
    lid = await ami.originate("0612345678")
    ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
    assert ev["Caller"] == N  # __GW_CALLER inherited by the agent's leg
    assert varset(ami, lid, "GW_ACTION") == "allow" and varset(ami, lid, "GW_REASON") == "clean"
    assert played(ami, lid) == []


async def test_warned_caller_hears_the_warning_then_reaches_the_queue(e2e, ami):
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time()))
    lid = await ami.originate("0612345678")
    await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=40)
    assert varset(ami, lid, "GW_ACTION") == "warn"
    assert played(ami, lid) == ["grenswacht/nl/warning"]
    assert varset(ami, lid, "PLAYBACKSTATUS") == "SUCCESS"  # the prompt file exists and played


async def test_senior_caller_goes_to_the_senior_with_the_count_on_the_display(e2e, ami):
    for _ in range(2):
        await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time()))
    # A lone "[" would make Asterisk's argument splitter swallow what follows it.
    lid = await ami.originate("0612345678", name='Jan[sen", Dial(PJSIP/evil)')
    ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestSeniorAnswered"), timeout=40)
    assert ev["Name"] == "[GW 2] Jansen Dial" + "PJSIP/evil"
    assert played(ami, lid) == ["grenswacht/nl/senior"]
    assert "agents" not in contexts(ami, lid)


async def test_refused_caller_hears_the_refusal_and_is_hung_up_and_banned(e2e, ami):
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "threat", time.time()))
    lid = await ami.originate("+31 6 1234 5678")
    await ami.wait_for(on(lid, "Newexten", Application="Playback"))
    assert played(ami, lid) == ["grenswacht/nl/refused"]
    await ami.wait_for(on(lid, "Hangup", Context="grenswacht-screen"), timeout=40)
    assert "agents" not in contexts(ami, lid)
    assert varset(ami, lid, "GW_ACTION") == "refuse" and varset(ami, lid, "GW_REASON") == "refuse-threshold"
    await e2e.deps.drain()
    rec = await e2e.deps.store.screening.load_caller(N)
    assert rec.ban is not None and rec.ban.source == "protocol"


async def test_withheld_caller_is_one_identity_with_its_own_treatment(e2e, ami):
    lid = await ami.originate("anonymous", name="")
    ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
    assert ev["Caller"] == "anonymous"
    assert varset(ami, lid, "GW_REASON") == "anonymous"


async def test_fastagi_down_the_call_still_reaches_the_normal_route(e2e, ami, asterisk):
    host, port = e2e.address
    await e2e.server.stop()
    try:
        lid = await ami.originate("0612345678")
        await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
        assert varset(ami, lid, "GW_REASON") == "agi-unreachable"
        await asterisk.wait_for_log("Grenswacht not reached (AGISTATUS=FAILURE)")
    finally:
        await e2e.server.start(host, port)


async def test_dialplan_loads_without_errors(e2e, asterisk):
    out = asterisk.rx("dialplan show grenswacht-screen")
    assert "grenswacht-screen" in out and "AGI(${GRENSWACHT_AGI}/screen?secret=${GRENSWACHT_AGI_SECRET},${ARG1})" in out
    for ctx in ("grenswacht-agent-key", "grenswacht-closing", "grenswacht-handover"):
        assert f"Context '{ctx}'" in asterisk.rx(f"dialplan show {ctx}")
    features = asterisk.rx("features show")
    assert "grenswacht-endlog" in features and "*0" in features
    errors = [l for l in asterisk.log_text().splitlines() if "ERROR[" in l and "moh" not in l]
    assert errors == []
