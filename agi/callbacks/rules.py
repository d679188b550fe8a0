"""The scheduling rules of callback appointments: pure functions, plain values in, decisions out.

Local times are in the configured time zone (zoneinfo), so an appointment across a
daylight-saving change still lands at the agreed local time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agi.callbacks.model import CALLING, DONE, FAILED, MISSED, NO_ANSWER, SCHEDULED, Appointment
from agi.config import CallbacksConfig
from agi.sentences import Sentence

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ANSWERED = "ANSWER"
RETRY_OUTCOMES = ("NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "agent-no-answer")


class BadTime(Sentence, ValueError):
    """A time the agent or operator gave that cannot be used; the message is one sentence."""


@dataclass(frozen=True)
class Rules:
    zone: ZoneInfo
    opens: time
    closes: time
    closed_days: frozenset[int]  # weekday numbers, Monday 0
    closed_dates: frozenset[date]
    margin: timedelta
    default: time | None  # None: the same time of day as the call
    retry: timedelta
    attempts: int
    grace: timedelta
    lease: timedelta  # how long a claim holds while a call is being placed

    @classmethod
    def from_config(cls, cfg: CallbacksConfig) -> Rules:
        """From ``agi.config.CallbacksConfig``."""
        return cls(
            zone=ZoneInfo(cfg.timezone),
            opens=time.fromisoformat(cfg.opens),
            closes=time.fromisoformat(cfg.closes),
            closed_days=frozenset(DAYS.index(d) for d in cfg.closed_days),
            closed_dates=frozenset(date.fromisoformat(d) for d in cfg.closed_dates),
            margin=timedelta(minutes=cfg.margin_minutes),
            default=None if cfg.default == "same-time" else time.fromisoformat(cfg.default),
            retry=timedelta(minutes=cfg.retry_minutes),
            attempts=cfg.attempts,
            grace=timedelta(minutes=cfg.grace_minutes),
            # Ringing both sides, the whisper, and room for a slow PBX: the caller answering ends the claim.
            lease=timedelta(seconds=2 * cfg.agent_ring_seconds + cfg.caller_ring_seconds + 600),
        )

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.zone)

    def at(self, day: date, t: time) -> float:
        """Epoch seconds of a local wall-clock time (DST-aware)."""
        return datetime.combine(day, t, tzinfo=self.zone).timestamp()


def is_working_day(rules: Rules, day: date) -> bool:
    return day.weekday() not in rules.closed_days and day not in rules.closed_dates


def next_working_day(rules: Rules, day: date) -> date:
    """The first working day after ``day`` (a year ahead at most: the config keeps one day open)."""
    for n in range(1, 400):
        candidate = day + timedelta(days=n)
        if is_working_day(rules, candidate):
            return candidate
    raise BadTime("there is no working day in the coming year; check callbacks.closed_dates.")


def in_hours(rules: Rules, t: time) -> bool:
    return rules.opens <= t < rules.closes


def is_open(rules: Rules, ts: float) -> bool:
    """Whether a callback may be placed at ``ts``."""
    local = rules.local(ts)
    return is_working_day(rules, local.date()) and in_hours(rules, local.time().replace(tzinfo=None))


def next_open(rules: Rules, ts: float) -> float:
    """The earliest moment at or after ``ts`` within working hours."""
    if is_open(rules, ts):
        return ts
    local = rules.local(ts)
    day = local.date()
    if is_working_day(rules, day) and local.time().replace(tzinfo=None) < rules.opens:
        return rules.at(day, rules.opens)
    return rules.at(next_working_day(rules, day), rules.opens)


def parse_hhmm(digits: str) -> time:
    if len(digits) != 4 or not digits.isdigit():
        raise BadTime("{digits!r} is not four digits (hours and minutes, e.g. 1030).", digits=digits)
    hh, mm = int(digits[:2]), int(digits[2:])
    if hh > 23 or mm > 59:
        raise BadTime("{digits!r} is not a time of day (hours 00-23, minutes 00-59).", digits=digits)
    return time(hh, mm)


def due_for_keyed(rules: Rules, now: float, digits: str) -> float:
    """The due time of four keyed digits: today, or the next working day when that is past or too close."""
    t = parse_hhmm(digits)
    if not in_hours(rules, t):
        raise BadTime(
            "{t:%H:%M} is outside the working hours ({opens:%H:%M}-{closes:%H:%M}).",
            t=t,
            opens=rules.opens,
            closes=rules.closes,
        )
    today = rules.local(now).date()
    if is_working_day(rules, today):
        due = rules.at(today, t)
        if due > now + rules.margin.total_seconds():
            return due
    return rules.at(next_working_day(rules, today), t)


def default_due(rules: Rules, now: float) -> float:
    """No time keyed: the next working day at the configured time, or at the time of the call."""
    local = rules.local(now)
    t = rules.default or local.time().replace(second=0, microsecond=0, tzinfo=None)
    if not in_hours(rules, t):
        t = rules.opens
    return rules.at(next_working_day(rules, local.date()), t)


def check_manual(rules: Rules, now: float, due: float) -> float:
    """A time an operator typed (CLI, console): in the future and within working hours."""
    if due <= now:
        raise BadTime("that time is in the past.")
    if not is_open(rules, due):
        raise BadTime(
            "that time is outside the working hours ({opens:%H:%M}-{closes:%H:%M} on working days).",
            opens=rules.opens,
            closes=rules.closes,
        )
    return due


def spoken_day(rules: Rules, now: float, due: float) -> str:
    """today | tomorrow | the weekday name (mon..sun) | the date, for the read-back."""
    days = (rules.local(due).date() - rules.local(now).date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if 1 < days < 7:
        return DAYS[rules.local(due).weekday()]
    return rules.local(due).date().isoformat()


# ---- placing ------------------------------------------------------------------------------
PLACE, WAIT, MISS, EXPIRED = "place", "wait", "miss", "expired"


def decide(rules: Rules, appt: Appointment, now: float) -> str:
    """What the placer does with one appointment now.

    place: due, within working hours and within the grace period; claim it and call.
    miss: due longer ago than the grace period (every instance was down): mark missed, report.
    expired: a claim whose lease ran out (the instance placing it died): its outcome is unknown.
    wait: anything else (not due, outside hours, being placed, final).
    """
    if appt.status == CALLING:
        return EXPIRED if appt.lease <= now else WAIT
    if appt.status != SCHEDULED or appt.due > now:
        return WAIT
    if now - appt.due > rules.grace.total_seconds():
        return MISS
    return PLACE if is_open(rules, now) else WAIT


def claimed(rules: Rules, appt: Appointment, now: float, token: str) -> Appointment:
    return replace(appt, status=CALLING, claim=token, lease=now + rules.lease.total_seconds(), updated=now)


def after_attempt(rules: Rules, appt: Appointment, outcome: str, now: float) -> Appointment:
    """The appointment after one placing attempt ended with ``outcome`` (a DIALSTATUS or our own)."""
    attempts = appt.attempts + 1
    base = replace(appt, attempts=attempts, outcome=outcome, claim="", lease=0.0, updated=now)
    if outcome == ANSWERED:
        return replace(base, status=DONE)
    if outcome in RETRY_OUTCOMES and attempts < rules.attempts:
        return replace(base, status=SCHEDULED, due=next_open(rules, now + rules.retry.total_seconds()))
    if outcome in RETRY_OUTCOMES:
        return replace(base, status=NO_ANSWER)
    return replace(base, status=FAILED)


def missed(appt: Appointment, now: float) -> Appointment:
    return replace(appt, status=MISSED, outcome="missed", claim="", lease=0.0, updated=now)
