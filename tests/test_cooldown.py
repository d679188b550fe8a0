"""Cool-down rules (pure) and its state in a real Redis (compare-and-set, poison entries)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agi.aftercare.cooldown import REASON, BadState, Cooldown, due, plan_start
from redis_schema import keys

A = "PJSIP/1001"


def test_first_press_pauses_only_queues_not_paused_yet():
    plan = plan_start(None, A, {"support": None, "sales": "lunch", "vip": REASON}, 100.0, 300)
    assert plan.to_pause == ("support",)
    assert plan.state.queues == ("support", "vip")  # vip is ours already; sales is not ours
    assert plan.left_alone == ("sales",)
    assert (plan.state.since, plan.state.until) == (100.0, 400.0)


def test_second_press_extends_and_clears_a_claim():
    first = Cooldown(A, ("support",), 100.0, 400.0, claim="other", lease=999.0)
    plan = plan_start(first, A, {"support": REASON, "sales": None}, 350.0, 300)
    assert plan.state == Cooldown(A, ("sales", "support"), 100.0, 650.0)
    assert plan.to_pause == ("sales",)


def test_an_earlier_press_applied_late_never_shortens():
    current = Cooldown(A, ("support",), 100.0, 700.0)
    plan = plan_start(current, A, {"support": REASON}, 200.0, 300)
    assert plan.state.until == 700.0 and plan.to_pause == ()


def test_member_of_no_queue_has_nothing_to_do():
    assert plan_start(None, A, {}, 1.0, 300) is None
    assert plan_start(None, A, {"support": "lunch"}, 1.0, 300) is None


@pytest.mark.parametrize(
    ("until", "claim", "lease", "now", "expected"),
    [
        (100.0, "", 0.0, 99.9, False),  # still running, nobody ending it
        (100.0, "", 0.0, 100.0, True),  # over at its end, to the second
        (100.0, "", 0.0, 500.0, True),
        (100.0, "tok", 200.0, 150.0, False),  # over, but someone alive is ending it
        (100.0, "tok", 200.0, 200.0, True),  # ... until their lease lapses
        (100.0, "tok", 200.0, 250.0, True),
        (100.0, "tok", 50.0, 99.0, False),  # a lapsed lease does not end a running cool-down
    ],
)
def test_due_only_when_over_and_unclaimed_or_lease_lapsed(until, claim, lease, now, expected):
    assert due(Cooldown(A, ("q",), 0.0, until, claim, lease), now) is expected


@given(st.lists(st.text(min_size=1, max_size=8), max_size=4), st.floats(0, 1e9), st.floats(0, 1e9))
def test_state_round_trips(queues, since, until):
    state = Cooldown(A, tuple(queues), since, until, "tok", 3.0)
    assert Cooldown.load(A, state.dump()) == state


def test_malformed_state_is_refused():
    for raw in (
        "",
        "{",
        "[]",
        '{"queues": "support", "since": 1, "until": 2}',
        '{"queues": []}',
        '{"queues": [1], "since": 1, "until": 2}',
    ):
        try:
            Cooldown.load(A, raw)
        except BadState:
            continue
        raise AssertionError(f"accepted {raw!r}")


async def test_swap_is_compare_and_set(store):
    one = Cooldown(A, ("q",), 1.0, 2.0)
    two = Cooldown(A, ("q", "r"), 1.0, 3.0)
    assert await store.cooldowns.swap(A, None, one)
    assert not await store.cooldowns.swap(A, None, two)  # someone wrote first
    assert not await store.cooldowns.swap(A, two, None)  # not what is there
    assert await store.cooldowns.swap(A, one, two)
    assert await store.cooldowns.get(A) == two
    assert await store.cooldowns.swap(A, two, None)
    assert await store.cooldowns.all() == {}


async def test_poison_entry_is_set_aside_for_an_operator(store, rdb):
    await rdb.hset(keys.COOLDOWNS, A, "{broken")
    with capture_logs() as logs:
        assert await store.cooldowns.all() == {}
    assert await rdb.hgetall(keys.COOLDOWNS) == {}
    assert list((await rdb.hgetall(keys.QUARANTINE)).values()) == ["{broken"]
    assert (logs[0]["event"], logs[0]["kind"], logs[0]["log_level"]) == ("record-set-aside", "cooldown", "error")


async def test_a_state_in_an_older_text_layout_is_rewritten_so_compare_and_set_matches(store, rdb):
    await rdb.hset(keys.COOLDOWNS, A, '{"queues": ["q"], "since": 1, "until": 2}')  # ints, spaced
    state = await store.cooldowns.get(A)
    assert state == Cooldown(A, ("q",), 1.0, 2.0)
    assert await store.cooldowns.swap(A, state, None)
