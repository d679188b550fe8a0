"""`grenswacht check` against real redis-servers, with and without persistence that keeps incidents."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))
AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")


def check(tmp_path: Path, url: str, *args: str, journal: Path | None = None) -> subprocess.CompletedProcess:
    cfg = tmp_path / "grenswacht.toml"
    journal = journal or tmp_path / "state" / "journal.jsonl"
    cfg.write_text(f'[redis]\nurl = "{url}"\n[storage]\njournal_path = "{journal}"\n')
    return subprocess.run([SCRIPT, "--config", str(cfg), "check", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def durable_redis():
    server = RedisServer(extra_args=AOF_ALWAYS).start()
    yield server
    server.cleanup()


def lines(out: subprocess.CompletedProcess) -> list[str]:
    *checks, summary = out.stdout.strip().splitlines()
    assert all(re.match(r"(ok|WARNING) +\S", line) for line in checks), out.stdout   # one line per check
    assert summary == f"{len(checks)} checks, {sum(l.startswith('WARNING') for l in checks)} warning(s)."
    return checks


@pytest.mark.parametrize("strict", [(), ("--strict",)])
def test_durable_redis_passes_every_check(tmp_path, durable_redis, strict):
    out = check(tmp_path, durable_redis.url, *strict)
    assert out.returncode == 0, out.stderr
    checks = lines(out)
    assert [c.split()[0] for c in checks] == ["ok", "ok", "ok", "ok"]
    assert "aof-always" in checks[2]


def test_redis_without_persistence_is_a_clear_warning(tmp_path, redis_server):
    out = check(tmp_path, redis_server.url)
    assert out.returncode == 0, out.stderr
    config, reachable, durability, journal = lines(out)
    assert config.startswith("ok") and reachable.startswith("ok")
    assert durability.startswith("WARNING") and "(none)" in durability
    assert "would lose acknowledged incidents on restart" in durability and "appendfsync always" in durability


def test_strict_makes_a_warning_exit_2(tmp_path, redis_server):
    out = check(tmp_path, redis_server.url, "--strict")
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["grenswacht: 1 check(s) gave a warning, and --strict makes that an error."]
    assert "WARNING" in out.stdout


def test_snapshots_only_are_not_enough(tmp_path):
    server = RedisServer(extra_args=("--save", "3600 1")).start()
    try:
        out = check(tmp_path, server.url)
    finally:
        server.cleanup()
    assert out.returncode == 0, out.stderr
    assert lines(out)[2].startswith("WARNING  redis durability (rdb-only): Redis would lose acknowledged incidents")


def test_unreachable_redis_is_one_sentence_and_exit_2(tmp_path):
    out = check(tmp_path, "redis://127.0.0.1:1/0")
    assert out.returncode == 2
    [sentence] = out.stderr.splitlines()
    assert sentence.startswith("grenswacht: the store is unreachable") and "Traceback" not in out.stderr


def test_a_journal_that_cannot_be_written_or_holds_set_aside_entries_is_a_warning(tmp_path, durable_redis):
    blocked = tmp_path / "file"
    blocked.write_text("")
    out = check(tmp_path, durable_redis.url, journal=blocked / "journal.jsonl")   # its folder is a file
    assert out.returncode == 0 and lines(out)[3].startswith("WARNING  journal:") and "cannot be written" in out.stdout
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.jsonl.poison").write_text("{x\n")
    out = check(tmp_path, durable_redis.url, "--strict")
    assert out.returncode == 2 and "set aside as unreadable" in lines(out)[3]
