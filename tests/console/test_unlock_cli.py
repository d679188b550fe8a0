"""`grenswacht users unlock NAME|ADDRESS`: the same function as the admin page's button."""

from __future__ import annotations

from agi.actions import users
from tests.console.conftest import web_config  # noqa: F401  (a fixture)
from tests.console.test_users_cli import gw  # noqa: F401  (a fixture)


async def test_users_unlock_lifts_an_account_and_an_address_lockout(gw, store, web_config):  # noqa: F811
    limits = users.login_limits(web_config)
    for _ in range(limits.per_account_and_address):
        await users.login(store, web_config, "anne", "wrong password!", "198.51.100.5", 0.0)
    for i in range(limits.per_address):
        await users.login(store, web_config, f"x{i}", "wrong password!", "2001:db8::7", 0.0)
    assert {(lock.kind, lock.name) for lock in await users.lockouts(store, web_config)} == {
        ("account", "anne"),
        ("address", "2001:db8::/64"),
    }
    out = gw("users", "unlock", "anne", "--actor", "root")
    assert out.stdout.strip() == "anne: lockout lifted"
    out = gw("users", "unlock", "2001:db8::/64", "--actor", "root")
    assert out.stdout.strip() == "2001:db8::/64: lockout lifted"
    assert await users.lockouts(store, web_config) == []
    assert "nothing to lift" in gw("users", "unlock", "anne").stdout
    bad = gw("users", "unlock", "not a name!", ok=False)
    assert bad.returncode == 2 and "is not a user name" in bad.stderr and "Traceback" not in bad.stderr
    entries = [e for e in await store.streams.audit_recent(100) if e["action"] == "login-unlock"]
    assert {(e["actor"], e.get("user") or e.get("address")) for e in entries} == {
        ("root", "anne"),
        ("root", "2001:db8::/64"),
    }
