"""Recordings and live calls (issue 28): the pure decisions, and LiveCalls on a real Redis."""

from __future__ import annotations

import os

import pytest

from agi.config import RecordingsConfig
from agi.engine import Ban, CallerRecord
from agi.recordings import fate, folder_problem, paths, should_record, sweep
from redis_schema.live_calls import recording_id
from redis_schema.records import LiveCall

FLAGGED = RecordingsConfig(record="flagged")


def test_who_is_recorded():
    clean = CallerRecord("+31612345678")
    banned = CallerRecord("+31612345678", ban=Ban(until=10.0))
    assert not should_record(RecordingsConfig(), banned, 5)  # off by default
    assert should_record(RecordingsConfig(record="all"), clean, 0)
    assert not should_record(FLAGGED, clean, 0)
    assert should_record(FLAGGED, clean, 1)
    assert should_record(FLAGGED, banned, 0)  # a ban (attempt) flags the caller too


def test_what_happens_to_an_open_recording():
    call = LiveCall("PJSIP/1001", "lid", "+31612345678", started=100.0, rid="r", file="/x.wav")
    assert fate(call, 200.0, 600, True) == "wait"  # still talking
    ended = LiveCall(**{**call.__dict__, "ended": 200.0})
    assert fate(ended, 790.0, 600, True) == "wait"  # within the window: an after-call code may come
    assert fate(ended, 801.0, 600, True) == "delete"
    logged = LiveCall(**{**ended.__dict__, "incident": "abc"})
    assert fate(logged, 201.0, 600, True) == "wait"  # Asterisk is closing the file
    assert fate(logged, 204.0, 600, True) == "keep"
    assert fate(logged, 204.0, 600, False) == "wait"


def test_paths_as_each_side_sees_the_shared_folder():
    shared = RecordingsConfig(record="all", folder="/mnt/pbx-rec", asterisk_folder="/var/spool/asterisk/gw")
    rid = recording_id("1733.42", "Local/1001@agents/n")
    assert "/" not in rid and rid.startswith("1733.42-")
    assert paths(shared, rid) == (f"/mnt/pbx-rec/{rid}.wav", f"/var/spool/asterisk/gw/{rid}.wav")
    assert paths(FLAGGED, rid)[0] == paths(FLAGGED, rid)[1]


def test_a_missing_or_unusable_folder_is_one_sentence(tmp_path):
    assert folder_problem(RecordingsConfig(folder=str(tmp_path / "nope"))) is None  # off: not used
    problem = folder_problem(RecordingsConfig(record="all", folder=str(tmp_path / "nope")))
    assert problem is not None and "does not exist" in problem and problem.endswith(".") and "\n" not in problem
    assert folder_problem(RecordingsConfig(record="all", folder=str(tmp_path))) is None
    if os.geteuid() != 0:  # root may read anything
        tmp_path.chmod(0o100)
        assert "cannot be read" in (folder_problem(RecordingsConfig(record="all", folder=str(tmp_path))) or "")


@pytest.mark.asyncio
async def test_live_calls_on_redis(store, rdb, config, tmp_path):
    agent = "PJSIP/1001"
    assert await store.live.current(agent) is None
    wav = tmp_path / "r.wav"
    wav.write_bytes(b"RIFF")
    call = LiveCall(agent, "lid1", "+31612345678", started=100.0, rid="r", file=str(wav))
    await store.live.start(call, 600)
    assert await store.live.current(agent) == call
    assert await store.live.end(agent, "other", 150.0, 600) is None  # not this agent's call
    ended = await store.live.end(agent, "lid1", 150.0, 600)
    assert ended is not None and ended.ended == 150.0
    assert 0 < await rdb.ttl(f"gw:live:{agent}") <= 600  # the after-call window
    assert await store.live.mark_logged(agent, "lid1", "inc1")
    assert not await store.live.mark_logged(agent, "lid1", "inc2")  # logged once
    [opened] = (await store.live.open.all()).values()
    assert (opened.incident, opened.ended) == ("inc1", 150.0)
    folder = RecordingsConfig(record="all", folder=str(tmp_path))
    cfg = config.model_copy(update={"recordings": folder})
    await rdb.hset("gw:incident-owner", "inc1", "+31612345678")  # the incident exists
    assert await sweep(store, cfg, 160.0) == (1, 0)
    kept = await store.live.recording("inc1")
    assert kept is not None and kept.size == 4 and len(kept.sha256) == 64 and kept.linkedid == "lid1"
    assert await store.live.open.all() == {}
    # Its incident gone (retention, erasure): the file and the record go too.
    await rdb.hdel("gw:incident-owner", "inc1")
    assert await sweep(store, cfg, 170.0) == (0, 1)
    assert not wav.exists() and await store.live.recording("inc1") is None


def test_check_names_an_unusable_folder_in_one_line(tmp_path, redis_server, capfd):
    """(serve's start-up line: tests/test_recordings_folder.py)"""
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.redis_server import free_port

    cfg = tmp_path / "grenswacht.toml"
    missing = tmp_path / "no-such-folder"
    cfg.write_text(
        f'[redis]\nurl = "{redis_server.url}"\n[storage]\njournal_path = "{tmp_path}/j/journal.jsonl"\n'
        f'[recordings]\nrecord = "flagged"\nfolder = "{missing}"\n'
        f'[agi]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    script = str(Path(sys.executable).with_name("grenswacht"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([script, "--config", str(cfg), "check"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    [line] = [line for line in out.stdout.splitlines() if "recordings" in line]
    assert line.startswith("WARNING") and f"{missing} does not exist" in line
    strict = subprocess.run(
        [script, "--config", str(cfg), "check", "--strict"], capture_output=True, text=True, env=env, timeout=60
    )
    assert strict.returncode == 2
