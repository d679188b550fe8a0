"""What a call that was not screened does, on a real Asterisk 22 (GRENSWACHT_UNSCREENED, issue 32).

Grenswacht is made unreachable for one call (its channel's GRENSWACHT_AGI names a port nobody
listens on); the choice is set on the call's channel, which hides the global the same way.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_screening_e2e import contexts, on, played, varset
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]


def unreachable(**choice: str) -> dict[str, str]:
    return {"__GRENSWACHT_AGI": f"agi://127.0.0.1:{free_port()}", **{f"__{k}": v for k, v in choice.items()}}


def agent_answered(ami, linkedid) -> bool:
    return any(e.get("UserEvent") == "GwTestAgentAnswered" for e in ami.call_events(linkedid))


async def test_refuse_plays_the_unavailable_prompt_and_hangs_up(e2e, ami):
    lid = await ami.originate("0612345678", variables=unreachable(GRENSWACHT_UNSCREENED="refuse"))
    await ami.wait_for(on(lid, "Newexten", Application="Hangup", Context="grenswacht-screen"))
    assert varset(ami, lid, "GW_REASON") == "agi-unreachable"
    assert played(ami, lid) == ["grenswacht/nl/unavailable"]
    assert not agent_answered(ami, lid) and "agents" not in contexts(ami, lid)


async def test_dial_sends_the_call_to_the_fallback_destination(e2e, ami):
    choice = unreachable(GRENSWACHT_UNSCREENED="dial", GRENSWACHT_UNSCREENED_DIAL="Local/senior@seniors")
    lid = await ami.originate("0612345678", variables=choice)
    await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestSeniorAnswered"))
    assert not agent_answered(ami, lid) and played(ami, lid) == []


async def test_dial_not_answered_goes_on_to_the_normal_route(e2e, ami, asterisk):
    choice = unreachable(
        GRENSWACHT_UNSCREENED="dial", GRENSWACHT_UNSCREENED_DIAL="Local/senior@seniors", GW_TEST_SENIOR_CAUSE="17"
    )
    lid = await ami.originate("0612345678", variables=choice)
    await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
    assert "Grenswacht: unscreened call not answered at Local/senior@seniors" in asterisk.log_text()
