"""Issue 29: the agent's own page, block requests, and who may open what (agent, supervisor, stranger)."""

from __future__ import annotations

import re
import time

import pytest_asyncio
from starlette.routing import Route

from agi.actions import logbook, users
from agi.engine import Incident
from tests.console.conftest import PASSWORD, Client, logged_in

MINE, THEIRS = "+31612345678", "+31687654321"
BERT = "Local/1001@agents/n"


@pytest_asyncio.fixture
async def bert(app, store):
    await users.add(store, "bert", "agent", PASSWORD, "test", time.time(), interfaces=[BERT])
    c = await logged_in(app, "bert")
    yield c
    await c.http.aclose()


async def seed(store):
    now = time.time()
    mine, _ = await store.incidents.add_incident(
        Incident.new(MINE, "abuse", now - 60, agent=BERT, queue="support", source="key")
    )
    theirs, _ = await store.incidents.add_incident(
        Incident.new(THEIRS, "threat", now - 30, agent="Local/1002@agents/n", queue="support", source="key")
    )
    return mine, theirs


# ---- every URL, as a stranger, an agent and a supervisor -------------------------------------------

AGENT_PAGES = {"/me", "/me/live", "/me/incidents/{iid}/{what}", "/logout", "/language"}
AGENT_PAGES |= {"/security", "/security/{what}", "/login/code"}  # issue 30: their own second factor
ADMIN_PAGES = ("/admin",)
ENDLESS = {"/events"}  # a stream: opened only where it is refused at once


