"""Issue 29, the pure parts: the quieter key's gain, the call's start, the "[GW n]" name per rung."""

from __future__ import annotations

from agi.config import Config
from agi.engine import Action, Decision, Reason
from agi.routes.help import call_start
from agi.routes.quieter import lowered_gain, next_gain
from agi.routes.screen import channel_values

NOW = 1_800_000_000.0


def test_the_quieter_key_toggles_between_the_configured_drop_and_normal():
    assert lowered_gain(10) == "-3.16" and lowered_gain(20) == "-10.00" and lowered_gain(6) == "-2.00"
    assert next_gain(None, 10) == next_gain("", 10) == next_gain("0.000000", 10) == "-3.16"
    assert next_gain("-3.160000", 10) == "0" and next_gain("junk", 10) == "-3.16"


def test_the_call_start_comes_from_asterisks_linkedid_then_the_cdr_then_now():
    assert call_start("1799999940.17", None, NOW) == 1799999940.0
    assert call_start("gw-abc", "1799999900.5", NOW) == 1799999900.5
    assert call_start("gw-abc", "", NOW) == NOW
    assert call_start("1900000000.1", "junk", NOW) == NOW  # in the future
    assert call_start("1000000000.1", None, NOW) == NOW  # years back: not this call


def test_the_agent_sees_the_callers_history_for_the_configured_rungs():
    warned = Decision(Action.WARN, Reason.WARN_THRESHOLD, 1, 1)
    clean = Decision(Action.ALLOW, Reason.CLEAN, 0, 0)
    default = Config()
    assert channel_values(default, "+31612345678", warned, "Jansen")["GW_CID_NAME"] == "[GW 1] Jansen"
    assert "GW_CID_NAME" not in channel_values(default, "+31612345678", clean, "Jansen")
    only_senior = Config.model_validate({"help": {"history_rungs": ["senior"]}})
    assert "GW_CID_NAME" not in channel_values(only_senior, "+31612345678", warned, "Jansen")
    everyone = Config.model_validate({"help": {"history_rungs": ["allow", "warn"]}})
    assert channel_values(everyone, "+31612345678", clean, "Jansen")["GW_CID_NAME"] == "[GW 0] Jansen"


def test_a_name_that_already_shows_the_history_gets_the_prefix_once():
    from agi.routes.values import senior_values

    assert senior_values(Config(), 2, "[GW 1] Jansen")["GW_CID_NAME"] == "[GW 2] Jansen"
    assert senior_values(Config(), "?", "[GW 1] [GW 1] Jansen")["GW_CID_NAME"] == "[GW ?] Jansen"
