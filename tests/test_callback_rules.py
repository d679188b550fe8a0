"""The scheduling rules of callback appointments (pure): working hours, closed days, DST, past times."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.callbacks import rules as R
from agi.callbacks.model import Appointment, BadAppointment
from agi.config import CallbacksConfig, Config, ConfigError, load_config

AMS = ZoneInfo("Europe/Amsterdam")
RULES = R.Rules.from_config(CallbacksConfig(closed_dates=("2026-12-25",)))


def ts(y, mo, d, h, mi=0, tz=AMS) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()


def local(t: float) -> datetime:
    return datetime.fromtimestamp(t, AMS)


def test_a_time_later_today_is_today():
    now = ts(2026, 11, 24, 9, 0)  # a Tuesday
    due = R.due_for_keyed(RULES, now, "1030")
    assert local(due) == datetime(2026, 11, 24, 10, 30, tzinfo=AMS)
    assert R.spoken_day(RULES, now, due) == "today"


def test_a_time_already_past_today_means_the_next_working_day():
    now = ts(2026, 11, 24, 11, 0)
    due = R.due_for_keyed(RULES, now, "1030")
    assert local(due) == datetime(2026, 11, 25, 10, 30, tzinfo=AMS)
    assert R.spoken_day(RULES, now, due) == "tomorrow"


def test_a_time_within_the_margin_means_the_next_working_day():
    now = ts(2026, 11, 24, 10, 20)  # 10 minutes before, margin 15
    assert local(R.due_for_keyed(RULES, now, "1030")).day == 25
    assert local(R.due_for_keyed(RULES, now, "1040")).day == 24


def test_friday_past_time_goes_to_monday_and_says_the_weekday():
    now = ts(2026, 11, 27, 16, 0)  # Friday
    due = R.due_for_keyed(RULES, now, "0900")
    assert local(due) == datetime(2026, 11, 30, 9, 0, tzinfo=AMS)
    assert R.spoken_day(RULES, now, due) == "mon"


def test_a_call_on_a_closed_day_books_the_next_working_day():
    now = ts(2026, 11, 28, 9, 0)  # Saturday
    assert local(R.due_for_keyed(RULES, now, "1000")).date().isoformat() == "2026-11-30"


def test_closed_dates_are_skipped():
    now = ts(2026, 12, 24, 16, 0)  # Thursday before Christmas (closed)
    assert local(R.due_for_keyed(RULES, now, "1000")).date().isoformat() == "2026-12-28"


@pytest.mark.parametrize("digits", ["", "103", "10300", "ab12", "2460", "2500", "0700", "1800", "1700"])
def test_bad_or_out_of_hours_times_are_refused(digits):
    with pytest.raises(R.BadTime):
        R.due_for_keyed(RULES, ts(2026, 11, 24, 9), digits)


def test_across_the_dst_change_the_local_time_holds():
    # Saturday 2026-03-28 16:00 CET; DST starts on Sunday 29 March. Monday 10:30 is CEST.
    now = ts(2026, 3, 27, 16, 0)  # Friday
    due = R.due_for_keyed(RULES, now, "1030")
    assert local(due).strftime("%Y-%m-%d %H:%M %Z") == "2026-03-30 10:30 CEST"
    assert due - now == timedelta(days=2, hours=17, minutes=30).total_seconds()  # one hour less than the wall clock
    # and in autumn (DST ends 25 October 2026)
    now = ts(2026, 10, 23, 16, 0)
    due = R.due_for_keyed(RULES, now, "1030")
    assert local(due).strftime("%Y-%m-%d %H:%M %Z") == "2026-10-26 10:30 CET"


def test_default_is_the_next_working_day_at_the_same_time_or_opening():
    assert local(
        R.default_due(
            RULES,
            ts(
                2026,
                11,
                24,
                14,
                17,
            ),
        )
    ) == datetime(2026, 11, 25, 14, 17, tzinfo=AMS)
    assert local(R.default_due(RULES, ts(2026, 11, 27, 19, 0))) == datetime(2026, 11, 30, 8, 30, tzinfo=AMS)
    fixed = R.Rules.from_config(CallbacksConfig(default="10:00"))
    assert local(R.default_due(fixed, ts(2026, 11, 24, 14, 0))) == datetime(2026, 11, 25, 10, 0, tzinfo=AMS)


def test_next_open_moves_to_working_hours():
    assert R.next_open(RULES, ts(2026, 11, 24, 12)) == ts(2026, 11, 24, 12)
    assert local(R.next_open(RULES, ts(2026, 11, 24, 7))) == datetime(2026, 11, 24, 8, 30, tzinfo=AMS)
    assert local(R.next_open(RULES, ts(2026, 11, 24, 17))) == datetime(2026, 11, 25, 8, 30, tzinfo=AMS)
    assert local(R.next_open(RULES, ts(2026, 11, 28, 12))) == datetime(2026, 11, 30, 8, 30, tzinfo=AMS)


@given(st.floats(ts(2020, 1, 1, 0), ts(2035, 1, 1, 0)), st.integers(8, 16), st.sampled_from([0, 15, 30, 45]))
def test_keyed_times_are_always_in_the_future_open_and_at_the_keyed_local_time(now, hh, mm):
    if (hh, mm) < (8, 30):
        return
    due = R.due_for_keyed(RULES, now, f"{hh:02d}{mm:02d}")
    assert due > now + RULES.margin.total_seconds()
    assert R.is_open(RULES, due)
    assert (local(due).hour, local(due).minute) == (hh, mm)
    assert due - now < 6 * 86400  # at most a long weekend (plus a closed date) ahead


@given(st.floats(ts(2020, 1, 1, 0), ts(2035, 1, 1, 0)), st.floats(0, 30 * 86400))
def test_retries_are_always_placed_within_working_hours(now, later):
    assert R.is_open(RULES, R.next_open(RULES, now + later))
    assert R.next_open(RULES, now + later) >= now + later


def appt(**kw) -> Appointment:
    base = Appointment(
        id="0123456789abcdef",
        caller="+31612345678",
        agent="PJSIP/1001",
        queue="support",
        due=ts(2026, 11, 24, 10, 30),
        created=ts(2026, 11, 23, 16),
    )
    return replace(base, **kw)


def test_decide_places_due_open_appointments_within_the_grace():
    a = appt()
    assert R.decide(RULES, a, a.due - 1) == R.WAIT
    assert R.decide(RULES, a, a.due) == R.PLACE
    assert R.decide(RULES, a, a.due + 29 * 60) == R.PLACE
    assert R.decide(RULES, a, a.due + 31 * 60) == R.MISS
    assert R.decide(RULES, replace(a, status="cancelled"), a.due) == R.WAIT
    evening = appt(due=ts(2026, 11, 24, 16, 59))
    assert R.decide(RULES, evening, ts(2026, 11, 24, 17, 5)) == R.WAIT  # closed now: wait (then missed)


def test_decide_sees_an_expired_claim():
    a = R.claimed(RULES, appt(), appt().due, "tok")
    assert a.status == "calling" and a.claim == "tok"
    assert R.decide(RULES, a, a.due + 60) == R.WAIT
    assert R.decide(RULES, a, a.lease) == R.EXPIRED


def test_after_attempt_retries_then_gives_up():
    a = R.claimed(RULES, appt(), appt().due, "tok")
    now = a.due + 30
    first = R.after_attempt(RULES, a, "NOANSWER", now)
    assert (first.status, first.attempts, first.claim) == ("scheduled", 1, "")
    assert first.due == now + 15 * 60
    second = R.after_attempt(RULES, R.claimed(RULES, first, first.due, "t"), "BUSY", first.due)
    third = R.after_attempt(RULES, R.claimed(RULES, second, second.due, "t"), "agent-no-answer", second.due)
    assert (second.status, third.status, third.attempts) == ("scheduled", "no-answer", 3)
    assert R.after_attempt(RULES, a, "ANSWER", now).status == "done"
    assert R.after_attempt(RULES, a, "CANCEL", now).status == "failed"


def test_a_retry_at_closing_time_goes_to_the_next_morning():
    a = R.claimed(RULES, appt(due=ts(2026, 11, 24, 16, 55)), ts(2026, 11, 24, 16, 55), "t")
    nxt = R.after_attempt(RULES, a, "NOANSWER", ts(2026, 11, 24, 16, 56))
    assert local(nxt.due) == datetime(2026, 11, 25, 8, 30, tzinfo=AMS)


def test_appointment_round_trips_and_bad_ones_are_refused():
    a = appt(attempts=2, status="no-answer")
    assert Appointment.load(a.dump()) == a
    for raw in (
        "",
        "[]",
        '{"id": 1}',
        '{"id":"x","caller":"+1","agent":"","queue":"","due":"x"}',
        a.dump().replace("no-answer", "weird"),
    ):
        with pytest.raises(BadAppointment):
            Appointment.load(raw)


def test_manual_times_must_be_future_and_open():
    now = ts(2026, 11, 24, 9)
    assert R.check_manual(RULES, now, ts(2026, 11, 24, 11)) == ts(2026, 11, 24, 11)
    for bad in (now - 60, ts(2026, 11, 24, 20), ts(2026, 11, 28, 11)):
        with pytest.raises(R.BadTime):
            R.check_manual(RULES, now, bad)


@pytest.mark.parametrize(
    "section, problem",
    [
        ({"timezone": "Mars/Olympus"}, "callbacks.timezone"),
        ({"opens": "18:00", "closes": "09:00"}, "opens must be before closes"),
        ({"closed_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}, "at least one day"),
        ({"default": "tomorrow"}, "callbacks.default"),
        ({"caller_id": "020 123"}, "callbacks.caller_id"),
        ({"closed_dates": ["2026-13-01"]}, "callbacks.closed_dates"),
    ],
)
def test_bad_settings_are_one_sentence(tmp_path, section, problem):
    path = tmp_path / "c.toml"
    path.write_text("[callbacks]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in section.items()))
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        load_config(path, env={})


def test_defaults():
    cb = Config().callbacks
    assert (cb.key, cb.category, cb.timezone) == ("*7", "callback", "Europe/Amsterdam")
    assert Config().protocol_for(None)[1].weights["callback"] == 0
