"""The console's callbacks page over HTTP against a real redis-server: list, move, cancel, refusals."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from agi.actions import users
from agi.callbacks import appointments as A
from console.app import create_app
from tests.console.conftest import PASSWORD
from tests.console.test_console_http import snapshot

N = "+31612345678"
AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=AMS).timestamp()


@pytest_asyncio.fixture
async def app(web_config, store):
    """The console with its clock on a Tuesday morning (working hours 08:30-17:00, Amsterdam)."""
    await users.add(store, "sup1", "supervisor", PASSWORD, "test", time.time())
    return create_app(web_config, store, clock=lambda: TUESDAY_10)


async def book(store, caller=N, due=TUESDAY_10 + 3600, agent="PJSIP/1001"):
    return await A.save_new(
        store,
        A.new_appointment(
            caller=caller, agent=agent, queue="support", due=due, now=TUESDAY_10 - 600, incident="i1", by="PJSIP/1001"
        ),
    )


async def test_the_page_lists_open_appointments_first_then_finished_ones(sup, store):
    later = await book(store, due=TUESDAY_10 + 7200, agent="PJSIP/2002")
    sooner = await book(store, caller="+31687654321", due=TUESDAY_10 + 3600)
    done = await book(store, caller="+31611111111", due=TUESDAY_10 - 7200)
    await A.cancel(store, done.id, now=TUESDAY_10 - 100, by="sup0")
    r = await sup.get("/callbacks")
    assert r.status_code == 200 and "Terugbelafspraken" in r.text
    page = r.text
    open_part, finished_part = page.split('id="callbacks-finished"')
    # Open ones by due time, in local time (11:00 and 12:00 in Amsterdam), with a link to the caller page.
    assert open_part.index(sooner.id) < open_part.index(later.id) and done.id not in open_part
    assert "2026-11-24 11:00" in open_part and "2026-11-24 12:00" in open_part
    assert "/caller?n=%2B31612345678" in open_part and "PJSIP/2002" in open_part and "support" in open_part
    assert 'value="2026-11-24T12:00"' in open_part  # the move form, prefilled in local time
    assert done.id in finished_part and "geannuleerd" in finished_part
    assert (await sup.post("/language", {"lang": "en", "back": "/callbacks"}, page="/callbacks")).status_code == 303
    assert "Recently finished" in (await sup.get("/callbacks")).text


async def test_move_changes_the_due_time_and_audits_the_user(sup, store):
    appt = await book(store)
    r = await sup.post("/callbacks/move", {"id": appt.id, "at": "2026-11-24T14:30"}, page="/callbacks")
    assert r.status_code == 303 and r.headers["location"] == "/callbacks?saved=1"
    [moved] = await A.load_all(store)
    assert moved.due == datetime(2026, 11, 24, 14, 30, tzinfo=AMS).timestamp() and moved.by == "web:sup1"
    entries = [e for e in await store.streams.audit_entries() if e.get("appointment") == appt.id]
    assert [(e["action"], e["actor"], int(e["due"])) for e in entries] == [
        ("callback-move", "web:sup1", int(moved.due))
    ]
    assert "2026-11-24 14:30" in (await sup.get("/callbacks?saved=1")).text


async def test_cancel_sets_cancelled_and_audits_the_user(sup, store, rdb):
    appt = await book(store)
    r = await sup.post("/callbacks/cancel", {"id": appt.id}, page="/callbacks")
    assert r.status_code == 303
    [cancelled] = await A.load_all(store)
    assert (cancelled.status, cancelled.outcome, cancelled.by) == ("cancelled", "cancelled", "web:sup1")
    assert [
        (e["action"], e["actor"]) for e in await store.streams.audit_entries() if e.get("appointment") == appt.id
    ] == [("callback-cancel", "web:sup1")]
    # Cancelling it again is refused with one sentence; nothing changes.
    before = await snapshot(rdb)
    r = await sup.post("/callbacks/cancel", {"id": appt.id}, page="/callbacks")
    assert r.status_code == 400 and "is geannuleerd, dus kan niet meer worden geannuleerd" in r.text
    assert await snapshot(rdb) == before


async def test_cancel_from_the_caller_page_returns_there(sup, store):
    appt = await book(store)
    page = (await sup.get("/caller?n=0612345678")).text
    assert 'id="caller-callbacks"' in page and "2026-11-24 11:00" in page and appt.id in page
    r = await sup.post("/callbacks/cancel", {"id": appt.id, "back": "caller"}, page="/caller?n=0612345678")
    assert r.status_code == 303 and r.headers["location"] == "/caller?n=%2B31612345678&saved=1"
    [cancelled] = await A.load_all(store)
    assert cancelled.status == "cancelled"


@pytest.mark.parametrize("what, form", [("move", {}), ("cancel", {}), ("move", {"csrf": "forged"})])
async def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(sup, store, what, form, rdb):
    appt = await book(store)
    before = await snapshot(rdb)
    r = await sup.post(
        f"/callbacks/{what}", {"id": appt.id, "at": "2026-11-24T14:30", **form}, csrf=form.get("csrf", False)
    )
    assert r.status_code == 403
    assert await snapshot(rdb) == before


@pytest.mark.parametrize(
    "at, words",
    [
        ("2026-11-24T09:00", "dat tijdstip ligt in het verleden."),
        ("2026-11-24T19:00", "buiten de werktijden (08:30-17:00"),
        ("2026-11-28T10:00", "buiten de werktijden"),  # a Saturday
        ("next tuesday", "is geen tijdstip (verwacht ISO 8601"),
        ("", "is geen tijdstip"),
    ],
)
async def test_a_bad_time_shows_the_sentence_and_changes_nothing(sup, store, at, words, rdb):
    appt = await book(store)
    before = await snapshot(rdb)
    r = await sup.post("/callbacks/move", {"id": appt.id, "at": at}, page="/callbacks")
    assert r.status_code == 400 and words in r.text and 'role="alert"' in r.text
    assert await snapshot(rdb) == before


async def test_an_unknown_appointment_or_action_is_refused(sup, store, rdb):
    await book(store)
    before = await snapshot(rdb)
    r = await sup.post("/callbacks/move", {"id": "ffffffffffffffff", "at": "2026-11-24T14:30"}, page="/callbacks")
    assert r.status_code == 400 and "er is geen terugbelafspraak met nummer" in r.text
    assert (await sup.post("/callbacks/erase", {"id": "x"}, page="/callbacks")).status_code == 404
    assert await snapshot(rdb) == before


async def test_no_session_redirects_to_login_and_shows_nothing(anon, store, rdb):
    appt = await book(store)
    r = await anon.get("/callbacks")
    assert r.status_code == 303 and r.headers["location"] == "/login" and N not in r.text
    before = await snapshot(rdb)
    for what in ("move", "cancel"):
        r = await anon.post(f"/callbacks/{what}", {"id": appt.id, "at": "2026-11-24T14:30"}, page="/login")
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert await snapshot(rdb) == before
