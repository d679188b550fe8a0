"""`grenswacht check` against real redis-servers, with and without persistence that keeps incidents."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))
AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")


SOUNDS = Path(__file__).resolve().parents[1] / "dialplan" / "sounds"
NO_AMI = "WARNING  ami: not configured (set GRENSWACHT_AMI_SECRET)"


def check(
    tmp_path: Path,
    url: str,
    *args: str,
    journal: Path | None = None,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    cfg = tmp_path / "grenswacht.toml"
    journal = journal or tmp_path / "state" / "journal.jsonl"
    # A caller_id, so that callbacks (on by default) pass; test_admin_first_hour checks an empty one.
    cfg.write_text(
        f'[redis]\nurl = "{url}"\n[storage]\njournal_path = "{journal}"\n'
        f'[callbacks]\ncaller_id = "+31201234567"\n{extra}'
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")} | (env or {})
    return subprocess.run(
        [SCRIPT, "--config", str(cfg), "check", *args], capture_output=True, text=True, timeout=60, env=environ
    )


@pytest.fixture(scope="module")
def durable_redis():
    server = RedisServer(extra_args=AOF_ALWAYS).start()
    yield server
    server.cleanup()


def lines(out: subprocess.CompletedProcess) -> list[str]:
    *checks, summary = out.stdout.strip().splitlines()
    assert all(re.match(r"(ok|WARNING) +\S", line) for line in checks), out.stdout  # one line per check
    assert summary == f"{len(checks)} checks, {sum(l.startswith('WARNING') for l in checks)} warning(s)."
    return checks


AGI_SECRET = {"GRENSWACHT_AGI_SECRET": "0123456789abcdef0123"}


def test_durable_redis_passes_every_check(tmp_path, durable_redis):
    out = check(tmp_path, durable_redis.url, env=AGI_SECRET)
    assert out.returncode == 0, out.stderr
    checks = lines(out)
    assert [c.split()[0] for c in checks] == ["ok", "ok", "ok", "ok", "ok", "ok", "WARNING"]
    assert "aof-always" in checks[2] and checks[4].startswith("ok       agi secret: set")
    assert checks[5].startswith("ok       callbacks: on, placed from +31201234567")
    assert checks[6].startswith(NO_AMI)
    out = check(tmp_path, durable_redis.url, "--strict", env=AGI_SECRET)  # without AMI, strict says so
    assert (
        out.returncode == 2
        and out.stderr == "grenswacht: 1 check(s) gave a warning, and --strict makes that an error.\n"
    )


def test_prompts_are_checked_in_the_folder_the_config_names(tmp_path, durable_redis):
    out = check(tmp_path, durable_redis.url, extra=f'[prompts]\npath = "{SOUNDS}"\nlanguage = "en"\n')
    assert out.returncode == 0, out.stderr
    assert lines(out)[7] == f"ok       prompts: all 16 in {SOUNDS / 'en'}, and the 2 tones in {SOUNDS / 'tones'}"
    out = check(tmp_path, durable_redis.url, "--sounds-dir", str(SOUNDS.parent), extra='[prompts]\npath = "sounds"\n')
    assert out.returncode == 0 and lines(out)[7].startswith(f"ok       prompts: all 16 in {SOUNDS / 'nl'}, and")
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "refused.wav").write_bytes(b"")
    out = check(tmp_path, durable_redis.url, extra=f'[prompts]\npath = "{tmp_path}"\nlanguage = "nl"\n')
    assert out.returncode == 2
    assert out.stderr.startswith(f"grenswacht: the prompts folder {tmp_path / 'nl'} lacks warning, senior,")


def test_an_unreachable_ami_is_one_sentence_and_exit_2(tmp_path, durable_redis):
    out = check(
        tmp_path, durable_redis.url, extra='[ami]\naddress = "127.0.0.1:1"\n', env={"GRENSWACHT_AMI_SECRET": "s3cret"}
    )
    assert out.returncode == 2, out.stdout
    assert out.stderr == (
        "grenswacht: AMI at 127.0.0.1:1 cannot be reached (Connection refused); "
        "is Asterisk running with the manager enabled on that address?\n"
    )
    assert "Traceback" not in out.stdout + out.stderr


def test_redis_without_persistence_is_a_clear_warning(tmp_path, redis_server):
    out = check(tmp_path, redis_server.url)
    assert out.returncode == 0, out.stderr
    config, reachable, durability, journal, secret, callbacks, ami = lines(out)
    assert config.startswith("ok") and reachable.startswith("ok")
    assert durability.startswith("WARNING") and "(none)" in durability
    assert "would lose acknowledged incidents on restart" in durability and "appendfsync always" in durability


def test_strict_makes_a_warning_exit_2(tmp_path, redis_server):
    out = check(tmp_path, redis_server.url, "--strict")
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["grenswacht: 3 check(s) gave a warning, and --strict makes that an error."]
    assert "WARNING" in out.stdout


def test_without_an_agi_secret_check_says_any_local_user_can_force_fail_open(tmp_path, durable_redis):
    out = check(tmp_path, durable_redis.url)
    assert out.returncode == 0, out.stderr
    secret = lines(out)[4]
    assert secret.startswith("WARNING  agi secret: not set, so any local user on the PBX")
    assert "unscreened (fail-open)" in secret and "GRENSWACHT_AGI_SECRET" in secret


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


def test_a_journal_that_cannot_be_written_is_an_error_and_set_aside_entries_a_warning(tmp_path, durable_redis):
    blocked = tmp_path / "file"
    blocked.write_text("")
    out = check(tmp_path, durable_redis.url, journal=blocked / "journal.jsonl")  # its folder is a file
    assert out.returncode == 2 and out.stderr.startswith(
        f"grenswacht: storage.journal_path: {blocked / 'journal.jsonl'} cannot be written by this user"
    )
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.jsonl.poison").write_text("{x\n")
    out = check(tmp_path, durable_redis.url, "--strict")
    assert out.returncode == 2 and "set aside as unreadable" in lines(out)[3]


FEATURES_SHOW = """Builtin Feature           Default Current
---------------           ------- -------
Pickup                    *8      *8
Attended Transfer

