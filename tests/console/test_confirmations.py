"""Issue 30: lifting a ban, purging and forgetting ask for a confirmation the server checks.

The form's tick box (or, to forget, the number typed again) is required by the server, not only
by the browser: a request without it changes nothing and says why on the page.
"""

from __future__ import annotations

import time

from agi.engine import Ban
from tests.console.test_console_http import N, incident, snapshot


async def ban(store) -> None:
    now = time.time()
    await store.lists.set_ban(N, Ban(now + 86400, "threatened", "manual", now, "sup1"))


async def test_lifting_a_ban_without_the_tick_box_changes_nothing(sup, store, rdb):
    await incident(store)
    await ban(store)
    for page, url, data in (
        ("/caller?n=0612345678", "/caller/unban", {"number": N}),
        ("/bans", "/bans/unban", {"target": N, "kind": "number"}),
    ):
        assert 'name="confirm" value="yes" required' in (await sup.get(page)).text
        before = await snapshot(rdb)
        for confirm in ({}, {"confirm": ""}, {"confirm": "no"}):
            r = await sup.post(url, {**data, **confirm}, page=page)
            assert (
                r.status_code == 400 and "vink het vakje aan om te bevestigen dat de blokkade wordt opgeheven" in r.text
            )
        assert await snapshot(rdb) == before
    r = await sup.post("/bans/unban", {"target": N, "kind": "number", "confirm": "yes"}, page="/bans")
    assert r.status_code == 303 and (await store.screening.load_caller(N)).ban is None


async def test_purging_and_forgetting_without_confirmation_change_nothing(admin, store, rdb):
    await incident(store)
    assert 'action="/admin/purge"' in (page := (await admin.get("/admin")).text) and 'name="confirm"' in page
    before = await snapshot(rdb)
    r = await admin.post("/admin/purge", {}, page="/admin")
    assert r.status_code == 400 and "vink het vakje aan om het opschonen te bevestigen" in r.text
    r = await admin.post("/admin/erase", {"number": N}, page="/admin")
    assert r.status_code == 400 and "typ het nummer" in r.text
    assert await snapshot(rdb) == before
    assert (await admin.post("/admin/purge", {"confirm": "yes"}, page="/admin")).status_code == 303
    assert [e["action"] for e in await store.streams.audit_entries()][-1] == "purge"
