"""A placed callback's outbound context, written as dialplan/README.md section 7 shows it
(``Dial(...,${GW_CB_RING})``), gets the ring limit: the GW_CB_* variables reach the Local channel
that [grenswacht-callback] dials, and a caller who does not answer is given up after
``[callbacks] caller_ring_seconds``, not rung until the line gives up."""

from __future__ import annotations

import asyncio

import pytest

from agi.callbacks import appointments as A
from tests.e2e import test_callback_e2e as callbacks
from tests.e2e.test_callback_e2e import N, book
from tests.e2e.test_screening_e2e import on, played

# The fixtures of the callback tests: their Redis, configuration and services under a test clock.
cb_redis, cb_config, services_fixture = callbacks.cb_redis, callbacks.cb_config, callbacks.services

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

OUT = "gw-test-ring-out"


async def add(ami, context: str, exten: str, priority: int, app: str, data: str) -> None:
    resp = await ami.action(
        Action="DialplanExtensionAdd",
        Context=context,
        Extension=exten,
        Priority=str(priority),
        Application=app,
        ApplicationData=data,
        Replace="yes",
    )
    assert resp.get("Response") == "Success", resp


async def test_the_outbound_context_reads_the_ring_limit_and_dial_applies_it(services_fixture, ami):
    services = services_fixture
    # The administrator's outbound context, as in the README: it dials "the trunk" (here a line
    # that rings and never answers) with ${GW_CB_RING}; it also reports what it read.
    await add(ami, OUT, "_+X.", 1, "UserEvent", "GwTestCbRing,Ring: ${GW_CB_RING},Id: ${GW_CB_ID}")
    await add(ami, OUT, "_+X.", 2, "Dial", "Local/s@gw-test-never-answers,${GW_CB_RING}")
    # (reported at hang-up: the placer's own ring time ends about as the Dial's does, and on a
    # loaded machine its hang-up can come first, before a next priority would run)
    await add(ami, OUT, "h", 1, "UserEvent", "GwTestCbDialed,Status: ${DIALSTATUS}")
    await add(ami, "gw-test-never-answers", "s", 1, "Wait", "300")
    svc = await services(outbound_context=OUT, caller_ring_seconds=5)
    appt = await book(svc.deps.store, svc.deps.clock() + 2)
    ring = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCbRing", timeout=90)
    assert (ring["Ring"], ring["Id"]) == ("5", appt.id)
    # Dial gave up after the 5 s ring limit (without it: rung for the 300 s the line waits), or
    # the placer's own ring time ended the call first.
    dialed = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCbDialed", timeout=90)
    assert dialed["Status"] in ("NOANSWER", "CANCEL")


async def test_switched_off_the_key_books_nothing_and_nothing_is_placed(services_fixture, ami):
    """[callbacks] enabled = false: *7 leaves the caller on the line, logs and books nothing (the
    agent hears the two low tones), and a due appointment is not placed."""
    svc = await services_fixture(enabled=False)
    due = await book(svc.deps.store, svc.deps.clock() - 1)
    lid = await ami.originate("0612345678", variables={"__GW_TEST_KEYS": "*7"})
    await ami.wait_for(on(lid, "VarSet", Variable="GW_RESULT", Value="ignored"), timeout=60)
    await ami.wait_for(
        lambda e: on(lid, "Newexten", Application="Playback")(e) and "not-logged" in e.get("AppData", ""), timeout=30
    )
    assert "grenswacht/nl/callback-closing" not in played(ami, lid)
    assert not (await svc.deps.store.screening.load_caller(N)).incidents
    await asyncio.sleep(3)  # three rounds of the placer
    [appt] = await A.load_all(svc.deps.store)
    assert (appt.id, appt.status, appt.attempts) == (due.id, "scheduled", 0)
