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
        # issue 32, item 5: accepted before, refused now
        ("[agi]\nlisten = '127.0.0.1:0'\n", "agi.listen: the port of '127.0.0.1:0' must be from 1 to 65535"),
        ("[web]\nlisten = '127.0.0.1:0'\n", "web.listen: the port of"),
        ("[ami]\naddress = '127.0.0.1:0'\n", "ami.address: the port of"),
        ("[protocols.default.weights]\nabuse = 1000000000000000000\n", "with a weight >= 0 and <= 100"),
        ("[protocols.default]\nrefuse_at = 1000000000000000000\n", "protocols.default.refuse_at"),
        (
            "[features]\nendlog_category = 'nonexistent'\n",
            "features.endlog_category: names category 'nonexistent', which is not in [protocols.default.weights]",
        ),
        ("[features.extra]\n'*9' = 'nope'\n", "features.extra.*9: names category 'nope'"),
        (
            "[protocols.default]\n[protocols.strict.weights]\nabuse = 2\n",
            "features.extra.*9: names category 'threat', which is not in [protocols.strict.weights] (abuse)",
        ),
        (
            "[aftercare]\nwebhook_url = 'file:///etc/passwd'\n",
            "aftercare.webhook_url: 'file:///etc/passwd' must be an http:// or https:// URL",
        ),
        ("[aftercare]\nwebhook_url = 'https://'\n", "must be an http:// or https:// URL with a host"),
        ("[numbers]\nmin_prefix_digits = -1\n", "numbers.min_prefix_digits"),
    ],
)
def test_bad_keys_are_named_in_one_sentence(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_utf8_is_one_sentence(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[agi]\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 11\)"):
        load_config(str(path), env={})


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


def test_ports_and_webhooks_in_range_still_load(tmp_path):
    text = (
        "[agi]\nlisten = '127.0.0.1:65535'\n[aftercare]\nwebhook_url = 'https://hooks.example.org/gw'\n"
        "[metrics]\nlisten = '[::1]:1'\n[protocols.default.weights]\nabuse = 100\nthreat = 0\ncallback = 0\n"
        "[features]\nendlog_category = 'threat'\n[features.extra]\n'*9' = 'abuse'\n"
    )
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.agi.host_port == ("127.0.0.1", 65535) and cfg.protocols["default"].weights["abuse"] == 100


def test_a_free_port_is_only_for_callers_that_ask_for_one():
    from agi.config import Config

    cfg = Config.model_validate({"agi": {"listen": "127.0.0.1:0"}}, context={"ephemeral_ports": True})
    assert cfg.agi.host_port == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match="must be from 1 to 65535"):
        Config.model_validate({"agi": {"listen": "127.0.0.1:0"}})


def test_a_webhook_that_is_not_http_is_never_opened():
    from agi.aftercare.notify import WebhookError, post_webhook
    from agi.engine import Incident

    # Reaching post_webhook another way than the config, file: ended in a TypeError traceback.
    for url in ("file:///etc/passwd", "ftp://example.org/x", "data:,x"):
        with pytest.raises(WebhookError, match="not an http"):
            post_webhook(url, Incident.new("+31612345678", "abuse", 0.0))