def urls(app):
    """Every page and form of the console: (method, path template, path to request)."""
    for route in app.routes:
        if not isinstance(route, Route) or route.path == "/login":
            continue
        concrete = re.sub(r"\{(\w+)(:\w+)?\}", "x", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            yield method, re.sub(r":\w+\}", "}", route.path), concrete


async def test_every_url_as_a_stranger_goes_to_the_login(app, anon):
    tried = 0
    for method, _, path in urls(app):
        r = await (anon.http.get(path) if method == "GET" else anon.http.post(path, data={"csrf": "x"}))
        assert (r.status_code, r.headers.get("location")) == (303, "/login"), (method, path)
        tried += 1
    assert tried >= 25


async def test_every_url_as_an_agent_only_their_own_page(app, bert):
    opened = set()
    for method, template, path in urls(app):
        if template in ("/logout",):
            continue
        r = await (bert.get(path) if method == "GET" else bert.post(path, {}))
        if template in AGENT_PAGES:
            assert r.status_code != 403, (method, path)
            opened.add(template)
        else:
            assert r.status_code == 403, (method, path, r.status_code)
            # The refusal in the agent's language (the console's default: Dutch).
            assert "voor leidinggevenden" in r.text or "voor beheerders" in r.text, (method, path)
    assert opened == AGENT_PAGES - {"/logout"}
    # No CSRF token, no change.
    r = await bert.post("/me/incidents/x/account", {"account": "words"}, csrf="wrong")
    assert r.status_code == 403


async def test_every_url_as_a_supervisor_all_but_the_admin_pages(app, sup):
    for method, template, path in urls(app):
        if template in ("/logout",) or template in ENDLESS:
            continue
        r = await (sup.get(path) if method == "GET" else sup.post(path, {}))
        if template.startswith(ADMIN_PAGES):
            assert r.status_code == 403, (method, path)
        else:
            assert r.status_code not in (403, 500) and r.headers.get("location") != "/login", (method, path)


# ---- the agent's page ------------------------------------------------------------------------------


async def test_an_agent_sees_and_writes_only_their_own_incidents(app, store, bert):
    mine, theirs = await seed(store)
    page = (await bert.get("/me")).text
    assert MINE in page and THEIRS not in page and theirs not in page
    # Their own account of the call, audited with them.
    r = await bert.post(f"/me/incidents/{mine}/account", {"account": "He said: 'I know where you live.'"}, page="/me")
    assert r.status_code == 303
    assert (await logbook.get(store, mine)).account == "He said: 'I know where you live.'"
    [entry] = [e for e in await store.streams.audit_entries() if e["action"] == "incident-account"]
    assert (entry["actor"], entry["incident"]) == ("web:bert", mine)
    # Another agent's incident: the same answer as for one that does not exist; nothing written.
    for iid in (theirs, "20990101T000000-nope"):
        r = await bert.post(f"/me/incidents/{iid}/account", {"account": "mine now"}, page="/me")
        assert r.status_code == 400 and "there is no incident of yours" in r.text
    assert (await logbook.get(store, theirs)).account == ""
    assert (await bert.get(f"/incidents/{theirs}")).status_code == 403
    too_long = await bert.post(f"/me/incidents/{mine}/account", {"account": "x" * 4001}, page="/me")
    assert too_long.status_code == 400 and "longer than 4000 characters" in too_long.text


async def test_the_agent_sees_their_cool_down_left(app, store, bert):
    from redis_schema.records import Cooldown

    now = time.time()
    await store.cooldowns.put(BERT, Cooldown(BERT, ("support",), now, now + 125))
    await store.cooldowns.put("Local/1002@agents/n", Cooldown("Local/1002@agents/n", ("support",), now, now + 300))
    page = (await bert.get("/me")).text
    assert BERT in page and "Local/1002" not in page and re.search(r"2:0\d nog", page)


async def test_a_block_request_is_approved_by_a_supervisor_who_sets_the_ban(app, store, bert, sup):
    mine, _ = await seed(store)
    r = await bert.post(f"/me/incidents/{mine}/block", {"reason": "threatened me twice"}, page="/me")
    assert r.status_code == 303
    again = await bert.post(f"/me/incidents/{mine}/block", {"reason": "again"}, page="/me")
    assert again.status_code == 400 and "has already been asked for" in again.text
    board = (await sup.get("/")).text
    assert "threatened me twice" in board and MINE in board
    rid = re.search(r"/block-requests/(\w+)/approve", board).group(1)
    assert (await sup.post(f"/block-requests/{rid}/approve", {"days": "30"})).status_code == 303
    ban = (await store.screening.load_caller(MINE)).ban
    assert ban is not None and ban.actor == "web:sup1" and "bert" in ban.reason and ban.until > time.time() + 29 * 86400
    actions = [(e["action"], e["actor"]) for e in await store.streams.audit_entries()]
    assert ("block-request", "web:bert") in actions and ("ban", "web:sup1") in actions
    assert ("block-approved", "web:sup1") in actions
    assert "approved" in (await bert.get("/me")).text
    # Decided once: a second decision is refused; a caller already banned cannot be asked for.
    assert "not open" in (await sup.post(f"/block-requests/{rid}/decline", {"note": "no"})).text
    already = await bert.post(f"/me/incidents/{mine}/block", {"reason": "more"}, page="/me")
    assert already.status_code == 400 and "is already banned" in already.text


async def test_a_declined_block_request_brings_the_note_back_to_the_agent(app, store, bert, sup):
    mine, _ = await seed(store)
    await bert.post(f"/me/incidents/{mine}/block", {"reason": "rude"}, page="/me")
    rid = re.search(r"/block-requests/(\w+)/decline", (await sup.get("/")).text).group(1)
    r = await sup.post(f"/block-requests/{rid}/decline", {"note": "a written warning first"})
    assert r.status_code == 303
    assert (await store.screening.load_caller(MINE)).ban is None
    page = (await bert.get("/me")).text
    assert "declined" in page and "a written warning first" in page
    # Without a session's token the supervisor's decision is refused.
    assert (await sup.post(f"/block-requests/{rid}/approve", {}, csrf="bad")).status_code == 403


async def test_an_agent_logs_in_to_their_own_page(app, store):
    await users.add(store, "bert", "agent", PASSWORD, "test", time.time(), interfaces=[BERT])
    c = Client(app)
    r = await c.login("bert")
    assert (r.status_code, r.headers["location"]) == (303, "/me")
    await c.http.aclose()


async def test_listen_from_the_console_says_what_is_missing_in_one_sentence(app, store, sup, bert):
    r = await sup.post("/help/gw-nocall/listen", {})
    assert r.status_code == 409 and "sup1 has no phone to ring" in r.text
    await users.set_phone(store, "sup1", "PJSIP/1005", "test", time.time())
    sup_again = await logged_in(app, "sup1")
    r = await sup_again.post("/help/gw-nocall/listen", {})
    assert r.status_code == 409 and "listening in needs AMI" in r.text
    r = await sup_again.post("/help/gw-nocall/eavesdrop", {})
    assert r.status_code == 409 and "the mode must be listen, whisper or takeover" in r.text
    await sup_again.http.aclose()
    assert (await bert.post("/help/gw-nocall/listen", {})).status_code == 403
    assert not [e for e in await store.streams.audit_entries() if e["action"] in ("listen", "whisper", "takeover")]


async def test_the_agents_page_shows_the_current_callers_history_while_the_call_lasts(bert, store):
    """Issue 29 point 5: the call the agent answered (the answered-leg record of issue 28) with the
    caller's history; another agent's call is not shown, and an ended call is gone."""
    from redis_schema.records import LiveCall

    await seed(store)  # MINE has one abuse (score 1: warn); THEIRS one threat
    now = time.time()
    await store.live.start(
        LiveCall(BERT, "1799.1", MINE, queue="support", channel="Local/1001@agents-1", started=now), 600
    )
    other = "Local/1002@agents/n"
    await store.live.start(LiveCall(other, "1799.2", THEIRS, queue="support", started=now), 600)
    section = (await bert.get("/me")).text.split('id="my-call"')[1].split("</section>")[0]
    assert MINE in section and THEIRS not in section
    assert "Score 1" in section and 'class="tag warn"' in section
    await store.live.end(BERT, "1799.1", now + 5, 600)
    section = (await bert.get("/me")).text.split('id="my-call"')[1].split("</section>")[0]
    assert MINE not in section and "niet in gesprek" in section
