"""The dialplan's failure paths on a real Asterisk 22: nobody is hung up, nobody is misled.

When Grenswacht cannot log an agent's key press the agent hears the low "not logged" tone,
never the confirming beep. When the senior colleague cannot be reached (or none is configured),
the caller goes on to the normal route, or back into the queue after a handover: never a hang-up.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import pytest

from agi.config import RoutingConfig
from agi.engine import Incident
from agi.service import Service
from tests.e2e.test_screening_e2e import contexts, on, played, varset
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
NOT_LOGGED = "grenswacht/tones/not-logged"


@asynccontextmanager
async def another_grenswacht(e2e_config, tmp_path, **routing):
    """A second Grenswacht on the same Redis and Asterisk with other [routing]; yields its AGI URL.

    A call reaches it when its channel sets GRENSWACHT_AGI (which hides the global)."""
    config = e2e_config.model_copy(
        update={
            "agi": e2e_config.agi.model_copy(update={"listen": f"127.0.0.1:{free_port()}"}),
            "storage": e2e_config.storage.model_copy(update={"journal_path": str(tmp_path / "journal.jsonl")}),
            "routing": RoutingConfig(**routing),
        }
    )
    svc = Service(config)
    host, port = await svc.start()
    try:
        yield f"agi://{host}:{port}"
    finally:
        await svc.stop()


async def add_incidents(e2e, n):
    for _ in range(n):
        await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time()))


# -- the agent's confirmation tone ---------------------------------------------------------


@pytest.mark.parametrize("failure", ["unreachable", "wrong-secret"])
async def test_agent_hears_the_not_logged_tone_when_grenswacht_cannot_log(e2e, ami, asterisk, failure):
    variables = {"__GW_TEST_KEYS": "*0"}
    if failure == "unreachable":
        variables["__GRENSWACHT_AGI"] = f"agi://127.0.0.1:{free_port()}"
    else:
        variables["__GRENSWACHT_AGI_SECRET"] = "not-the-secret"
    lid = await ami.originate("0612345678", variables=variables)
    # The call was not screened and still reached the agent (fail open) ...
    await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
    assert varset(ami, lid, "GW_REASON") == "agi-unreachable"
    # ... the agent's key press reached nobody: the low tone, no beep, the caller still there.
    await ami.wait_for(on(lid, "Newexten", Application="Playback", AppData=NOT_LOGGED), timeout=20)
    assert "beep" not in played(ami, lid)
    assert "grenswacht-closing" not in contexts(ami, lid)
    assert not (await e2e.deps.store.screening.load_caller(N)).incidents
    # Asterisk's word for it: no connection is a FAILURE; a connection the service closes at once
    # (the wrong secret) is an AGI that ended without a result.
    status = {"unreachable": "FAILURE", "wrong-secret": "SUCCESS"}[failure]
    await asterisk.wait_for_log(f"agent key not logged (AGISTATUS={status} GW_RESULT=)")


async def test_agent_hears_the_not_logged_tone_when_grenswacht_ignores_the_key(e2e, ami):
    # The handover code on a channel with no caller bridged to it: Grenswacht answers "ignored".
    lid = await ami.originate("0612345678", exten="handover", context="agent-key")
    await ami.wait_for(on(lid, "Newexten", Application="Playback"), timeout=20)
    assert varset(ami, lid, "GW_RESULT") == "ignored"
    assert played(ami, lid) == [NOT_LOGGED]


# -- the senior rung ------------------------------------------------------------------------


@pytest.mark.parametrize("cause, status", [("17", "BUSY"), ("34", "CONGESTION"), ("19", "NOANSWER")])
async def test_senior_not_answering_sends_the_caller_on_to_the_normal_route(e2e, ami, cause, status):
    await add_incidents(e2e, 2)
    lid = await ami.originate("0612345678", variables={"__GW_TEST_SENIOR_CAUSE": cause})
    ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=40)
    assert ev["Name"] == "[GW 2] Jansen"
    assert varset(ami, lid, "GW_ACTION") == "senior" and varset(ami, lid, "DIALSTATUS") == status
    assert played(ami, lid) == ["grenswacht/nl/senior"]


async def test_senior_in_a_context_that_does_not_exist_the_caller_reaches_the_normal_route(
    e2e, ami, e2e_config, tmp_path
):
    # What the example configuration used to ship: every senior-rung caller was hung up.
    await add_incidents(e2e, 2)
    async with another_grenswacht(e2e_config, tmp_path, senior_destination="Local/senior@grenswacht-demo") as url:
        lid = await ami.originate("0612345678", variables={"GRENSWACHT_AGI": url})
        ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=40)
    assert ev["Name"] == "[GW 2] Jansen"
    assert varset(ami, lid, "DIALSTATUS") == "CHANUNAVAIL"
    assert "seniors" not in contexts(ami, lid)


async def test_no_senior_configured_prompt_and_name_then_the_normal_route(e2e, ami, e2e_config, tmp_path):
    await add_incidents(e2e, 2)
    async with another_grenswacht(e2e_config, tmp_path) as url:  # [routing] as shipped
        lid = await ami.originate("0612345678", variables={"GRENSWACHT_AGI": url})
        ev = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=40)
    assert ev["Name"] == "[GW 2] Jansen"
    assert varset(ami, lid, "GW_ACTION") == "senior" and varset(ami, lid, "GW_SENIOR") == ""
    assert played(ami, lid) == ["grenswacht/nl/senior"]
    assert varset(ami, lid, "DIALSTATUS") is None  # no Dial() at all


# -- the handover key -----------------------------------------------------------------------


async def handed_back_to_the_queue(ami, lid):
    """The second agent's answer after a failed handover; then the call is ended."""
    first = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=30)
    ami.reset()
    second = await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"), timeout=40)
    [caller] = {e["Channel"] for e in ami.call_events(lid) if e.get("Context") == "grenswacht-handover"}
    await ami.action(Action="Hangup", Channel=caller)  # before the next agent presses *8 too
    return first, second


async def test_handover_to_a_busy_senior_puts_the_caller_back_into_the_queue(e2e, ami):
    # "Jan[sen": the senior route's MSet sets the name and GW_PROMPTS after it; nothing is swallowed.
    lid = await ami.originate(
        "0612345678", name="Jan[sen", variables={"__GW_TEST_KEYS": "*8", "__GW_TEST_SENIOR_CAUSE": "17"}
    )
    first, second = await handed_back_to_the_queue(ami, lid)
    # Back in the queue, where any free agent may answer (the one who handed over included).
    assert first["Caller"] == second["Caller"] and second["Name"] == "[GW 1] Jansen"  # the handover counts
    assert varset(ami, lid, "GW_CID_NAME") == second["Name"] and varset(ami, lid, "GW_PROMPTS") == "grenswacht/nl"
    assert varset(ami, lid, "DIALSTATUS") == "BUSY"
    assert "grenswacht/nl/closing" not in played(ami, lid)


async def test_handover_with_no_senior_configured_puts_the_caller_back_into_the_queue(e2e, ami, e2e_config, tmp_path):
    async with another_grenswacht(e2e_config, tmp_path) as url:
        lid = await ami.originate("0612345678", variables={"__GW_TEST_KEYS": "*8", "__GRENSWACHT_AGI": url})
        first, second = await handed_back_to_the_queue(ami, lid)
    assert first["Caller"] == second["Caller"] == "+31612345678"
    assert "grenswacht/nl/senior" in played(ami, lid) and "grenswacht/nl/closing" not in played(ami, lid)
    assert "beep" in played(ami, lid)  # the handover itself was logged
