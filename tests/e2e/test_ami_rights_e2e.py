"""`grenswacht check` verifies the AMI user's rights by asking Asterisk (ListCommands) which actions
it may run: the README's manager.conf lines are all green, too few rights are exit 2 naming them,
and the service's own actions work with exactly the README's lines (no read permission)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agi.ami.client import AmiClient
from agi.cli.check_cmds import WRITE
from tests.e2e.test_check_e2e import check as check_as
from tests.support.redis_server import RedisServer
from tests.test_admin_first_hour import readme_lines

pytestmark = [pytest.mark.asterisk]

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))
SECRET = "0123456789abcdef"


USERS = {
    "gw-readme": readme_lines(),
    "gw-few": ("read = call", "write = agent,reporting"),
    "gw-nocommand": ("read =", "write = agent,user,originate,reporting"),
}


@pytest.fixture(scope="module")
def ami_users(asterisk):
    conf = asterisk.host_base / "etc" / "manager.conf"
    original = conf.read_text()
    conf.write_text(
        original
        + "".join(
            f"\n[{name}]\nsecret = {SECRET}\ndeny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n{read}\n{write}\n"
            for name, (read, write) in USERS.items()
        )
    )
    asterisk.rx("manager reload")
    yield asterisk
    conf.write_text(original)
    asterisk.rx("manager reload")


@pytest.fixture(scope="module")
def durable_redis():
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    yield server
    server.cleanup()


def check(tmp_path, asterisk, redis_url: str, user: str, *args: str, extra: str = "") -> subprocess.CompletedProcess:
    """`grenswacht check` as that AMI user (with --strict when asked)."""
    strict = "--strict" in args
    return check_as(tmp_path, asterisk, redis_url, secret=SECRET, extra=extra, user=user, strict=strict)


def test_the_readme_rights_pass_every_check(tmp_path, ami_users, durable_redis):
    out = check(tmp_path, ami_users, durable_redis.url, "gw-readme", "--strict")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        "ok       ami permissions: user 'gw-readme' may run QueueStatus, QueuePause, UserEvent, Originate, ShowDialPlan, Command"
        in out.stdout
    )
    assert out.stdout.strip().endswith(" checks, 0 warning(s).")


def test_too_few_rights_are_exit_2_naming_the_actions(tmp_path, ami_users, durable_redis):
    out = check(tmp_path, ami_users, durable_redis.url, "gw-few")
    assert out.returncode == 2
    assert out.stderr == (
        "grenswacht: AMI user 'gw-few' may not run UserEvent, Originate; add 'user,originate' to its write "
        f"permissions in manager.conf (write = {WRITE}) and run 'manager reload'.\n"
    )
    # Callbacks off: Originate is no longer asked for, UserEvent still is.
    out = check(tmp_path, ami_users, durable_redis.url, "gw-few", extra="enabled = false\n")
    assert out.returncode == 2 and "may not run UserEvent; add 'user' to" in out.stderr


def test_without_command_the_checks_it_enables_are_warnings(tmp_path, ami_users, durable_redis):
    out = check(tmp_path, ami_users, durable_redis.url, "gw-nocommand")
    assert out.returncode == 0, out.stderr
    assert "WARNING  ami permissions: user 'gw-nocommand' may not run Command" in out.stdout
    assert "WARNING  feature codes: not checked" in out.stdout
    assert check(tmp_path, ami_users, durable_redis.url, "gw-nocommand", "--strict").returncode == 2


@pytest.mark.asyncio(loop_scope="session")
async def test_the_service_actions_work_with_exactly_the_readme_rights(ami_users):
    """No read permission: the answers to its own actions (QueueStatus's QueueMember list) still come."""
    client = AmiClient("127.0.0.1", ami_users.ami_port, "gw-readme", SECRET)
    await client.connect()
    try:
        assert await client.wait_connected(10)
        pauses = await client.member_pauses("Local/1001@agents/n")
        assert set(pauses) == {"support", "sales"}
        await client.queue_pause("Local/1001@agents/n", "support", True, "gw-test")
        assert (await client.member_pauses("Local/1001@agents/n"))["support"] == "gw-test"
        await client.queue_pause("Local/1001@agents/n", "support", False, "")
        await client.user_event("GwTestRights", {"Check": "1"})
    finally:
        await client.close()
