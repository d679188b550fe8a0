"""The `grenswacht` command against a real Redis: run in-process through its entry point
(tests/support/cli.py), and through the console script where the separate process is the point."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from agi.cli.common import iso
from agi.counters import ScreeningCounters
from agi.engine import Ban, Incident
from redis_schema import records
from redis_schema.live_calls import recording_id
from tests.support.cli import SCRIPT, run_cli
from tests.support.redis_server import busy_port

N = "+31612345678"


@pytest.fixture
def gw(tmp_path, redis_server, store):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')

    def run(*args, ok=True):
        out = run_cli(["--config", str(cfg), *args])
        if ok:
            assert out.returncode == 0, out.stderr
        return out

    return run


def j(out):
    return json.loads(out.stdout)


def test_screen_follows_the_default_ladder(gw):
    assert j(gw("screen", "0612345678", "--json"))["action"] == "allow"
    seen = []
    for _ in range(3):
        gw("incidents", "add", "0612345678", "--category", "abuse", "--note", "shouted")
        seen.append(j(gw("screen", "0612345678", "--json"))["action"])
    assert seen == ["warn", "senior", "refuse"]
    assert j(gw("screen", "+31 6 1234 5678", "--json"))["would_set_ban_until"]


def test_ban_refuses_and_unban_lifts(gw):
    gw("ban", "0612345678", "--days", "7", "--reason", "threatened staff", "--actor", "sup1")
    out = j(gw("screen", "0612345678", "--json"))
    assert (out["action"], out["reason"]) == ("refuse", "banned")
    caller = j(gw("caller", "0612345678", "--json"))
    assert caller["ban"]["reason"] == "threatened staff" and caller["ban"]["by"] == "sup1" and caller["ban"]["active"]
    assert [b["target"] for b in j(gw("bans", "--json"))] == [N]
    gw("unban", "0612345678")
    assert j(gw("screen", "0612345678", "--json"))["action"] == "allow"
    assert gw("unban", "0612345678", ok=False).returncode == 2


def test_allowlist_wins_and_disallow_removes(gw):
    gw("incidents", "add", "0612345678", "--category", "threat")
    gw("allow", "0612345678", "--reason", "care home, confused resident")
    assert j(gw("screen", "0612345678", "--json"))["reason"] == "allowlisted"
    gw("disallow", "0612345678")
    assert j(gw("screen", "0612345678", "--json"))["action"] == "refuse"


def test_prefix_ban_covers_a_number_block_and_is_applied_by_screening(gw):
    gw("ban", "--prefix", "+3185123", "--reason", "spoofing call centre")
    assert j(gw("screen", "+31851234567", "--json"))["reason"] == "prefix-banned"
    assert j(gw("screen", "+31859999999", "--json"))["action"] == "allow"
    assert "+3185123" in gw("bans").stdout
    gw("unban", "--prefix", "+3185123")
    assert j(gw("screen", "+31851234567", "--json"))["action"] == "allow"


def test_incidents_list_show_debrief_and_open(gw):
    a = gw("incidents", "add", "0612345678", "--category", "abuse", "--note", "letter of 3 May").stdout.strip()
    b = gw("incidents", "add", "0687654321", "--category", "threat").stdout.strip()
    listed = j(gw("incidents", "list", "--json"))
    assert [i["id"] for i in listed] == [a, b]
    assert [i["id"] for i in j(gw("incidents", "list", "--caller", "0612345678", "--json"))] == [a]
    assert [i["id"] for i in j(gw("incidents", "list", "--category", "threat", "--json"))] == [b]
    shown = j(gw("incidents", "show", a, "--json"))
    assert (shown["caller"], shown["note"], shown["source"]) == (N, "letter of 3 May", "cli")
    gw("incidents", "debrief", a, "--note", "I reacted consciously and stayed calm", "--actor", "sup1")
    assert [i["id"] for i in j(gw("incidents", "list", "--open", "--json"))] == [b]
    assert j(gw("incidents", "show", a, "--json"))["debrief"] == "I reacted consciously and stayed calm"
    assert "letter of 3 May" in gw("incidents", "list").stdout


def test_written_warnings(gw):
    for _ in range(2):
        gw("incidents", "add", "0612345678", "--category", "abuse")
    gw("incidents", "add", "0687654321", "--category", "abuse")  # only warn: not due
    assert [w["caller"] for w in j(gw("warnings", "--json"))] == [N]
    gw("warnings", "sent", "0612345678")
    assert j(gw("warnings", "--json")) == []
    assert j(gw("caller", "0612345678", "--json"))["warning_sent"]


def test_export_round_trips_every_field(gw, store):
    gw("incidents", "add", "0612345678", "--category", "abuse", "--note", 'said "x", then\nhung up')
    gw("ban", "0612345678", "--reason", "r")
    exported = j(gw("export", "--caller", "0612345678"))
    assert exported["caller"]["caller"] == N and exported["caller"]["ban"]["reason"] == "r"
    [inc] = exported["incidents"]
    full = j(gw("incidents", "show", inc["id"], "--json"))
    assert inc == full
    text = gw("export", "--format", "csv").stdout
    assert text.startswith("\ufeff")  # the BOM a spreadsheet needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 1
    shown = records.export_row(full, ZoneInfo("Europe/Amsterdam"))  # times readable, in [web] timezone
    assert {k: v for k, v in rows[0].items()} == {k: ("" if shown[k] is None else str(shown[k])) for k in rows[0]}


async def live_call_now(store, agent, caller, *, name="", ended=False, recorded=False):
    """A call ``agent`` answered, as the answered route records it (and its hang-up, when ``ended``)."""
    now = time.time()
    linkedid = f"{now:.0f}.{agent[-4:]}"
    rid = recording_id(linkedid, agent) if recorded else ""
    call = records.LiveCall(agent, linkedid, caller, "support", f"{agent}-01", now, rid=rid, name=name)
    await store.live.start(replace(call, file=f"/var/spool/grenswacht/{rid}.wav" if rid else ""), 600)
    if ended:
        await store.live.end(agent, call.linkedid, now + 1, 600)
    return call


async def test_forget_leaves_no_trace(gw, store, rdb):
    gw("incidents", "add", "0612345678", "--category", "abuse")
    gw("ban", "0612345678")
    gw("allow", "0612345678")
    gw("warnings", "sent", "0612345678")
    await store.streams.publish_event({"type": "incident", "caller": N})
    # Erased during a call (on the board's live panel, recorded, the agent asked for help) and
    # right after another (its after-call window still open): none of it may keep the caller.
    talking = await live_call_now(store, "PJSIP/1001", N, name="Jan Jansen", recorded=True)
    await live_call_now(store, "PJSIP/1002", N, name="Jan Jansen", ended=True)
    await store.help.add(
        records.HelpRequest(talking.linkedid, "PJSIP/1001-01", caller=N, agent="PJSIP/1001", until=time.time() + 600)
    )
    other = await live_call_now(store, "PJSIP/1003", "+31687654321")  # another caller's call stays
    assert gw("forget", "0612345678", ok=False).returncode == 2  # needs --yes
    gw("forget", "0612345678", "--yes", "--actor", "dpo")
    found = []
    async for key in rdb.scan_iter(count=1000):
        kind = await rdb.type(key)
        dump = {
            "hash": rdb.hgetall,
            "zset": lambda k: rdb.zrange(k, 0, -1),
            "set": rdb.smembers,
            "list": lambda k: rdb.lrange(k, 0, -1),
            "stream": lambda k: rdb.xrange(k),
            "string": rdb.get,
        }[kind](key)
        text = key + repr(await dump)  # "612345678": the E.164 form and the national 0612345678
        if "612345678" in text or "Jansen" in text:
            found.append(key)
    assert found == []
    audit = j(gw("audit", "--json"))  # the erasure's own entry is in that scan: it keeps no number
    assert [e["action"] for e in audit] == ["forget"] and audit[0]["actor"] == "dpo"
    assert [c.agent for c in await store.live.talking(time.time())] == [other.agent]  # the board's live panel
    assert await store.live.current(other.agent) == other


async def test_purge_drops_what_is_past_retention(gw, store):
    old, _ = await store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 400 * 86400))
    new, _ = await store.incidents.add_incident(Incident.new(N, "abuse", time.time()))
    assert "1 incident" in gw("purge").stdout
    assert [i["id"] for i in j(gw("incidents", "list", "--json"))] == [new]


async def test_stats(gw, store):
    gw("incidents", "add", "0612345678", "--category", "abuse")
    gw("incidents", "add", "0612345678", "--category", "threat")
    counters = ScreeningCounters()
    counters.count("refuse", "banned", time.time())
    counters.count("allow", "clean", time.time())
    await counters.flush(store)
    out = j(gw("stats", "--json"))
    day = datetime.now(ZoneInfo("Europe/Amsterdam")).strftime("%Y-%m-%d")  # [web] timezone, as the console
    assert out["incidents_per_day"] == {day: {"abuse": 1, "threat": 1}}
    assert out["top_callers"] == [{"caller": N, "incidents": 2}]
    assert out["screenings"] == {"refuse": 1, "allow": 1} and out["refused_while_banned"] == 1
    assert "Top repeat callers" in gw("stats").stdout


def test_audit_records_every_change_with_actor(gw):
    gw("ban", "0612345678", "--actor", "sup1")
    gw("unban", "0612345678", "--actor", "sup2")
    iid = gw("incidents", "add", "0612345678", "--category", "abuse", "--actor", "sup3").stdout.strip()
    gw("incidents", "debrief", iid, "--note", "ok", "--actor", "sup4")
    entries = j(gw("audit", "--json"))
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("ban", "sup1"),
        ("unban", "sup2"),
        ("incident-add", "sup3"),
        ("incident-debrief", "sup4"),
    ]
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    assert j(gw("audit", "--since", tomorrow, "--json")) == []


@pytest.mark.parametrize(
    "args,needle",
    [
        (("screen", "06-abc"), "is not a phone number"),
        (("incidents", "show", "zzz"), "is not an incident id"),
        (("incidents", "show", "0123456789ab"), "no incident with id"),
        (("incidents", "list", "--since", "yesterday"), "is not a date"),
        (("incidents", "add", "0612345678", "--category", "rude"), "is not in the protocol's weights"),
        (("ban", "0612345678", "--days", "0"), "--days"),
        (("ban", "--prefix", "+31a"), "is not a number prefix"),
        (("screen", "06123456ab"), "is not a phone number"),
        (("ban", "0612345678x9"), "is not a phone number"),
        (("ban", "+3161234567"), "is not a valid phone number"),
        (("ban", "0612345678", "--days", "999999999"), "--days must be a whole number from 1 to 3650"),
        (("incidents", "add", "0612345678", "--category", "abuse", "--at", "2999-01-01"), "is out of range"),
        (("incidents", "add", "0612345678", "--category", "abuse", "--at", "1999-12-31"), "is out of range"),
        (("incidents", "list", "--since", "0001-01-01"), "is out of range"),
        (("stats", "--since", "9999-12-31T23:59:59-23:59"), "is out of range"),
        (("audit", "--since", "2999-01-01"), "is out of range"),
        (("nosuch",), "invalid choice"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(gw, args, needle):
    out = gw(*args, ok=False)
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


async def test_refused_input_writes_nothing(gw, store, rdb):
    for args in (
        ("ban", "0612345678", "--days", "999999999"),
        ("ban", "06123456ab"),
        ("allow", "0612345678x9"),
        ("incidents", "add", "0612345678", "--category", "abuse", "--at", "2739933-01-01"),
        ("incidents", "add", "0612345678", "--category", "abuse", "--at", "2999-01-01"),
    ):
        assert gw(*args, ok=False).returncode == 2
    assert await rdb.dbsize() == 0


async def test_a_stored_time_out_of_any_calendar_does_not_crash_the_cli(gw, store):
    # Put there by an older version or by hand (the store reads it as the end of year 9999).
    await store.lists.set_ban(N, Ban(until=1e15, reason="typo", set_at=time.time(), actor="sup1"))
    end = "9999-12-31 23:59:59Z"
    assert j(gw("caller", "0612345678", "--json"))["ban"]["until"] == end
    assert [(b["target"], b["until"]) for b in j(gw("bans", "--json"))] == [(N, end)]
    assert j(gw("export", "--caller", "0612345678"))["caller"]["ban"]["until"] == end
    assert j(gw("screen", "0612345678", "--json"))["action"] == "refuse"


@pytest.mark.parametrize("value", [1e15, -1e15, float("inf"), float("nan"), "x", "1e400"])
def test_iso_shows_an_impossible_time_as_invalid(value):
    assert iso(value) == "invalid"
    assert iso(0) == "1970-01-01 00:00:00Z" and iso(None) == iso("") == ""


def test_a_number_outside_the_plan_can_be_looked_up_and_erased_but_not_banned(gw):
    # +3161234567 is one digit short: possible, but no such number is in use.
    assert "is not a valid phone number" in gw("ban", "+3161234567", ok=False).stderr
    assert j(gw("caller", "+3161234567", "--json"))["caller"] == "+3161234567"
    assert "erased" in gw("forget", "+3161234567", "--yes").stdout


def test_serve_names_a_listen_address_in_use(tmp_path, redis_server):
    with busy_port() as port:
        cfg = tmp_path / "c.toml"
        cfg.write_text(
            f'[redis]\nurl = "{redis_server.url}"\n[agi]\nlisten = "127.0.0.1:{port}"\n'
            f'[ami]\naddress = "127.0.0.1:1"\n[storage]\njournal_path = "{tmp_path / "journal.jsonl"}"\n'
        )
        out = subprocess.run([SCRIPT, "--config", str(cfg), "serve"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"grenswacht: agi.listen 127.0.0.1:{port}: address already in use."
    assert "Traceback" not in out.stderr and "unreachable" not in out.stderr


def test_unreachable_store_is_one_sentence_and_exit_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[redis]\nurl = "redis://127.0.0.1:1/0"\n')
    out = run_cli(["--config", str(cfg), "caller", "0612345678"])
    assert out.returncode == 2 and "store is unreachable" in out.stderr and "Traceback" not in out.stderr


def test_a_redis_password_missing_or_a_wrong_database_each_name_the_setting(tmp_path):
    from tests.support.redis_server import RedisServer

    server = RedisServer(password="s3cret-pass-word").start()
    try:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[redis]\nurl = "redis://127.0.0.1:{server.port}/0"\n')
        out = run_cli(["--config", str(cfg), "bans"])
        one_sentence(out, "Redis refused the login: set GRENSWACHT_REDIS_PASSWORD")
        cfg.write_text(f'[redis]\nurl = "redis://127.0.0.1:{server.port}/999"\n')
        env = {**os.environ, "GRENSWACHT_REDIS_PASSWORD": "s3cret-pass-word"}
        out = run_cli(["--config", str(cfg), "bans"], env=env)
        one_sentence(out, "Redis has no database with the number at the end of [redis] url")
    finally:
        server.stop()


# ---- bounds on everything typed (issue 32, item 5) -----------------------------------------------------


def one_sentence(out, needle: str) -> None:
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


async def test_an_actor_with_a_line_break_is_refused_and_cannot_forge_an_audit_row(gw, store, rdb):
    for args in (
        ("ban", "0612345678", "--actor", "evil\nactor"),
        ("incidents", "add", "0612345678", "--category", "abuse", "--actor", "evil\x1b[2Jactor"),
        ("callbacks", "cancel", "0123456789ab", "--actor", "x" * 65),
        ("purge", "--actor", "   "),
    ):
        one_sentence(gw(*args, ok=False), "is not a name (1 to 64 printable characters")
    assert await rdb.dbsize() == 0
    gw("ban", "0612345678", "--actor", "Jan de Vries")
    assert [e["actor"] for e in j(gw("audit", "--json"))] == ["Jan de Vries"]


async def test_a_prefix_as_wide_as_a_country_needs_yes(gw, store, rdb):
    for args in (("ban", "--prefix", "+31"), ("ban", "--prefix", "+3120"), ("allow", "--prefix", "0031")):
        one_sentence(gw(*args, ok=False), "repeat with --yes if you mean the whole range")
    one_sentence(gw("ban", "--prefix", "+12", ok=False), "+12 covers every number of a country")
    assert await rdb.dbsize() == 0
    gw("ban", "--prefix", "+31", "--yes", "--reason", "spoofed from abroad")
    gw("ban", "--prefix", "+1212")  # country code 1 and 3 digits: an area, no confirmation needed
    assert j(gw("screen", "+31612345678", "--json"))["reason"] == "prefix-banned"
    assert sorted(b["target"] for b in j(gw("bans", "--json"))) == ["+1212", "+31"]


async def test_the_minimum_range_is_a_setting(gw, store, tmp_path, redis_server):
    cfg = tmp_path / "narrow.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[numbers]\nmin_prefix_digits = 5\n')
    out = run_cli(["--config", str(cfg), "ban", "--prefix", "+31851"])
    one_sentence(out, "it has 3 of the 5 digits after the country code")


async def test_a_reason_or_note_past_its_limit_is_refused(gw, store, rdb):
    one_sentence(gw("ban", "0612345678", "--reason", "x" * 100_000, ok=False), "the reason is longer than 300")
    one_sentence(gw("allow", "0612345678", "--reason", "care\nhome", ok=False), "the reason must be one line")
    add = ("incidents", "add", "0612345678", "--category", "abuse")
    one_sentence(gw(*add, "--note", "x" * 2001, ok=False), "the note is longer than 2000 characters")
    one_sentence(gw(*add, "--note", "bell\x07", ok=False), "must not contain control characters")
    assert await rdb.dbsize() == 0
    gw("ban", "0612345678", "--reason", "x" * 300)
    assert j(gw("caller", "0612345678", "--json"))["ban"]["reason"] == "x" * 300
    # A note may have line breaks; a table shows it on its one row.
    gw(*add, "--note", "line one\nline two")
    assert gw("incidents", "list").stdout.splitlines()[2].endswith("line one\\nline two")
    assert len(gw("incidents", "list").stdout.splitlines()) == 3


def test_output_cut_short_by_its_reader_ends_quietly(gw, tmp_path, redis_server):
    # More than a pipe holds, so the writes go on after the reader has gone.
    with redis.Redis.from_url(redis_server.url) as client, client.pipeline(transaction=False) as pipe:
        for k in range(4000):
            pipe.xadd("gw:audit", {"actor": "sup1", "action": "ban", "at": str(time.time()), "number": N, "n": k})
        pipe.execute()
    cfg = tmp_path / "g.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')
    proc = subprocess.Popen(
        [SCRIPT, "--config", str(cfg), "audit"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().startswith("time")
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""


def test_connections_beyond_the_file_limit_are_refused_by_serve(tmp_path, redis_server):
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    def run(command: str, max_connections: int) -> subprocess.CompletedProcess:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[agi]\nmax_connections = {max_connections}\n')
        return subprocess.run(
            [SCRIPT, "--config", str(cfg), command], capture_output=True, text=True, preexec_fn=low_limit, timeout=60
        )

    one_sentence(run("serve", 100_000), "need 100128 file descriptors, but this process may open 4096 (RLIMIT_NOFILE)")
    one_sentence(run("check", 100_000), "need 100128 file descriptors")
    # The commands that open a handful of descriptors run whatever the service is sized for.
    assert run("bans", 100_000).returncode == 0
