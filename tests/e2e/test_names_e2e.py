"""Issue 30 on a real Asterisk 22: the caller ID name reaches the incident and the caller through
the answered leg (the queue's answered-leg Gosub), without Grenswacht's own "[GW n]" prefix; and
(issue 28) so does the call's screening on arrival."""

from __future__ import annotations

import time

import pytest

from agi.engine import Incident
from tests.e2e.test_agent_key_e2e import N, incidents, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]


async def test_the_logged_incident_has_the_callers_name(e2e, ami):
    store = e2e.deps.store
    # A warned caller: the agent's phone shows "[GW 1] Jan Jansen"; the name kept is the caller's own.
    await store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 3600, source="cli"))
    lid = await ami.originate(
        "0612345678", name="Jan Jansen", context="inbound-recorded", variables={"__GW_TEST_KEYS": "*0"}
    )
    answered = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered")
    assert answered["Name"] == "[GW 1] Jan Jansen"

    async def logged():
        return [i for i in await incidents(e2e) if i.linkedid == lid]

    [inc] = await wait_until(logged, timeout=40)
    assert inc.caller_name == "Jan Jansen"
    # Issue 28: how the caller was screened on arrival, read from the caller's channel by the
    # answered route, is kept with the incident for the police report's timeline.
    assert inc.screened == "warn warn-threshold"
    assert await store.names.get(N) == "Jan Jansen"
    assert await store.names.search("jansen") == {N: "Jan Jansen"}
