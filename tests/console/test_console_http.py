"""The console over HTTP against a real redis-server: every page and action, and the refusals."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import httpx
import pytest
import uvicorn

from agi.actions import logbook, users
from agi.aftercare import notify
from agi.engine import Incident
from console.app import create_app
from tests.console.conftest import PASSWORD, Client, csrf_of
from tests.support.redis_server import free_port

N = "+31612345678"
PAGES = (
    "/",
    "/logbook",
    "/logbook.csv",
    "/logbook.json",
    "/caller?n=0612345678",
    "/bans",
    "/warnings",
    "/letter?n=0612345678",
    "/stats",
    "/audit",
    "/admin",
    "/admin/export?n=0612345678",
    "/events",
    "/incidents/0123456789abcdef",
)
POSTS = (
    "/caller/ban",
    "/caller/unban",
    "/bans/ban",
    "/incidents/0123456789abcdef/debrief",
    "/admin/erase",
    "/admin/purge",
    "/admin/user-add",
    "/cooldowns/end",
    "/logout",
)


async def incident(store, number=N, category="abuse", note="shouted", agent="PJSIP/agent1", at=None):
    iid, _ = await store.incidents.add_incident(
        Incident.new(
            number, category, at or time.time(), severity=1, note=note, agent=agent, queue="support", source="key"
        )
    )
    return iid


async def snapshot(rdb) -> dict:
    """Every key and its content (read with the test's own client), to prove a refused request changed nothing."""
    out = {}
    for key in sorted(await rdb.keys("*")):
        if key.startswith(("gw:login-fail:", "gw:{login}:", "gw:session:")):  # login bookkeeping
            continue
        kind = await rdb.type(key)
        out[key] = (
            await rdb.hgetall(key)
            if kind == "hash"
            else await rdb.zrange(key, 0, -1, withscores=True)
            if kind == "zset"
            else await rdb.xlen(key)
            if kind == "stream"
            else await rdb.get(key)
        )
    return out


async def test_no_session_sends_every_page_to_login_and_shows_nothing(anon, store, rdb):
    await incident(store, note="secret-note")
    for url in PAGES:
        r = await anon.get(url)
        assert r.status_code == 303 and r.headers["location"] == "/login", url
        assert "secret-note" not in r.text and N not in r.text
    before = await snapshot(rdb)
    for url in POSTS:
        r = await anon.post(url, {"number": N, "target": N, "name": "x", "password": "y" * 12}, page="/login")
        assert r.status_code == 303 and r.headers["location"] == "/login", url
    assert await snapshot(rdb) == before


async def test_login_needs_csrf_and_is_throttled(anon, store, rdb):
    r = await anon.post("/login", {"user": "sup1", "password": PASSWORD}, csrf=False)
    assert r.status_code == 403
    r = await anon.post("/login", {"user": "sup1", "password": PASSWORD}, csrf="forged")
    assert r.status_code == 403
    for _ in range(3):
        r = await anon.login("sup1", "wrong password!")
        assert r.status_code == 401 and "verkeerd wachtwoord" in r.text
    r = await anon.login("sup1")  # the right password, but throttled now
    assert r.status_code == 429 and "/login" not in r.headers.get("location", "")
    assert await users.unlock(store, "sup1", "test", time.time())  # what an admin does
    r = await anon.login("sup1")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie


async def test_secure_cookie_when_configured(web_config, store):
    await users.add(store, "sup9", "supervisor", PASSWORD, "test", time.time())
    cfg = web_config.model_copy(update={"web": web_config.web.model_copy(update={"secure_cookies": True})})
    c = Client(create_app(cfg, store), base_url="https://console")  # a browser sends a Secure cookie over TLS only
    r = await c.login("sup9")
    assert "secure" in r.headers["set-cookie"].lower()


async def test_idle_session_expires(web_config, store):
    await users.add(store, "sup2", "supervisor", PASSWORD, "test", time.time())
    now = [time.time()]
    c = Client(create_app(web_config, store, clock=lambda: now[0]))
    assert (await c.login("sup2")).status_code == 303
    assert (await c.get("/")).status_code == 200
    now[0] += 29 * 60
    assert (await c.get("/")).status_code == 200  # activity keeps it alive
    now[0] += 31 * 60
    r = await c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?expired=1"
    assert (await c.get("/")).status_code == 303


async def test_every_page_renders_for_a_supervisor(sup, store):
    iid = await incident(store, note="<script>alert(1)</script>")
    await incident(store, category="handover", note="to senior")
    await store.streams.audit("sup0", "ban", time.time(), number=N)
    for url in (
        "/",
        "/logbook",
        "/logbook?open=1&category=abuse",
        f"/incidents/{iid}",
        "/caller?n=0612345678",
        "/bans",
        "/warnings",
        "/letter?n=0612345678&lang=nl",
        "/letter?n=0612345678&lang=en",
        "/stats",
        "/stats?days=7",
        "/audit",
        "/audit?actor=sup0",
        "/caller",
    ):
        r = await sup.get(url)
        assert r.status_code == 200, url
        assert "<script>alert(1)</script>" not in r.text, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await sup.get(f"/incidents/{iid}")).text
    assert "Content-Security-Policy" in (await sup.get("/")).headers
    assert "Geachte" in (await sup.get("/letter?n=0612345678&lang=nl")).text
    assert "Dear Sir" in (await sup.get("/letter?n=0612345678&lang=en")).text


