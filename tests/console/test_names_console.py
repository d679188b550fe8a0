"""Issue 30, names in the console: callers shown and searched by name, the letter addressed to the
caller, agents shown by the name an admin gave their interface (audited; bad input one sentence)."""

from __future__ import annotations

import asyncio
import html
import json
import time

from agi.actions import names, users
from agi.aftercare import notify
from agi.engine import Ban, Incident
from console.app import create_app
from tests.console.conftest import PASSWORD
from tests.console.test_live_board import browser, events_of, served

N = "+31612345678"


async def logged(store, number=N, name="Jan Jansen", agent="PJSIP/1003", category="abuse", at=None):
    inc = Incident.new(number, category, at or time.time() - 60, agent=agent, caller_name=name, source="cli")
    await store.incidents.add_incident(inc)
    return inc


async def test_a_caller_is_shown_by_name_on_the_logbook_incident_and_caller_pages(store, sup):
    inc = await logged(store, name="Jan <b>Jansen</b>")  # a hostile name is shown as text
    shown = "Jan &lt;b&gt;Jansen&lt;/b&gt; (+31612345678)"
    for page in ("/logbook", f"/incidents/{inc.id}", "/caller?n=0612345678", "/"):
        text = (await sup.get(page)).text
        assert shown in text, page
        assert "<b>Jansen" not in text


async def test_bans_warnings_and_the_letter_show_the_name(store, sup):
    now = time.time()
    await logged(store)
    await store.lists.set_ban(N, Ban(now + 86400, "abuse", "manual", now, "sup1"))
    assert "Jan Jansen (+31612345678)" in (await sup.get("/bans")).text
    for lang, greeting in (("nl", "Geachte Jan Jansen,"), ("en", "Dear Jan Jansen,")):
        letter = (await sup.get(f"/letter?n=0612345678&lang={lang}")).text
        assert '<p class="addressee">Jan Jansen</p>' in letter and greeting in letter


async def test_the_letter_to_a_caller_without_a_name_stays_as_it_was(store, sup):
    await logged(store, name="")
    letter = (await sup.get("/letter?n=0612345678&lang=en")).text
    assert "Dear Sir or Madam," in letter and "addressee" not in letter


async def test_the_caller_search_takes_a_name(store, sup):
    await logged(store)
    await logged(store, "+31622222222", "Jan de Boer")
    one = await sup.get("/caller", params={"n": "jansen"})
    assert one.status_code == 200 and "<h1>Jan Jansen (+31612345678)</h1>" in one.text
    several = await sup.get("/caller", params={"n": "jan"})
    assert several.status_code == 200 and 'id="found-callers"' in several.text
    assert "Jan de Boer (+31622222222)" in several.text and "Jan Jansen (+31612345678)" in several.text
    none = await sup.get("/caller", params={"n": "Nobody"})
    assert none.status_code == 400 and "no caller is known by the name 'Nobody'." in html.unescape(none.text)


async def test_an_admin_names_an_agent_and_every_page_shows_it(store, admin, sup):
    inc = await logged(store)
    r = await admin.post(
        "/admin/agent-name", {"interface": "PJSIP/1003", "display_name": "Anne de Vries"}, page="/admin"
    )
    assert r.status_code == 303
    assert "Anne de Vries" in (await admin.get("/admin")).text
    for page in ("/logbook", f"/incidents/{inc.id}", "/"):
        assert "Anne de Vries (PJSIP/1003)" in (await sup.get(page)).text, page
    stats = (await sup.get("/stats")).text
    assert "Anne de Vries (PJSIP/1003)" in stats
    entries = [e for e in await store.streams.audit_entries() if e["action"] == "agent-name"]
    assert [(e["actor"], e["interface"], e["name"]) for e in entries] == [("web:admin1", "PJSIP/1003", "Anne de Vries")]
    r = await admin.post("/admin/agent-unname", {"interface": "PJSIP/1003"}, page="/admin")
    assert r.status_code == 303 and "Anne de Vries" not in (await sup.get("/logbook")).text
    assert "agent-unname" in [e["action"] for e in await store.streams.audit_entries()]


async def test_bad_agent_names_get_one_sentence_and_change_nothing(store, admin):
    for form, sentence in (
        ({"interface": "not an interface", "display_name": "Anne"}, "is not a dial string"),
        ({"interface": "PJSIP/1003", "display_name": "A" * 65}, "is not a display name"),
        ({"interface": "PJSIP/1003", "display_name": "Anne\x07"}, "is not a display name"),
        ({"interface": "PJSIP/1003", "display_name": "   "}, "is not a display name"),
    ):
        r = await admin.post("/admin/agent-name", form, page="/admin")
        assert r.status_code == 400 and sentence in html.unescape(r.text), form
    assert await store.agent_names.all() == {}


async def test_supervisors_cannot_name_agents(store, sup):
    r = await sup.post("/admin/agent-name", {"interface": "PJSIP/1003", "display_name": "Anne"})
    assert r.status_code == 403 and await store.agent_names.all() == {}


async def test_the_caller_export_and_erasure_cover_the_name(store, admin):
    await logged(store)
    export = json.loads((await admin.get("/admin/export?n=0612345678")).text)
    assert export["name"] == "Jan Jansen" and export["incidents"][0]["caller_name"] == "Jan Jansen"
    r = await admin.post("/admin/erase", {"number": "0612345678", "confirm": "+31612345678"}, page="/admin")
    assert r.status_code == 303
    assert await store.names.get(N) == "" and await store.names.search("jan") == {}
    assert "Jan Jansen" not in (await admin.get("/caller?n=0612345678")).text


async def test_a_live_board_row_shows_both_names(web_config, store):
    """The board's live row (the event stream) names the caller and the agent, as a reload does."""
    await users.add(store, "sup7", "supervisor", PASSWORD, "test", time.time())
    await names.name_agent(store, "PJSIP/1003", "Anne de Vries", "test", time.time())
    async with served(create_app(web_config, store)) as base:
        http = await browser(base, "sup7")
        after = await store.streams.last_event_id()
        async with http.stream("GET", f"/events?after={after}") as stream:
            inc = await logged(store)
            await store.streams.publish_event(notify.payload(inc))
            async with asyncio.timeout(10):
                [(_, _, row)] = await events_of(stream.aiter_lines(), 1, ("incident",))
        await http.aclose()
    assert inc.id in row and "Jan Jansen (+31612345678)" in row and "Anne de Vries (PJSIP/1003)" in row
