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


async def test_help_requests_one_per_call_and_past_their_end_they_go(store, rdb):
    from redis_schema.records import HelpRequest

    first = HelpRequest("1799999940.17", "PJSIP/1001-00000001", caller="+31612345678", asked=NOW, until=NOW + 60)
    assert await store.help.add(first)
    assert not await store.help.add(HelpRequest("1799999940.17", "PJSIP/1002-00000002", asked=NOW + 1, until=NOW + 61))
    assert [r.agent_channel for r in await store.help.active(NOW)] == ["PJSIP/1001-00000001"]
    # The safety net: a request whose hang-up never reached Grenswacht goes after its end.
    assert await store.help.active(NOW + 61) == []
    assert await rdb.hlen("gw:help") == 0
    # An unreadable value is dropped, not a crash.
    await rdb.hset("gw:help", "x", "{not json")
    assert await store.help.active(NOW) == [] and await store.help.get("x", NOW) is None
    assert await store.help.remove("nothing") is None