async def test_debrief_records_answer_who_and_when(sup, store):
    iid = await incident(store)
    r = await sup.post(
        f"/incidents/{iid}/debrief", {"answer": "impulsive", "note": "we talked it through"}, page=f"/incidents/{iid}"
    )
    assert r.status_code == 303
    inc = await logbook.get(store, iid)
    assert (inc.debrief_answer, inc.debrief, inc.debrief_by) == ("impulsive", "we talked it through", "web:sup1")
    assert inc.debrief_at is not None
    page = (await sup.get(f"/incidents/{iid}")).text
    assert "web:sup1" in page and "Impulsief" in page
    entry = (await store.streams.audit_entries())[-1]
    assert (entry["actor"], entry["action"], entry["incident"]) == ("web:sup1", "incident-debrief", iid)
    r = await sup.post(f"/incidents/{iid}/debrief", {"answer": "maybe", "note": ""}, page=f"/incidents/{iid}")
    assert r.status_code == 400 and "het antwoord moet een van" in r.text


async def test_ban_from_the_caller_page_refuses_screening_then_lift(sup, store, web_config):
    r = await sup.post(
        "/caller/ban", {"number": "0612345678", "days": "7", "reason": "threatened staff"}, page="/caller?n=0612345678"
    )
    assert r.status_code == 303
    view = await logbook.caller_view(web_config, store, N, time.time())
    assert (view.decision.action.value, view.decision.reason.value) == ("refuse", "banned")
    assert view.record.ban.actor == "web:sup1" and view.record.ban.reason == "threatened staff"
    bans = (await sup.get("/bans")).text
    assert N in bans and "threatened staff" in bans
    assert (await sup.post("/caller/unban", {"number": N, "confirm": "yes"}, page="/bans")).status_code == 303
    view = await logbook.caller_view(web_config, store, N, time.time())
    assert view.decision.action.value == "allow"
    assert N not in (await sup.get("/bans")).text


async def test_ranges_and_allowlist_on_the_bans_page(sup, store, rdb):
    assert (
        await sup.post(
            "/bans/ban", {"target": "+3185123", "kind": "prefix", "days": "30", "reason": "spam"}, page="/bans"
        )
    ).status_code == 303
    assert (
        await sup.post(
            "/bans/allow",
            {"target": "+3120", "kind": "prefix", "reason": "town hall", "confirm_range": "yes"},
            page="/bans",
        )
    ).status_code == 303
    assert (
        await sup.post("/bans/allow", {"target": "0612345678", "kind": "number", "reason": "GP practice"}, page="/bans")
    ).status_code == 303
    assert "GP practice" in (await sup.get("/bans")).text
    assert (await sup.post("/bans/disallow", {"target": N, "kind": "number"}, page="/bans")).status_code == 303
    assert "GP practice" not in (await sup.get("/bans")).text and await rdb.zcard("gw:allows") == 0
    page = (await sup.get("/bans")).text
    assert "+3185123" in page and "spam" in page and "+3120" in page and "town hall" in page
    bans, allows = await store.screening.load_prefixes()
    assert bans["+3185123"].actor == "web:sup1" and "+3120" in allows
    assert (
        await sup.post("/bans/unban", {"target": "+3185123", "kind": "prefix", "confirm": "yes"}, page="/bans")
    ).status_code == 303
    assert (await sup.post("/bans/disallow", {"target": "+3120", "kind": "prefix"}, page="/bans")).status_code == 303
    assert await store.screening.load_prefixes() == ({}, {})
    r = await sup.post("/bans/unban", {"target": "+3185123", "kind": "prefix", "confirm": "yes"}, page="/bans")
    assert r.status_code == 400 and "heeft geen blokkade" in r.text


async def test_a_country_wide_range_is_set_only_with_the_tick_box(sup, store):
    assert 'name="confirm_range"' in (await sup.get("/bans")).text
    form = {"target": "+31", "kind": "prefix", "reason": "spoofed from abroad"}
    r = await sup.post("/bans/ban", form, page="/bans")
    assert r.status_code == 400 and "+31 omvat elk nummer van een land" in r.text
    assert await store.screening.load_prefixes() == ({}, {})
    assert (await sup.post("/bans/ban", {**form, "confirm_range": "yes"}, page="/bans")).status_code == 303
    assert (await store.screening.load_prefixes())[0]["+31"].reason == "spoofed from abroad"


