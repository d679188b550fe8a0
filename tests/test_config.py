from __future__ import annotations

import pytest

from agi.config import ConfigError, load_config


def write(tmp_path, text: str):
    p = tmp_path / "gw.toml"
    p.write_text(text)
    return p


def test_defaults_without_a_file():
    cfg = load_config(None, env={})
    assert cfg.agi.listen == "127.0.0.1:4573" and cfg.numbers.default_region == "NL"
    assert cfg.protocols["default"].weights["threat"] == 3


def test_example_file_in_the_repo_loads():
    cfg = load_config("grenswacht.example.toml", env={})
    assert cfg.protocols["default"].refuse_at == 3


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[agi]\nlisten = 'nope'\n", "agi.listen"),
        ("[agi]\nlistne = '1:2'\n", "agi.listne: is not a known setting"),
        ("[numbers]\ndefault_region = 'XX'\n", "numbers.default_region"),
        ("[protocols.default]\nwarn_at = 3\nsenior_at = 2\n", "warn_at <= senior_at"),
        ("dids = { '+31201234567' = 'nothere' }\n", "dids.+31201234567"),
        ("[redis]\npassword = 'x'\n", "redis.password: secrets do not belong in the file"),
        ("[redis]\nurl = 'redis://:pw@host:6379'\n", "redis.url"),
        ("[agi\n", "not valid TOML"),
    ],
)
def test_bad_keys_are_named_in_one_sentence(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_secrets_come_from_env_or_file_and_are_not_shown(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    cfg = load_config(None, env={"GRENSWACHT_REDIS_PASSWORD": "pw", "GRENSWACHT_AMI_SECRET_FILE": str(secret)})
    assert cfg.redis.password == "pw" and cfg.ami.secret == "s3cret"
    assert "pw" not in repr(cfg.redis) and "s3cret" not in repr(cfg)


def test_config_is_frozen():
    cfg = load_config(None, env={})
    with pytest.raises(Exception):
        cfg.agi.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_peers_are_networks_and_a_bad_one_is_named(tmp_path):
    cfg = load_config(write(tmp_path, '[agi]\npeers = ["10.1.2.3", "10.1.2.0/24", "::1"]\n'), env={})
    assert cfg.agi.peers == ("10.1.2.3/32", "10.1.2.0/24", "::1/128")
    with pytest.raises(ConfigError, match=r"^agi\.peers\.1: 'pbx\.local' is not an IP address or network"):
        load_config(write(tmp_path, '[agi]\npeers = ["10.0.0.1", "pbx.local"]\n'), env={})


def test_agi_secret_comes_from_the_environment_and_must_be_url_safe(tmp_path):
    assert load_config(None, env={"GRENSWACHT_AGI_SECRET": "a1" * 12}).agi.secret == "a1" * 12
    secret_file = tmp_path / "secret"
    secret_file.write_text("b2" * 12 + "\n")
    assert load_config(None, env={"GRENSWACHT_AGI_SECRET_FILE": str(secret_file)}).agi.secret == "b2" * 12
    with pytest.raises(ConfigError, match="travels in the AGI URL") as err:
        load_config(None, env={"GRENSWACHT_AGI_SECRET": "has,comma&and?more-than-16"})
    assert "has,comma" not in str(err.value)  # a secret is never echoed
    with pytest.raises(ConfigError, match="secrets do not belong in the file"):
        load_config(write(tmp_path, '[agi]\nsecret = "x"\n'), env={})
