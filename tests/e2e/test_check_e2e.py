"""Operations against the end-to-end Asterisk: `grenswacht check` all green, then broken set-ups (exit 2,
one sentence); and /metrics and /readyz scraped while Asterisk's calls are screened."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agi.service import Service
from tests.e2e.test_screening_e2e import on, varset
from tests.support.redis_server import RedisServer, free_port
from tests.test_metrics import http, scrape, value

pytestmark = [pytest.mark.asterisk]

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))


@pytest.fixture(scope="module")
def durable_redis():
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    yield server
    server.cleanup()


def check(
    tmp_path: Path,
    asterisk,
    redis_url: str,
    *,
    secret: str | None = None,
    extra: str = "",
    sounds: bool = True,
    user: str | None = None,
    strict: bool = True,
) -> subprocess.CompletedProcess:
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f"""[redis]
url = "{redis_url}"
[storage]
journal_path = "{tmp_path / "state" / "journal.jsonl"}"
[ami]
address = "127.0.0.1:{asterisk.ami_port}"
username = "{user or asterisk.ami_user}"
[callbacks]
outbound_context = "callback-out"
caller_id = "+31201234567"
{extra}""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")}
    env["GRENSWACHT_AMI_SECRET"] = secret or asterisk.ami_secret
    env["GRENSWACHT_AGI_SECRET"] = "a" * 24  # without one, check warns that local users can force fail-open
    # Asterisk runs in a chroot: its sounds folder, as this machine sees it.
    args = ["--sounds-dir", str(asterisk.host_base / "data" / "sounds")] if sounds else []
    return subprocess.run(
        [SCRIPT, "--config", str(cfg), "check", *(["--strict"] if strict else []), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_complete_installation_is_all_green(tmp_path, asterisk, durable_redis):
    out = check(tmp_path, asterisk, durable_redis.url, extra='[routing]\nsenior_destination = "Local/senior@seniors"\n')
    assert out.returncode == 0, out.stdout + out.stderr
    *checks, summary = out.stdout.strip().splitlines()
    assert [c.split()[0] for c in checks] == ["ok"] * len(checks) and len(checks) == 12, out.stdout
    assert summary == "12 checks, 0 warning(s)."
    text = "\n".join(checks)
    assert f"ami: logged in to 127.0.0.1:{asterisk.ami_port} as 'grenswacht', Asterisk 22." in text
    assert "dialplan: the 11 contexts are loaded (grenswacht-screen," in text
    assert "feature codes: *0, *8, *9, *7 match the applicationmap on Asterisk" in text
    assert "prompts: all 16 in " in text and "senior destination: Local/senior@seniors exists in the dialplan" in text


def test_a_wrong_ami_secret_is_one_sentence_and_exit_2(tmp_path, asterisk, durable_redis):
    out = check(tmp_path, asterisk, durable_redis.url, secret="not-the-secret")
    assert out.returncode == 2
    assert out.stderr == (
        "grenswacht: AMI at 127.0.0.1:%d refused the login of user 'grenswacht'; check "
        "GRENSWACHT_AMI_SECRET and that user's entry in Asterisk's manager.conf.\n" % asterisk.ami_port
    )
    assert "ok       redis durability" in out.stdout and "Traceback" not in out.stdout


def test_a_missing_context_is_one_sentence_and_exit_2(tmp_path, asterisk, durable_redis):
    asterisk.rx("dialplan remove context grenswacht-handover")
    try:
        out = check(tmp_path, asterisk, durable_redis.url)
    finally:
        asterisk.rx("dialplan reload")
        asterisk.use_agi_secret(asterisk.agi_secret)  # the reload restored the global from the file
    assert out.returncode == 2
    assert out.stderr == (
        "grenswacht: the dialplan on Asterisk has no context 'grenswacht-handover'; include "
        "grenswacht-extensions.conf in extensions.conf (see dialplan/README.md) and run "
        "'dialplan reload'.\n"
    )


def test_other_broken_set_ups_name_what_is_wrong(tmp_path, asterisk, durable_redis):
    out = check(tmp_path, asterisk, durable_redis.url, extra='[routing]\nsenior_destination = "Local/nobody@seniors"\n')
    assert out.returncode == 2 and out.stderr == (
        "grenswacht: routing.senior_destination Local/nobody@seniors: "
        "Asterisk's dialplan has no extension 'nobody' in context 'seniors'.\n"
    )
    out = check(tmp_path, asterisk, durable_redis.url, extra='[features]\nhandover = "*5"\n')
    assert out.returncode == 2 and out.stderr.startswith(
        "grenswacht: the feature codes on Asterisk differ from the configuration: features.handover is *5 but the "
        "feature grenswacht-handover is *8"
    )
    out = check(tmp_path, asterisk, durable_redis.url, sounds=False)  # the folder Asterisk names is in its chroot
    assert out.returncode == 2 and out.stderr.startswith("grenswacht: the prompts folder /gw-run/")


@pytest.mark.asyncio(loop_scope="session")
async def test_metrics_and_readiness_while_asterisk_calls_are_screened(e2e, e2e_config, ami, tmp_path):
    port = free_port()
    config = e2e_config.model_copy(
        update={
            "agi": e2e_config.agi.model_copy(update={"listen": f"127.0.0.1:{free_port()}"}),
            "storage": e2e_config.storage.model_copy(update={"journal_path": str(tmp_path / "journal.jsonl")}),
            "metrics": e2e_config.metrics.model_copy(update={"listen": f"127.0.0.1:{port}"}),
        }
    )
    svc = Service(config)
    host, agi_port = await svc.start()
    try:
        assert await svc.deps.ami.wait_connected(10)
        before = await scrape(port)
        calls = [
            await ami.originate(f"06{30000000 + i}", variables={"__GRENSWACHT_AGI": f"agi://{host}:{agi_port}"})
            for i in range(3)
        ]
        scrapes = []
        for lid in calls:
            await ami.wait_for(on(lid, "VarSet", Variable="GW_REASON"))  # screened (two agents: not all answered)
            scrapes.append(await http(port, "/metrics"))
        assert [varset(ami, lid, "GW_REASON") for lid in calls] == ["clean"] * 3
        assert all(status == 200 for status, _ in scrapes)
        after = await scrape(port)
        assert (
            value(after, "grenswacht_screenings_total", action="allow", reason="clean")
            - value(before, "grenswacht_screenings_total", action="allow", reason="clean")
            == 3
        )
        await asyncio.sleep(1.2)  # the sampler's next round
        assert value(await scrape(port), "grenswacht_ami_connected") == 1
        assert await http(port, "/readyz") == (200, "ready: the store answers; AMI logged in\n")
    finally:
        await svc.stop()
