"""`grenswacht users ...` and `grenswacht web`, run as an operator would, against a real Redis."""

from __future__ import annotations

import json
import subprocess

import pytest

from agi.actions import users
from tests.support.cli import SCRIPT, run_cli
from tests.support.redis_server import busy_port


@pytest.fixture
def gw(tmp_path, redis_server, store):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')

    def run(*args, stdin="", ok=True):
        out = run_cli(["--config", str(cfg), *args], input=stdin)
        if ok:
            assert out.returncode == 0, out.stderr
        return out

    return run


async def test_users_add_list_passwd_remove(gw, store):
    gw("users", "add", "Anne", "--role", "admin", "--password-stdin", "--actor", "root", stdin="first password\n")
    first = await users.verify(store, "anne", "first password")
    assert first is not None
    rows = json.loads(gw("users", "list", "--json").stdout)
    assert [(r["name"], r["role"], r["by"]) for r in rows] == [("anne", "admin", "root")]
    assert "first password" not in gw("users", "list").stdout and "argon2" not in gw("users", "list").stdout
    gw("users", "passwd", "anne", "--password-stdin", stdin="second password\n")
    assert await users.verify(store, "anne", "first password") is None
    assert (await users.verify(store, "anne", "second password")).gen == first.gen + 1  # ends her sessions
    gw("users", "remove", "anne")
    assert await users.list_users(store) == []
    actions = [e["action"] for e in await store.streams.audit_entries()]
    assert actions == ["user-add", "user-passwd", "user-remove"]


@pytest.mark.parametrize(
    "args, stdin, needle",
    [
        (("users", "add", "anne", "--role", "admin"), "pw\n", "--password-stdin"),
        (("users", "add", "anne", "--role", "admin", "--password-stdin"), "short\n", "must be 10 to 1024 characters"),
        (("users", "add", "anne", "--role", "admin", "--password-stdin"), "", "no password on standard input"),
        (("users", "add", "a b", "--role", "admin", "--password-stdin"), "long enough pw\n", "is not a user name"),
        (("users", "add", "anne", "--role", "boss", "--password-stdin"), "long enough pw\n", "invalid choice"),
        (("users", "passwd", "nobody", "--password-stdin"), "long enough pw\n", "there is no user nobody"),
        (("users", "remove", "nobody"), "", "there is no user nobody"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(gw, store, args, stdin, needle):
    out = gw(*args, stdin=stdin, ok=False)
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_web_on_a_busy_port_is_one_sentence(tmp_path, redis_server):
    with busy_port() as port:
        cfg = tmp_path / "web.toml"
        cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[web]\nlisten = "127.0.0.1:{port}"\n')
        out = subprocess.run([SCRIPT, "--config", str(cfg), "web"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"grenswacht: web.listen 127.0.0.1:{port}: address already in use."
    assert "Traceback" not in out.stderr


async def test_bans_rebuild_index_finds_bans_set_before_the_index(gw, store, rdb):
    import time

    from agi.engine import Allow
    from redis_schema import keys

    await rdb.hset(keys.caller("+31612345678"), mapping={"ban.until": str(time.time() + 999), "ban.by": "old"})
    await store.lists.set_allow("+31612345679", Allow(reason="GP", set_at=1.0, actor="old"))
    await rdb.delete(keys.ALLOWS)
    assert json.loads(gw("bans", "--json").stdout) == []  # not in the index yet
    out = gw("bans", "--json", "--rebuild-index")
    assert "indexed: 1 ban(s), 1 allowlist entry(ies)" in out.stderr
    assert [b["target"] for b in json.loads(out.stdout)] == ["+31612345678"]
    assert await rdb.zrange(keys.ALLOWS, 0, -1) == ["+31612345679"]


async def test_cli_debrief_with_the_structured_answer(gw, store):
    iid = gw("incidents", "add", "0612345678", "--category", "abuse").stdout.strip()
    gw("incidents", "debrief", iid, "--note", "talked it through", "--answer", "impulsive", "--actor", "sup1")
    shown = json.loads(gw("incidents", "show", iid, "--json").stdout)
    assert (shown["debrief_answer"], shown["debrief_by"], shown["debrief"]) == (
        "impulsive",
        "sup1",
        "talked it through",
    )
    out = gw("incidents", "debrief", iid, "--note", "x", "--answer", "maybe", ok=False)
    assert out.returncode == 2 and "invalid choice" in out.stderr
