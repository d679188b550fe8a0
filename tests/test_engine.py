"""The protocol engine: pure function, plain values, no mocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.config import Config, ProtocolConfig
from agi.engine import DAY, Action, Allow, Ban, CallerRecord, Incident, Reason, decide, rung_at_least, score

NOW = 1_800_000_000.0
P = ProtocolConfig()
N = "+31612345678"


def inc(days_ago: float, category: str = "abuse", i: int = 0) -> Incident:
    return Incident(id=f"i{i}{days_ago}", at=NOW - days_ago * DAY, category=category)


def rec(*incidents, ban=None, allow=None, number=N) -> CallerRecord:
    return CallerRecord(number=number, incidents=tuple(incidents), ban=ban, allow=allow)


def test_no_history_is_allowed_as_clean():
    d = decide(rec(), P, NOW)
    assert (d.action, d.reason, d.score, d.incidents, d.new_ban) == (Action.ALLOW, Reason.CLEAN, 0, 0, None)


@pytest.mark.parametrize(
    "categories,action,reason",
    [
        (["abuse"], Action.WARN, Reason.WARN_THRESHOLD),
        (["abuse", "abuse"], Action.SENIOR, Reason.SENIOR_THRESHOLD),
        (["intimidation"], Action.SENIOR, Reason.SENIOR_THRESHOLD),
        (["abuse", "intimidation"], Action.REFUSE, Reason.REFUSE_THRESHOLD),
        (["threat"], Action.REFUSE, Reason.REFUSE_THRESHOLD),
        (["handover"], Action.ALLOW, Reason.CLEAN),
        (["handover", "abuse"], Action.WARN, Reason.WARN_THRESHOLD),
    ],
)
def test_every_rung_of_the_default_ladder(categories, action, reason):
    d = decide(rec(*(inc(1 + k, c, k) for k, c in enumerate(categories))), P, NOW)
    assert (d.action, d.reason) == (action, reason)
    assert d.incidents == len(categories)


def test_refuse_sets_a_ninety_day_protocol_ban():
    d = decide(rec(inc(1, "threat")), P, NOW)
    assert d.new_ban is not None and d.new_ban.source == "protocol"
    assert d.new_ban.until == NOW + 90 * DAY == d.ban_until


def test_window_edges_exactly_180_days_counts_one_second_more_does_not():
    edge = Incident(id="e", at=NOW - 180 * DAY, category="abuse")
    past = Incident(id="p", at=NOW - 180 * DAY - 1, category="abuse")
    assert decide(rec(edge), P, NOW).action is Action.WARN
    assert decide(rec(past), P, NOW).action is Action.ALLOW
    assert score([edge, past], P, NOW) == (1, 1)


def test_future_incidents_do_not_count():
    assert score([Incident(id="f", at=NOW + 60, category="threat")], P, NOW) == (0, 0)


def test_unknown_category_weighs_one_so_it_is_never_hidden():
    assert score([inc(1, "spitting")], P, NOW) == (1, 1)


def test_configured_weights_and_thresholds_are_used():
    strict = ProtocolConfig(weights={"abuse": 5}, warn_at=2, senior_at=4, refuse_at=10, ban_days=7)
    assert decide(rec(inc(1)), strict, NOW).action is Action.SENIOR
    d = decide(rec(inc(1), inc(2, i=1)), strict, NOW)
    assert d.action is Action.REFUSE and d.new_ban.until == NOW + 7 * DAY


def test_active_ban_refuses_and_expired_ban_does_not():
    active = Ban(until=NOW + 10, reason="manual", source="manual")
    expired = Ban(until=NOW - 10, reason="manual", source="manual")
    d = decide(rec(ban=active), P, NOW)
    assert (d.action, d.reason, d.ban_until, d.new_ban) == (Action.REFUSE, Reason.BANNED, NOW + 10, None)
    assert decide(rec(ban=expired), P, NOW).action is Action.ALLOW


def test_allowlist_beats_ban_and_score():
    d = decide(rec(inc(1, "threat"), ban=Ban(until=NOW + 99), allow=Allow(reason="mayor")), P, NOW)
    assert (d.action, d.reason) == (Action.ALLOW, Reason.ALLOWLISTED)


def test_prefix_entries_apply_after_own_ban_and_allow():
    pban = Ban(until=NOW + 99, source="prefix")
    assert decide(rec(), P, NOW, prefix_ban=pban).reason is Reason.PREFIX_BANNED
    assert decide(rec(), P, NOW, prefix_ban=pban, prefix_allow=Allow()).reason is Reason.PREFIX_ALLOWLISTED
    assert decide(rec(allow=Allow()), P, NOW, prefix_ban=pban).reason is Reason.ALLOWLISTED


def test_anonymous_has_its_own_treatment():
    assert decide(rec(number="anonymous"), P, NOW).reason is Reason.ANONYMOUS
    assert decide(rec(number="anonymous"), P, NOW).action is Action.ALLOW
    senior = ProtocolConfig(anonymous="senior")
    assert decide(rec(number="anonymous"), senior, NOW).action is Action.SENIOR


def test_protocol_per_did():
    cfg = Config.model_validate(
        {
            "protocols": {"default": {}, "strict": {"warn_at": 1, "senior_at": 1, "refuse_at": 1}},
            "dids": {"+31201234567": "strict"},
        }
    )
    one = rec(inc(1))
    name, strict = cfg.protocol_for("+31201234567")
    assert name == "strict" and decide(one, strict, NOW).action is Action.REFUSE
    name, default = cfg.protocol_for("+31209999999")
    assert name == "default" and decide(one, default, NOW).action is Action.WARN


def test_rungs_order():
    assert rung_at_least(Action.REFUSE, "senior") and rung_at_least(Action.SENIOR, "senior")
    assert not rung_at_least(Action.WARN, "senior")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["abuse", "intimidation", "threat", "handover"]), st.floats(min_value=0, max_value=400)
        ),
        max_size=12,
    )
)
def test_more_history_never_lowers_the_rung(history):
    """Adding an incident can only keep or raise the decision."""
    incidents = [Incident(id=str(k), at=NOW - d * DAY, category=c) for k, (c, d) in enumerate(history)]
    before = decide(rec(*incidents), P, NOW).action
    after = decide(rec(*incidents, Incident(id="new", at=NOW, category="abuse")), P, NOW).action
    order = [Action.ALLOW, Action.WARN, Action.SENIOR, Action.REFUSE]
    assert order.index(after) >= order.index(before)


def test_decide_is_pure_same_inputs_same_output():
    r = rec(inc(1), inc(3, "intimidation", 1))
    assert decide(r, P, NOW) == decide(r, P, NOW)
