"""Issue 31: what an administrator meets in the first hour on a real PBX (help texts, messages,
start-up); each test names the item of the issue it holds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agi.cli.main import main
from agi.config import load_config
from tests import test_deploy
from tests.support.redis_server import busy_port, free_port


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_callbacks_move_help_says_what_time_is_accepted(capsys):
    """Item 9: the new time must be in the future and inside working hours."""
    text = help_text(capsys, "callbacks", "move")
    assert "must be in the future and inside the working hours" in text
    assert "[callbacks] opens-closes" in text


@pytest.mark.parametrize("content", ["", "\n", "  \n\n"])
def test_an_empty_secret_file_is_one_sentence_naming_the_variable(tmp_path, content):
    """Item 3: the empty file deploy/install.sh leaves is not "no secret" (serve without AMI)."""
    from agi.config import ConfigError, load_config

    secret = tmp_path / "ami_secret"
    secret.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_config(None, env={"GRENSWACHT_AMI_SECRET_FILE": str(secret)})
    assert str(err.value) == (
        f"GRENSWACHT_AMI_SECRET_FILE: {str(secret)!r} is empty; put the secret in it, or unset "
        "GRENSWACHT_AMI_SECRET_FILE."
    )


def test_a_missing_secret_file_names_the_variable_through_the_cli(tmp_path, capsys, monkeypatch):
    """Item 3: the CLI (check, serve, every command) exits 2 with that one sentence."""
    missing = tmp_path / "nothing-here"
    monkeypatch.setenv("GRENSWACHT_AGI_SECRET_FILE", str(missing))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert err == f"grenswacht: GRENSWACHT_AGI_SECRET_FILE: cannot read {str(missing)!r} (No such file or directory).\n"


def test_version(capsys):
    """Item 5: `grenswacht --version`."""
    from agi import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"grenswacht {__version__}\n"


# ---- `serve` and `check` as an administrator runs them (real redis-server, real processes) ----------
SCRIPT = str(Path(sys.executable).with_name("grenswacht"))


def run(*argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")} | (env or {})
    return subprocess.run([SCRIPT, *argv], capture_output=True, text=True, timeout=timeout, env=environ)


def write_config(tmp_path: Path, redis_url: str, extra: str = "") -> Path:
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis_url}"\n[storage]\njournal_path = "{tmp_path / "state" / "journal.jsonl"}"\n{extra}'
    )
    return cfg


def test_serve_with_a_busy_metrics_port_exits_2_naming_it(tmp_path, redis_server):
    """Item 5: every port that cannot be bound is exit code 2 and one sentence (metrics too)."""
    with busy_port() as port:
        cfg = write_config(
            tmp_path,
            redis_server.url,
            f'[agi]\nlisten = "127.0.0.1:{free_port()}"\n[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
        out = run("--config", str(cfg), "serve")
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == f"grenswacht: metrics.listen 127.0.0.1:{port}: address already in use."


def test_serve_with_a_journal_it_cannot_write_exits_2_naming_it(tmp_path, redis_server):
    """Item 5: an unwritable journal is an error (a key press would live in Redis alone)."""
    (tmp_path / "state").write_text("a file where the journal's folder should be")
    cfg = write_config(tmp_path, redis_server.url, f'[agi]\nlisten = "127.0.0.1:{free_port()}"\n')
    out = run("--config", str(cfg), "serve")
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (
        f"grenswacht: storage.journal_path: {tmp_path / 'state' / 'journal.jsonl'} cannot be written by this user, "
        "so a key press would be logged in Redis alone (and lost when Redis is down); make its folder writable, "
        "or choose another path."
    )


def test_serve_says_which_config_it_loaded_and_what_it_runs_without(tmp_path, redis_server):
    """Item 5: the config file in the log; a warning for FastAGI open beyond this machine without a
    secret; item 3: no AMI is said, not silent."""
    port = free_port()
    cfg = write_config(tmp_path, redis_server.url, f'[agi]\nlisten = "0.0.0.0:{port}"\npeers = ["0.0.0.0/0"]\n')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")}
    proc = subprocess.Popen([SCRIPT, "--config", str(cfg), "serve"], stderr=subprocess.PIPE, text=True, env=environ)
    seen: dict[str, dict] = {}
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # until the service says it started (or ends)
            event = json.loads(line)
            seen[event["event"]] = event
            if event["event"] == "grenswacht-started":
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert seen["config-loaded"]["path"] == str(cfg)
    assert seen["fastagi-open-without-secret"]["level"] == "warning"
    assert "0.0.0.0/0" in seen["fastagi-open-without-secret"]["problem"]
    assert seen["ami-not-configured"]["level"] == "warning"
    assert "grenswacht-started" in seen


def test_check_without_a_config_file_says_so(tmp_path):
    """Item 5: not "the built-in defaults is valid"."""
    out = run("check", env={"GRENSWACHT_REDIS_PASSWORD": "x"}, timeout=60)
    assert out.stdout.splitlines()[0] == (
        "ok       config: no file given (neither --config nor GRENSWACHT_CONFIG), so the built-in defaults are checked"
    )


def test_callbacks_switched_off_or_without_a_caller_id_in_check(tmp_path, redis_server):
    """Item 4: an empty caller_id is flagged; [callbacks] enabled = false is said and not checked."""
    cfg = write_config(tmp_path, redis_server.url)
    out = run("--config", str(cfg), "check")
    assert out.returncode == 0, out.stderr
    assert "WARNING  callbacks: callbacks.caller_id is empty, so a called-back caller sees no number" in out.stdout
    cfg = write_config(tmp_path, redis_server.url, "[callbacks]\nenabled = false\n")
    out = run("--config", str(cfg), "check")
    assert out.returncode == 0 and "ok       callbacks: off ([callbacks] enabled = false)" in out.stdout


def test_the_example_config_switches_callbacks_with_enabled():
    """Item 4: the example names the switch, with its default."""
    from agi.config import load_config

    text = (Path(__file__).resolve().parents[1] / "grenswacht.example.toml").read_text()
    assert "\nenabled = true\n" in text.split("\n[callbacks]\n", 1)[1].split("\n[", 1)[0]
    assert load_config("grenswacht.example.toml", env={}).callbacks.enabled is True
    assert "grenswacht-features.conf" not in text  # item 6: a file that does not exist


# ---- item 6: the docs agree with each other and with the repository ------------------------------
ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = "/etc/grenswacht/grenswacht.toml"
DOCS = [
    "README.md",
    "dialplan/README.md",
    "redis_schema/SCHEMA.md",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize(
    "name",
    [
        "README.md",
        "deploy/install.sh",
        "docs/operations.md",
        "grenswacht.example.toml",
        "deploy/systemd/grenswacht.service",
    ],
)
def test_one_config_path_everywhere(name):
    text = (ROOT / name).read_text()
    assert CONFIG_PATH in text and "/etc/grenswacht.toml" not in text


@pytest.mark.parametrize("name", DOCS)
def test_every_link_stays_in_the_repository_and_exists(name):
    doc = ROOT / name
    text = doc.read_text()
    assert "shared/seeds" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{name}: {target} points out of the repository"
        assert path.exists(), f"{name}: {target} does not exist"


# A path into the repository named in a doc's text (links: the test above); made by a run
# (bench/results/, gitignored) excepted.
REPO_PATH = re.compile(
    r"(?<![\w/.-])(?<!\]\()((?:dialplan|docs|deploy|scripts|agi|console|redis_schema|bench)/(?!results/)[\w./-]*\w)"
)


@pytest.mark.parametrize("name", [*DOCS, "grenswacht.example.toml"])
def test_every_file_named_in_the_docs_exists(name):
    for path in REPO_PATH.findall((ROOT / name).read_text()):
        assert (ROOT / path).exists() or (ROOT / path).with_suffix("").exists(), (
            f"{name} names {path}, which does not exist"
        )


def test_the_readme_lists_the_packages_scripts_setup_installs():
    setup = re.search(r"for pkg in ([^;]+); do", (ROOT / "scripts" / "setup").read_text())
    assert setup
    readme = " ".join((ROOT / "README.md").read_text().split())
    listed = re.search(r"It installs the Debian packages \(([^);]+)[);]", readme)
    assert listed and listed.group(1).split(", ") == setup.group(1).split()
    assert "about 10–15 minutes" in readme


def test_the_demos_last_lines_say_what_is_still_running():
    """Item 8: no console address printed as if it could be opened after the console stopped."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    running = {"the console": "http://127.0.0.1:8080/ (log in as: demo / pw)", "Redis": "redis://127.0.0.1:7/0"}
    over = demo.closing_lines(False, running)
    assert over[0] == "The demo is over: the console and Redis stop with it now; nothing it started keeps running."
    assert "http://" not in " ".join(over) and "bash scripts/demo --keep" in over[1]
    kept = demo.closing_lines(True, running)
    assert kept[0] == "Still running, until Ctrl-C stops them all:"
    assert kept[1:] == [
        "  the console  http://127.0.0.1:8080/ (log in as: demo / pw)",
        "  Redis        redis://127.0.0.1:7/0",
    ]