async def test_warnings_due_and_mark_sent(sup, store):
    await incident(store)
    await incident(store, category="intimidation")
    page = (await sup.get("/warnings")).text
    assert N in page
    r = await sup.post("/caller/warning-sent", {"number": N, "back": "warnings"}, page="/warnings")
    assert r.status_code == 303
    assert N not in (await sup.get("/warnings")).text
    assert (await store.screening.load_caller(N)).warning_sent_at is not None


async def test_logbook_filters_pages_and_downloads(sup, store):
    now = time.time()
    for k in range(60):
        await incident(
            store,
            number=f"+3161234{k:04d}",
            category="abuse" if k % 2 else "threat",
            agent=f"PJSIP/agent{k % 3}",
            at=now - k * 60,
        )
    first = (await sup.get("/logbook")).text
    assert "+31612340000" in first and "Volgende" in first and "+31612340059" not in first
    second = (await sup.get("/logbook?page=2")).text
    assert "+31612340059" in second and "+31612340000" not in second
    r = await sup.get("/logbook.csv?category=threat&agent=agent0")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(x["category"] == "threat" and x["agent"] == "PJSIP/agent0" for x in rows)
    assert len(rows) == 10 and r.headers["content-disposition"].startswith("attachment")
    data = json.loads((await sup.get("/logbook.json?caller=%2B31612340001")).text)
    assert [d["caller"] for d in data] == ["+31612340001"]
    assert (await store.streams.audit_entries())[-1]["action"] == "export"


@pytest.mark.parametrize(
    "query, sentence",
    [
        ("caller=06-abc", "is geen telefoonnummer"),
        ("from=2026-13-45", "is geen datum"),
        ("category=rude", "staat niet in de gewichten van het protocol"),
        ("from=2026-02-01&to=2026-01-01", "de begindatum ligt na de einddatum"),
    ],
)
async def test_bad_filter_shows_one_sentence(sup, store, query, sentence):
    r = await sup.get(f"/logbook?{query}")
    assert r.status_code == 400 and sentence in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    "url, data, sentence",
    [
        ("/caller/ban", {"number": "06123456ab"}, "is geen telefoonnummer"),
        ("/caller/ban", {"number": "0612345678", "days": "0"}, "moet een geheel getal van 1 tot 3650 zijn"),
        ("/caller/ban", {"number": "0612345678", "days": "abc"}, "geheel aantal dagen"),
        ("/bans/ban", {"target": "+31a", "kind": "prefix"}, "is geen nummerreeks"),
        ("/bans/ban", {"target": "", "kind": "number"}, "vul een telefoonnummer in"),
        ("/caller/allow", {"number": "+3161234567"}, "is geen geldig telefoonnummer"),
        # issue 32, item 5: a whole country in one click, and a reason of any length
        ("/bans/ban", {"target": "+31", "kind": "prefix"}, "+31 omvat elk nummer van een land"),
        ("/bans/allow", {"target": "+3120", "kind": "prefix"}, "bevestig dat u de hele reeks bedoelt"),
        ("/caller/ban", {"number": "0612345678", "reason": "x" * 301}, "de reden is langer dan 300 tekens"),
        ("/bans/ban", {"target": "0612345678", "reason": "a\nb"}, "de reden moet één regel"),
    ],
)
async def test_bad_input_shows_one_sentence_and_stores_nothing(sup, store, url, data, sentence, rdb):
    before = await snapshot(rdb)
    r = await sup.post(url, data, page="/bans")
    assert r.status_code == 400 and sentence in r.text and "Traceback" not in r.text
    assert r.text.count('class="error"') == 1
    assert await snapshot(rdb) == before


async def test_missing_or_wrong_csrf_is_403_and_changes_nothing(sup, store, rdb):
    iid = await incident(store)
    before = await snapshot(rdb)
    for csrf in (False, "wrong"):
        for url, data in (
            ("/caller/ban", {"number": N}),
            (f"/incidents/{iid}/debrief", {"note": "x"}),
            ("/bans/ban", {"target": N}),
            ("/logout", {}),
        ):
            r = await sup.post(url, data, csrf=csrf)
            assert r.status_code == 403, url
    assert await snapshot(rdb) == before
    assert (await sup.get("/")).status_code == 200  # still logged in: the forged logout did nothing


async def test_an_oversized_form_is_refused(sup, store, rdb):
    before = await snapshot(rdb)
    r = await sup.post("/caller/ban", {"number": N, "reason": "x" * 70_000})
    assert r.status_code == 413
    assert await snapshot(rdb) == before


