"""Issue 27's bugs as the console shows them (HTTP client on the app, real redis-server)."""

from __future__ import annotations

from agi.actions import users
from console.app import COOKIE
from tests.console.conftest import PASSWORD, Client


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
