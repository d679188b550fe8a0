"""Issue 29: console users with a phone (the listen-in rings it) and the agent role with interfaces."""

from __future__ import annotations

import json

import pytest

from agi.actions import ActionError, users
from tests.console.test_users_cli import gw  # noqa: F401  (the fixture)


async def test_users_add_with_a_phone_and_an_agent_with_interfaces(gw, store):  # noqa: F811
    gw(
        "users",
        "add",
        "anne",
        "--role",
        "supervisor",
        "--phone",
        "PJSIP/1005",
        "--password-stdin",
        stdin="a long password\n",
    )
    gw(
        "users",
        "add",
        "bert",
        "--role",
        "agent",
        "--interface",
        "PJSIP/1001",
        "--interface",
        "Local/1002@agents/n",
        "--password-stdin",
        stdin="a long password\n",
    )
    rows = {r["name"]: r for r in json.loads(gw("users", "list", "--json").stdout)}
    assert (rows["anne"]["role"], rows["anne"]["phone"]) == ("supervisor", "PJSIP/1005")
    assert (rows["bert"]["role"], rows["bert"]["interfaces"]) == ("agent", "PJSIP/1001 Local/1002@agents/n")
    gw("users", "phone", "anne", "PJSIP/1006")
    assert (await users.get(store, "anne")).phone == "PJSIP/1006"
    # A password change keeps the phone and the interfaces.
    gw("users", "passwd", "bert", "--password-stdin", stdin="another long password\n")
    assert (await users.get(store, "bert")).interfaces == ("PJSIP/1001", "Local/1002@agents/n")
    audit = [(e["action"], e.get("phone", "")) for e in await store.streams.audit_entries()]
    assert ("user-phone", "PJSIP/1006") in audit


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--role", "supervisor", "--phone", "PJSIP/1005,r"), "is not a dial string such as PJSIP/1005"),
        (("--role", "supervisor", "--phone", "1005"), "is not a dial string"),
        (("--role", "supervisor", "--phone", "PJSIP/1005&PJSIP/1006"), "is not a dial string"),
        (
            (
                "--role",
                "agent",
            ),
            "an agent needs at least one interface",
        ),
        (("--role", "agent", "--interface", "PJSIP/10 01"), "interface 'PJSIP/10 01' is not a dial string"),
        (("--role", "supervisor", "--interface", "PJSIP/1001"), "only an agent has interfaces"),
    ],
)
async def test_a_bad_phone_or_interface_is_refused_with_one_sentence(gw, store, args, needle):  # noqa: F811
    out = gw("users", "add", "anne", *args, "--password-stdin", stdin="a long password\n", ok=False)
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert await users.list_users(store) == []


def test_roles_rank_agent_below_supervisor_below_admin():
    assert users.may("admin", "supervisor") and users.may("supervisor", "agent") and users.may("agent", "agent")
    assert not users.may("agent", "supervisor") and not users.may("supervisor", "admin") and not users.may("x", "agent")
    with pytest.raises(ActionError):
        users.dial_string("PJSIP/1005(x)")


async def test_the_admin_page_adds_a_user_with_a_phone_and_refuses_a_bad_one(admin, store):
    ok = await admin.post(
        "/admin/user-add",
        {"name": "carla", "role": "supervisor", "password": "a long password", "phone": "PJSIP/1007"},
        page="/admin",
    )
    assert ok.status_code == 303
    assert (await users.get(store, "carla")).phone == "PJSIP/1007"
    bad = await admin.post(
        "/admin/user-add",
        {"name": "dirk", "role": "supervisor", "password": "a long password", "phone": "PJSIP/1007;evil"},
        page="/admin",
    )
    assert bad.status_code == 400 and "is geen kiesreeks zoals PJSIP/1005" in bad.text
    assert await users.get(store, "dirk") is None
    agent = await admin.post(
        "/admin/user-add",
        {"name": "eva", "role": "agent", "password": "a long password", "interfaces": "PJSIP/1001 PJSIP/1002"},
        page="/admin",
    )
    assert agent.status_code == 303 and (await users.get(store, "eva")).interfaces == ("PJSIP/1001", "PJSIP/1002")
    phone = await admin.post("/admin/user-phone", {"name": "eva", "phone": "nonsense"}, page="/admin")
    assert phone.status_code == 400 and "is geen kiesreeks" in phone.text