# ---- issue 30 (deploy): the console as a unit and in docker-compose, and where it listens ----------
installed_root = test_deploy.installed  # deploy/install.sh into a DESTDIR (systemd-analyze verify passed)


def test_install_sets_up_the_console_as_a_unit_with_a_secret(installed_root):
    unit = installed_root / "etc" / "systemd" / "system" / "grenswacht-web.service"
    values = test_deploy.unit_values(unit.read_text())
    assert values["ExecStart"] == ["/opt/grenswacht/bin/grenswacht web"]
    assert values["Environment"] == [
        "GRENSWACHT_CONFIG=/etc/grenswacht/grenswacht.toml",
        "GRENSWACHT_WEB_SECRET_FILE=%d/web_secret",
    ]
    assert values["DynamicUser"] == ["yes"] and values["ProtectSystem"] == ["strict"]
    secret = installed_root / "etc" / "grenswacht" / "web_secret"
    assert re.fullmatch(r"[0-9a-f]{64}", secret.read_text()) and secret.stat().st_mode & 0o777 == 0o600
    config = load_config(
        installed_root / "etc" / "grenswacht" / "grenswacht.toml", env={"GRENSWACHT_WEB_SECRET_FILE": str(secret)}
    )
    assert config.web.secret == secret.read_text()


