"""Issue 27's bugs as the console shows them (HTTP client on the app, real redis-server)."""

from __future__ import annotations

import html
import re
import time

from agi.actions import logbook, users
from agi.wiring import build_store
from console.app import COOKIE, create_app
from tests.conftest import make_config
from tests.console.conftest import PASSWORD, Client, logged_in
from tests.test_bugs_27 import N, seed_for_erasure, seed_past_the_budget, slow_rewrite_redis

NEXT = re.compile(r'<a href="(/logbook\?[^"]*)">Volgende')


async def test_a_removed_then_re_added_user_does_not_revive_an_old_session(admin, app, store):
    """Bug 8: the re-added account starts at a new session generation, so the old cookie is refused."""
    add = {"name": "sup3", "role": "supervisor", "password": PASSWORD}
    assert (await admin.post("/admin/user-add", add, page="/admin")).status_code == 303
    old = Client(app)
    assert (await old.login("sup3")).status_code == 303
    assert (await old.get("/")).status_code == 200
    cookie = old.http.cookies[COOKIE]  # the old account's session, kept (as a copied cookie would be)
    assert (await admin.post("/admin/user-remove", {"name": "sup3"}, page="/admin")).status_code == 303
    assert (await admin.post("/admin/user-add", add, page="/admin")).status_code == 303
    assert await users.get(store, "sup3") is not None
    replay = Client(app)
    replay.http.cookies.set(COOKIE, cookie)
    r = await replay.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    fresh = Client(app)
    assert (await fresh.login("sup3")).status_code == 303 and (await fresh.get("/")).status_code == 200
    for c in (old, replay):
        await c.http.aclose()
    await fresh.http.aclose()


async def test_an_erasure_whose_rewrite_outlasts_the_wait_is_audited_and_shown_in_one_sentence(monkeypatch):
    """Bug 3: the rewrite on disk outlasts the wait (here 0.5 s; Redis takes about 40 s): the
    erasure is audited and the form says what happened, not a 500."""
    monkeypatch.setattr(logbook, "ERASE_WAIT_SECONDS", 0.5, raising=False)
    server = slow_rewrite_redis()
    config = make_config(server.url, web={"secret": "s" * 40})
    store = build_store(config)
    try:
        await seed_for_erasure(store)
        await users.add(store, "admin1", "admin", PASSWORD, "test", time.time())
        admin = await logged_in(create_app(config, store), "admin1")
        r = await admin.post("/admin/erase", {"number": "0612345678", "confirm": N}, page="/admin")
        assert r.status_code == 400
        assert "gewist: 2 record(s) verwijderd, maar binnen 0.5 s niet bevestigd op schijf" in r.text
        assert (await store.screening.load_caller(N)).incidents == ()
        actions = [(e["actor"], e["action"]) for e in await store.streams.audit_entries()]
        assert ("web:admin1", "forget") in actions and ("web:admin1", "forget-not-on-disk") in actions
        await admin.http.aclose()
    finally:
        await store.close()
        server.cleanup()


async def test_the_logbook_shows_a_sparse_filters_match_past_the_old_scan_budget(sup, store):
    """Bug 5: a rare match far down the logbook is found (issue 30: an exact index per agent, so
    it is on the first page, with no "next" link since nothing more matches)."""
    await seed_past_the_budget(store, time.time())
    first = (await sup.get("/logbook?agent=rare")).text
    assert "+31699999999" in first and not NEXT.findall(first)
    r = await sup.get("/logbook?agent=rare&after=yesterday")
    assert r.status_code == 400 and "is geen plaats in het logboek" in html.unescape(r.text)