Dynamic Feature           Default Current
---------------           ------- -------
grenswacht-callback       no def  *7
grenswacht-endlog         no def  *0
grenswacht-endlog-threat  no def  *9
grenswacht-handover       no def  *8
grenswacht-help           no def  *2
grenswacht-quieter        no def  *4

Feature Groups:
---------------
(none)""".splitlines()


def test_feature_codes_and_permissions_are_read_from_asterisks_output():
    from agi.cli.check_cmds import allowed_actions, feature_codes, feature_problems, needed_actions
    from agi.config import Config

    codes = feature_codes(FEATURES_SHOW)
    assert codes == {
        "grenswacht-callback": "*7",
        "grenswacht-endlog": "*0",
        "grenswacht-endlog-threat": "*9",
        "grenswacht-handover": "*8",
        "grenswacht-help": "*2",
        "grenswacht-quieter": "*4",
    }
    assert feature_problems(Config(), codes) == []
    assert feature_problems(Config.model_validate({"help": {"key": "*3"}}), codes) == [
        "help.key is *3 but the feature grenswacht-help is *2"
    ]
    changed = Config.model_validate({"features": {"endlog": "*5", "extra": {"*6": "threat"}}})
    assert feature_problems(changed, codes) == [
        "features.endlog is *5 but the feature grenswacht-endlog is *0",
        "features.extra *6 has no grenswacht-endlog-* feature with that code",
    ]
    listed = {
        "Response": "Success",
        "QueuePause": "Makes a queue member temporarily unavailable. (Priv: agent,all)",
        "QueueStatus": "Show queue status. (Priv: <none>)",
        "ActionID": "1",
    }
    assert allowed_actions(listed) == {"QueuePause", "QueueStatus"}
    assert needed_actions(Config()) == ["QueueStatus", "QueuePause", "UserEvent", "Originate", "ShowDialPlan"]
    off = Config.model_validate({"callbacks": {"enabled": False}})
    assert needed_actions(off) == ["QueueStatus", "QueuePause", "UserEvent", "ShowDialPlan"]
