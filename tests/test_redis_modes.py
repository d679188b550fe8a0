"""The Store's API and the `grenswacht` command against a real Redis Cluster and a real Sentinel set.

One deployment per mode for the whole module (``deployment``); every test below runs on both.
The Store tests and a part of the CLI tests are the very tests of the standalone suite
(test_store.py, test_cli.py), collected here again with this module's ``config`` and ``gw``
(the shared ``store`` and ``rdb`` fixtures follow ``config``).
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from dataclasses import replace

import pytest

from agi.aftercare import cooldown
from agi.config import ConfigError, load_config
from agi.engine import Incident
from agi.wiring import build_store, redis_client
from redis_schema import keys
from redis_schema.logins import Limits
from redis_schema.records import Appointment, Cooldown, User
from tests import test_cli, test_names_rebuild, test_store
from tests.conftest import make_config
from tests.support.cli import run_cli
from tests.support.redis_cluster import RedisClusterSet, redis_cli
from tests.support.redis_sentinel import SentinelSet
from tests.support.redis_server import free_port
from tests.test_cli import j

# The standalone suite's tests, collected again here (so with this module's fixtures) for each mode.
REUSED = {
    test_store: (
        "test_incident_round_trip_and_ttl",
        "test_same_call_same_source_is_logged_once",
        "test_ban_allow_and_clear",
        "test_malformed_fields_are_skipped_not_fatal",
        "test_purge_drops_only_what_is_past_retention",
        "test_one_caller_lives_in_one_cluster_slot",
        "test_bulk_load_writes_what_add_incident_writes",
        "test_one_incident_caller_stays_small",
        "test_an_absurd_stored_ban_time_still_refuses_and_shows",
    ),
    # The commands whose work spans slots or the whole keyspace (the rest are single-key Store calls).
    test_cli: (
        "test_screen_follows_the_default_ladder",
        "test_forget_leaves_no_trace",
        "test_purge_drops_what_is_past_retention",
        "test_stats",
    ),
    # The search by name written again under other keys of the {names} slot and RENAMEd (issue 30).
    test_names_rebuild: ("test_rebuild_indexes_writes_the_search_by_name_again",),
}
globals().update({name: getattr(module, name) for module, names in REUSED.items() for name in names})

N = "+31612345678"


def pytest_generate_tests(metafunc):
    """Every test on both deployments, but the reused CLI tests on the Cluster only (where routing
    differs; each runs the command several times, which is slow): the Sentinel set gets the CLI
    through test_check_names_the_mode and test_cli_screen_and_forget."""
    if "mode" in metafunc.fixturenames:
        name = metafunc.function.__name__
        modes = (
            ["cluster"]
            if name in REUSED[test_cli] or name in CLUSTER_ONLY
            else ["sentinel"]
            if name == "test_cli_screen_and_forget"
            else ["cluster", "sentinel"]
        )
        metafunc.parametrize("mode", modes, scope="module")


@pytest.fixture(scope="module")
def deployment(mode):
    """(the set, its [redis] settings): a 3+3 Cluster or a Sentinel set, started once per module."""
    if mode == "cluster":
        ha = RedisClusterSet().start()
        settings = {"mode": "cluster", "url": ha.url}
    else:
        ha = SentinelSet().start()
        settings = {"mode": "sentinel", "sentinels": ha.sentinels, "service_name": ha.service}
    yield ha, settings
    ha.cleanup()


@pytest.fixture
def config(deployment, mode):
    return make_config("redis://127.0.0.1:6379/0", redis=deployment[1])


@pytest.fixture
def gw(tmp_path, deployment, store):
    cfg = tmp_path / "grenswacht.toml"
    settings = deployment[1]
    cfg.write_text("[redis]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    return lambda *args, ok=True: cli(cfg, *args, ok=ok)


def cli(cfg, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """`grenswacht --config cfg ARGS` (in-process, tests/support/cli.py); ``ok``: it must succeed."""
    out = run_cli(["--config", str(cfg), *args])
    assert not ok or out.returncode == 0, out.stderr
    return out


async def test_keyspace_wide_reads_cover_every_primary(store, deployment):
    numbers = [f"+3161234{i:04d}" for i in range(40)]
    for n in numbers:
        await store.incidents.add_incident(Incident.new(n, "abuse", time.time()))
    days = [f"2026-01-{d:02d}" for d in range(1, 21)]
    await store.screening.add_counts({(day, "screen.allow"): 1 for day in days})
    ha, settings = deployment
    if settings["mode"] == "cluster":  # the data really is spread: each primary holds some callers
        holders = {ha.primary_for(keys.caller(n)).port for n in numbers}
        assert len(holders) == 3
    assert sorted([n async for n in store.screening.all_callers()]) == numbers
    screenings, _ = await store.screening.screening_counts("2026-01-05")
    assert screenings == {"allow": 16}


async def test_cooldown_and_callback_compare_and_set(store):
    one, two = Cooldown("PJSIP/101", ("q",), 1.0, 2.0), Cooldown("PJSIP/101", ("q",), 1.0, 3.0)
    assert await store.cooldowns.swap("PJSIP/101", None, one)
    assert not await store.cooldowns.swap("PJSIP/101", None, two)  # someone else's state
    assert await store.cooldowns.swap("PJSIP/101", one, None)
    assert await store.cooldowns.all() == {}
    scheduled = Appointment("cb1", N, "PJSIP/101", "q", 5.0, 1.0)
    assert await store.callbacks.swap("cb1", None, scheduled)
    assert not await store.callbacks.swap("cb1", None, replace(scheduled, status="calling"))
    assert await store.callbacks.get("cb1") == scheduled


async def test_old_cooldowns_migrate_across_slots(store, rdb):
    await rdb.hset(keys.OLD_COOLDOWN_STATE, "PJSIP/7", json.dumps({"queues": ["q1"], "since": 100.0}))
    await rdb.zadd(keys.OLD_COOLDOWN_DUE, {"PJSIP/7": 400.0})
    assert await cooldown.migrate(store, 200.0) == 1
    assert (await store.cooldowns.get("PJSIP/7")).until == 400.0
    assert await store.migrations.old_cooldowns() == ({}, {})


async def test_durability_and_erasure_rewrite_cover_every_primary(store, deployment):
    ha, settings = deployment
    assert (await store.server.durability()).durable
    primaries = (
        [s.port for s in ha.servers if "role:master" in redis_cli(s.port, "info", "replication")]
        if settings["mode"] == "sentinel"
        else ha.primaries_of(ha.nodes[0].port)
    )
    before = {p: _aof_rewrites(p) for p in primaries}
    assert await store.erasure.rewrite_persistence() == ["aof"]
    assert all(_aof_rewrites(p) > before[p] for p in primaries)
    weak = primaries[-1]
    redis_cli(weak, "config", "set", "appendfsync", "everysec")
    try:
        d = await store.server.durability()
        assert not d.durable and "appendfsync" in d.detail
    finally:
        redis_cli(weak, "config", "set", "appendfsync", "always")


def _aof_rewrites(port: int) -> int:
    info = redis_cli(port, "info", "persistence")
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("aof_rewrites:")))


async def test_events_audit_and_console_users(store):
    await store.streams.publish_event({"type": "incident", "caller": N})
    assert [f["caller"] for _, f in await store.streams.read_events("0-0", 10)] == [N]
    await store.streams.audit("sup", "ban", 1.0, target=N)
    assert [e["action"] for e in await store.streams.audit_entries()] == ["ban"]
    await store.users.put("ann", User("ann", "admin", 2, 1.5, "test", "argon2-hash"))
    assert await store.users.all() == {"ann": User("ann", "admin", 2, 1.5, "test", "argon2-hash")}
    # The login throttle's script touches an account's key and an address's key: one slot in a Cluster.
    limits = Limits(per_account_and_address=2, per_account=10, per_address=10, window=60)
    assert [(await store.logins.attempt("ann", "10.0.0.1", limits)).allowed for _ in range(3)] == [True, True, False]
    assert await store.logins.unlock_account("ann")
    assert (await store.logins.attempt("ann", "10.0.0.1", limits)).allowed


CLUSTER_ONLY = {"test_a_cluster_starts_from_any_seed_node"}


async def test_a_cluster_starts_from_any_seed_node(deployment, mode):
    ha, settings = deployment
    down = f"redis://127.0.0.1:{free_port()}/0"  # the first seed is down when the service starts
    config = make_config(down, redis={"mode": "cluster", "nodes": [f"127.0.0.1:{ha.nodes[3].port}"]})
    store, rdb = build_store(config), redis_client(config)
    number = f"+3162{random.randrange(10**7):07d}"  # a caller of its own: the deployment is shared
    try:
        await store.incidents.add_incident(Incident.new(number, "abuse", time.time()))
        assert len((await store.screening.load_caller(number)).incidents) == 1
        assert await store.server.topology() == "cluster, 3 primaries"
    finally:
        await rdb.flushdb()
        await rdb.aclose()
        await store.close()


def test_cli_screen_and_forget(gw, mode):
    gw("incidents", "add", "0612345678", "--category", "threat")
    assert j(gw("screen", "0612345678", "--json"))["action"] == "refuse"
    gw("forget", "0612345678", "--yes")
    assert j(gw("screen", "0612345678", "--json"))["action"] == "allow"


def test_check_names_the_mode(gw, deployment):
    out = gw("check").stdout
    assert f"({deployment[1]['mode']}" in out.splitlines()[1], out


@pytest.mark.parametrize(
    "body, needle",
    [
        ('mode = "sentinel"\n', 'mode "sentinel" needs sentinels'),
        ('sentinels = ["127.0.0.1:26379"]\n', 'sentinels are only used with mode = "sentinel"'),
        ('mode = "sentinel"\nsentinels = ["nohost"]\n', "redis.sentinels.0: must look like HOST:PORT"),
        ('mode = "cluster"\nurl = "redis://127.0.0.1:7000/2"\n', 'mode "cluster" needs a redis:// or rediss:// url'),
        ('mode = "ring"\n', "redis.mode: Input should be"),
        ('nodes = ["127.0.0.1:7000"]\n', 'nodes are only used with mode = "cluster"'),
    ],
)
def test_a_bad_mode_setting_is_one_sentence(tmp_path, body, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[redis]\n" + body)
    with pytest.raises(ConfigError, match=needle):
        load_config(cfg, env={})
    out = cli(cfg, "check", ok=False)
    assert out.returncode == 2 and needle.split(":")[0] in out.stderr and "Traceback" not in out.stderr
