"""What ships for deployment: the systemd unit (systemd-analyze), docker-compose.yml with the config it
mounts, the Dockerfile, and the Prometheus alert rules."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from agi import metrics
from agi.config import load_config, split_host_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "systemd" / "grenswacht.service"
GRENSWACHT = str(Path(sys.executable).with_name("grenswacht"))


def unit_values(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:  # scripts/setup installs the systemd package; never skip
        raise RuntimeError("systemd-analyze is missing: run scripts/setup")
    return path


@pytest.fixture
def installed(tmp_path) -> Path:
    """deploy/install.sh into a DESTDIR, with this checkout's virtualenv as the installed program."""
    prefix = tmp_path / "opt" / "grenswacht"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "grenswacht").symlink_to(GRENSWACHT)
    out = subprocess.run(
        [str(ROOT / "deploy" / "install.sh"), "/opt/grenswacht"],
        env={**os.environ, "DESTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr  # systemd-analyze verify said nothing
    return tmp_path


def rooted(root: Path, unit: Path) -> Path:
    copy = root / "verify" / unit.name
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(unit.read_text().replace("ExecStart=/opt/", f"ExecStart={root}/opt/"))
    return copy


def test_the_installed_unit_verifies_cleanly_and_is_hardened(installed, systemd_analyze):
    unit = installed / "etc" / "systemd" / "system" / "grenswacht.service"
    values = unit_values(unit.read_text())
    assert values["ExecStart"] == ["/opt/grenswacht/bin/grenswacht serve"]
    assert (installed / "etc/grenswacht/grenswacht.toml").read_text() == (ROOT / "grenswacht.example.toml").read_text()
    assert (installed / "etc/grenswacht/ami_secret").stat().st_mode & 0o777 == 0o600
    # Verified as installed, with the program where DESTDIR put it (ExecStart must exist).
    out = subprocess.run(
        [systemd_analyze, "verify", str(rooted(installed, unit))], capture_output=True, text=True, timeout=60
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    for key, value in {
        "Type": "notify",
        "DynamicUser": "yes",
        "StateDirectory": "grenswacht",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert values[key] == [value], key
    # The state directory is where the journal's default path points.
    assert load_config(env={}).storage.journal_path.startswith("/var/lib/grenswacht/")


def test_a_broken_unit_does_not_pass(tmp_path, systemd_analyze):
    """The check above can fail: a misspelt key or a missing program is reported."""
    bad = tmp_path / "grenswacht.service"
    bad.write_text(
        UNIT.read_text()
        .replace("ProtectSystem=strict", "ProtectSystm=strict")
        .replace("/opt/grenswacht/bin/grenswacht", GRENSWACHT)
    )
    out = subprocess.run([systemd_analyze, "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "Unknown key 'ProtectSystm'" in out.stderr
    missing = tmp_path / "missing.service"
    missing.write_text(UNIT.read_text().replace("/opt/grenswacht/bin/grenswacht", str(tmp_path / "nothing")))
    out = subprocess.run([systemd_analyze, "verify", str(missing)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "nothing" in out.stderr


def test_the_units_exposure_is_low(installed, systemd_analyze):
    unit = installed / "etc" / "systemd" / "system" / "grenswacht.service"
    out = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(rooted(installed, unit))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for grenswacht.service: ([0-9.]+)", out.stdout + out.stderr)
    assert level is not None, out.stdout + out.stderr
    assert float(level.group(1)) <= 2.5


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile_uid() -> str:
    return re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1)


def test_compose_redis_is_persistent_healthy_and_off_the_hosts_6379(compose):
    redis = compose["services"]["redis"]
    [port] = redis["ports"]
    host, _, container = port.rpartition(":")
    assert host.startswith("127.0.0.1:") and host != "127.0.0.1:6379" and container == "6379"
    args = redis["command"]
    assert args[args.index("--appendonly") + 1] == "yes" and args[args.index("--appendfsync") + 1] == "always"
    assert any(v.endswith(":/data") and v.split(":")[0] in compose["volumes"] for v in redis["volumes"])
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


def test_compose_grenswacht_mounts_a_config_that_validates_and_points_at_that_redis(compose, tmp_path):
    gw = compose["services"]["grenswacht"]
    assert gw["depends_on"]["redis"]["condition"] == "service_healthy"
    assert gw["network_mode"] == "host"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in gw["volumes"]}
    config_path = gw["environment"]["GRENSWACHT_CONFIG"]
    # The config's folder is mounted (not the file: an edited file must be seen by a reload).
    folder = str(PurePosixPath(config_path).parent)
    source = ROOT / mounts[folder] / PurePosixPath(config_path).name
    secret = tmp_path / "ami_secret"
    secret.write_text("s3cret\n")
    env = {"GRENSWACHT_AMI_SECRET_FILE": str(secret)}
    config = load_config(source, env=env)
    # The Redis the config names is the compose file's, as published on the host.
    redis_port = compose["services"]["redis"]["ports"][0].rsplit(":", 2)
    assert config.redis.url == f"redis://{redis_port[0]}:{redis_port[1]}/0"
    assert config.ami.secret == "s3cret"
    # The journal lives in a named volume; the healthcheck asks the metrics endpoint the config enables.
    journal_dir = str(Path(config.storage.journal_path).parent)
    assert mounts[journal_dir] in compose["volumes"]
    host, port = split_host_port(config.metrics.listen)
    assert f"http://{host}:{port}/readyz" in " ".join(gw["healthcheck"]["test"])
    # The secret is a file mounted at the *_FILE path, for the Dockerfile's fixed user.
    assert (
        gw["secrets"] == ["ami_secret"] and gw["environment"]["GRENSWACHT_AMI_SECRET_FILE"] == "/run/secrets/ami_secret"
    )
    assert compose["secrets"]["ami_secret"]["file"] == "./secrets/ami_secret"
    assert f"-o {dockerfile_uid()}" in (ROOT / "docker-compose.yml").read_text()


def test_the_dockerfile_runs_as_its_fixed_user_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    uid = dockerfile_uid()
    assert f"USER {uid}:{uid}" in text and "HEALTHCHECK" in text and "/readyz" in text
    assert "install -d -m 0700 -o grenswacht -g grenswacht /var/lib/grenswacht" in text
    # Every package pyproject.toml installs is copied into the image.
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text()).group(1)
    for name in re.findall(r'"(\w+)\*"', packages):
        assert f"COPY {name} ./{name}" in text, name


def test_alert_rules_use_only_metrics_that_exist():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    [group] = rules["groups"]
    known = {m._name for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    names = set()
    for rule in group["rules"]:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        names |= set(re.findall(r"grenswacht_[a-z_]+", rule["expr"]))
    exported = {n + s for n in known for s in ("", "_total", "_bucket", "_count", "_sum")}
    assert names and names <= exported, names - exported
    assert {
        "GrenswachtFailingOpen",
        "GrenswachtStoreErrors",
        "GrenswachtAmiDisconnected",
        "GrenswachtFastAgiRefused",
    } <= {r["alert"] for r in group["rules"]}


DROPIN = ROOT / "deploy" / "systemd" / "user.slice.d" / "grenswacht.conf"


def install_into(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    prefix = root / "opt" / "grenswacht"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    if not (prefix / "bin" / "grenswacht").exists():
        (prefix / "bin" / "grenswacht").symlink_to(GRENSWACHT)
    return subprocess.run(
        [str(ROOT / "deploy" / "install.sh"), "/opt/grenswacht"],
        env={**os.environ, "DESTDIR": str(root), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_install_puts_local_logins_on_idle_cpu_unless_told_not_to(tmp_path, systemd_analyze):
    """Issue 32: install.sh installs the user.slice drop-in (CPUWeight=idle), verified as the slice
    it changes, and says how to undo it; IDLE_USERS=no leaves user.slice alone."""
    dropin = Path("etc/systemd/system/user.slice.d/grenswacht.conf")
    default = install_into(tmp_path / "default")
    assert default.returncode == 0 and default.stderr == "", default.stderr
    installed = tmp_path / "default" / dropin
    assert installed.read_text() == DROPIN.read_text()
    assert installed.stat().st_mode & 0o777 == 0o644
    assert unit_values(installed.read_text()) == {"CPUWeight": ["idle"]}
    assert "idle CPU" in default.stdout and "IDLE_USERS=no" in default.stdout
    skipped = install_into(tmp_path / "skipped", IDLE_USERS="no")
    assert skipped.returncode == 0 and skipped.stderr == "", skipped.stderr
    assert not (tmp_path / "skipped" / "etc/systemd/system/user.slice.d").exists()
    assert "idle CPU" not in skipped.stdout


def test_a_wrong_idle_weight_does_not_pass(tmp_path, systemd_analyze):
    """The installer's check of the drop-in can fail: systemd rejects a weight it does not know."""
    bad = tmp_path / "user.slice"
    bad.write_text(DROPIN.read_text().replace("CPUWeight=idle", "CPUWeight=idel"))
    out = subprocess.run([systemd_analyze, "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "Invalid CPU weight" in out.stderr
    good = tmp_path / "good" / "user.slice"
    good.parent.mkdir()
    good.write_text(DROPIN.read_text())
    out = subprocess.run([systemd_analyze, "verify", str(good)], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (0, "")