async def test_supervisor_cannot_erase_or_manage_users(sup, store, rdb):
    await incident(store)
    before = await snapshot(rdb)
    assert (await sup.get("/admin")).status_code == 403
    assert (await sup.get("/admin/export?n=0612345678")).status_code == 403
    for url, data in (
        ("/admin/erase", {"number": N, "confirm": N}),
        ("/admin/purge", {}),
        ("/admin/user-add", {"name": "eve", "role": "admin", "password": "p" * 12}),
        ("/admin/user-remove", {"name": "admin1"}),
    ):
        assert (await sup.post(url, data)).status_code == 403, url
    assert await snapshot(rdb) == before


async def test_admin_users_export_erase_purge(admin, app, store, rdb):
    await incident(store)
    r = await admin.post("/admin/user-add", {"name": "sup3", "role": "supervisor", "password": PASSWORD}, page="/admin")
    assert r.status_code == 303 and "sup3" in (await admin.get("/admin")).text
    other = Client(app)
    assert (await other.login("sup3")).status_code == 303
    assert (await other.get("/")).status_code == 200
    r = await admin.post("/admin/user-passwd", {"name": "sup3", "password": "another long one"}, page="/admin")
    assert r.status_code == 303
    assert (await other.get("/")).status_code == 303  # the password change ended their session
    r = await admin.post("/admin/user-add", {"name": "sup3", "role": "supervisor", "password": PASSWORD}, page="/admin")
    assert r.status_code == 400 and "bestaat al" in r.text
    r = await admin.post("/admin/user-add", {"name": "x", "role": "boss", "password": "short"}, page="/admin")
    assert r.status_code == 400 and "is geen gebruikersnaam" in r.text
    assert (await admin.post("/admin/user-remove", {"name": "sup3"}, page="/admin")).status_code == 303
    assert await users.get(store, "sup3") is None
    r = await admin.get("/admin/export?n=0612345678")
    data = json.loads(r.text)
    assert data["caller"] == N and len(data["incidents"]) == 1 and "attachment" in r.headers["content-disposition"]
    before = await snapshot(rdb)
    r = await admin.post("/admin/erase", {"number": N, "confirm": "+31612345679"}, page="/admin")
    assert r.status_code == 400 and "typ het nummer" in r.text
    assert await snapshot(rdb) == before
    r = await admin.post("/admin/erase", {"number": "0612345678", "confirm": N}, page="/admin")
    assert r.status_code == 303 and "Gewist: " in (await admin.get(r.headers["location"])).text
    assert (await store.screening.load_caller(N)).incidents == ()
    assert (await admin.post("/admin/purge", {"confirm": "yes"}, page="/admin")).status_code == 303
    actions = [(e["actor"], e["action"]) for e in await store.streams.audit_entries()]
    assert ("web:admin1", "forget") in actions and ("web:admin1", "purge") in actions


async def test_end_a_cooldown_now(sup, store):
    from agi.aftercare.cooldown import Cooldown

    now = time.time()
    state = Cooldown("PJSIP/agent1", ("support",), now, now + 300)
    await store.cooldowns.swap("PJSIP/agent1", None, state)
    assert "PJSIP/agent1" in (await sup.get("/")).text
    r = await sup.post("/cooldowns/end", {"agent": "PJSIP/agent1"})
    assert r.status_code == 303
    assert (await store.cooldowns.get("PJSIP/agent1")).until <= time.time()


async def test_language_switch(sup):
    assert "Logboek" in (await sup.get("/logbook")).text
    assert (await sup.post("/language", {"lang": "en", "back": "/logbook"})).status_code == 303
    assert "Logbook" in (await sup.get("/logbook")).text


async def test_live_board_streams_a_new_incident(web_config, store):
    """Over a real socket (uvicorn): the event stream delivers an incident logged after it opened."""
    await users.add(store, "sup5", "supervisor", PASSWORD, "test", time.time())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(web_config, store), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            token = csrf_of((await http.get("/login")).text)
            await http.post("/login", data={"user": "sup5", "password": PASSWORD, "csrf": token})
            after = await store.streams.last_event_id()
            async with http.stream("GET", f"/events?after={after}") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                inc = Incident.new(N, "threat", time.time(), agent="PJSIP/agent7", note="<b>loud</b>", source="key")
                await store.incidents.add_incident(inc)
                started = time.monotonic()
                await store.streams.publish_event(notify.payload(inc))
                data = ""
                async with asyncio.timeout(2):
                    lines = stream.aiter_lines()
                    async for line in lines:
                        if line == "event: incident":
                            data = await anext(lines)
                            break
                assert time.monotonic() - started < 2
                assert inc.id in data and N in data and "&lt;b&gt;loud&lt;/b&gt;" in data and "<b>" not in data
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