def test_compose_runs_the_console_next_to_the_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["grenswacht-web"]
    assert web["command"] == ["web"] and web["network_mode"] == "host"
    assert web["environment"]["GRENSWACHT_WEB_SECRET_FILE"] == "/run/secrets/web_secret"
    assert compose["secrets"]["web_secret"]["file"] == "./secrets/web_secret"
    config = load_config(ROOT / "deploy" / "docker" / "grenswacht.toml", env={})
    assert f"http://{config.web.listen}/login" in " ".join(web["healthcheck"]["test"])


def test_web_logs_where_it_listens(tmp_path, redis_server):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")}
    for _ in range(3):  # a free port can be taken by a parallel test before the console binds it
        port = free_port()
        cfg = write_config(tmp_path, redis_server.url, f'[web]\nlisten = "127.0.0.1:{port}"\n')
        proc = subprocess.Popen([SCRIPT, "--config", str(cfg), "web"], stderr=subprocess.PIPE, text=True, env=environ)
        lines: list[str] = []
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)
                if line.startswith("{") and json.loads(line)["event"] == "web-listening":
                    event = json.loads(line)
                    break
            else:
                event = None
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        if event is not None:
            break
        # Only the one sentence of a port someone else took may end it; anything else fails here.
        assert proc.returncode == 2 and "in use" in "".join(lines), lines
    assert event is not None
    assert event["url"] == f"http://127.0.0.1:{port}/" and event["config"] == str(cfg)
    assert all(line.startswith("{") for line in lines), lines  # every line before it a JSON log line


# ---- item 2: the README's manager.conf lines are what `check` asks for ------------------------------
def readme_lines() -> tuple[str, str]:
    """The read and write lines of the README's manager.conf block."""
    block = re.search(r"```ini\n\[grenswacht\]\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no manager.conf block"
    lines = [line.split(";")[0].strip() for line in block.group(1).splitlines()]
    [read] = [line for line in lines if line.startswith("read")]
    [write] = [line for line in lines if line.startswith("write")]
    return read, write


def test_the_readme_ami_lines_are_what_check_asks_for():
    from agi.cli.check_cmds import READ, WRITE

    assert readme_lines() == (f"read ={' ' + READ if READ else ''}", f"write = {WRITE}")
    assert WRITE == "agent,user,originate,reporting,command"


def test_a_listen_host_that_is_no_address_here_is_one_sentence(tmp_path, redis_server):
    """Item 5: a host name that does not resolve, as one sentence naming the setting."""
    cfg = write_config(tmp_path, redis_server.url, '[metrics]\nlisten = "no-such-host.invalid:9464"\n')
    out = run("--config", str(cfg), "serve")
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (
        "grenswacht: metrics.listen no-such-host.invalid:9464: the host is not an address of this machine."
    )
