"""The protocol engine: a pure function from a caller's record to a screening decision.

No I/O, no clock: the caller's history, ban, allowlist status, protocol and the current
time come in as plain values, the decision goes out as a plain value. Writing anything
that follows from the decision (a new protocol ban) is the caller's job.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import TypedDict, Unpack

from agi.config import ProtocolConfig

DAY = 86_400.0


class Action(str, Enum):
    ALLOW = "allow"
    WARN = "warn"
    SENIOR = "senior"
    REFUSE = "refuse"


class Reason(str, Enum):
    CLEAN = "clean"  # score below the warn threshold
    ALLOWLISTED = "allowlisted"
    PREFIX_ALLOWLISTED = "prefix-allowlisted"
    BANNED = "banned"  # an active ban (manual or protocol)
    PREFIX_BANNED = "prefix-banned"
    WARN_THRESHOLD = "warn-threshold"
    SENIOR_THRESHOLD = "senior-threshold"
    REFUSE_THRESHOLD = "refuse-threshold"  # and a protocol ban is set
    ANONYMOUS = "anonymous"  # withheld number, protocol's anonymous treatment
    STORE_UNAVAILABLE = "store-unavailable"  # fail-open: Redis down or over budget
    BAD_REQUEST = "bad-request"  # fail-open: the AGI request could not be trusted
    BUSY = "busy"  # fail-open: no free slot within [agi] slot_wait_ms
    ERROR = "error"  # fail-open: unexpected failure, see the log


def new_incident_id(now: float) -> str:
    """Unique and roughly time-ordered: 8 hex digits of time, 8 random.

    32 random bits: two incidents in the same second share an id about once in four billion
    pairs (with 16 bits, as ids had before, once in 65,536: seen in a busy test).
    """
    return f"{int(now):08x}{secrets.token_hex(4)}"


class CallFields(TypedDict, total=False):
    """What the call (or the person logging it) tells about a new incident."""

    agent: str
    queue: str
    uniqueid: str
    linkedid: str
    note: str
    source: str
    actor: str
    caller_name: str


@dataclass(frozen=True)
class Incident:
    """One incident, the same value from the route to storage, journal and notification."""

    id: str
    at: float  # epoch seconds, UTC
    category: str
    severity: int = 0  # the category's weight when it was logged (informational)
    agent: str = ""
    queue: str = ""
    uniqueid: str = ""
    linkedid: str = ""
    note: str = ""
    source: str = ""  # key | handover | cli
    actor: str = ""
    debrief: str = ""
    debrief_at: float | None = None
    debrief_answer: str = ""  # the seed-004 question: conscious | impulsive | not-discussed
    debrief_by: str = ""  # who held the debrief
    account: str = ""  # the agent's account, "what was said, exactly" (for the police report)
    account_by: str = ""
    reported_at: float | None = None  # when it was reported to the police
    reported_ref: str = ""  # the police's registration code
    slot: str = ""  # storage detail: the incident's index in the caller's hash
    caller: str = ""  # E.164 or "anonymous"
    caller_name: str = ""  # the caller ID name of the call, cleaned (redis_schema.caller_names.clean)
    screened: str = ""  # the screening of its call on arrival, "action reason" (issue 28: the report's timeline)

    @classmethod
    def new(cls, caller: str, category: str, at: float, *, severity: int = 0, **fields: Unpack[CallFields]) -> Incident:
        """A new incident with a fresh id (its codec: redis_schema.records).

        The time keeps millisecond precision, as stored, so every copy of it agrees.
        """
        return cls(
            id=new_incident_id(at), at=round(at, 3), category=category, severity=severity, caller=caller, **fields
        )


@dataclass(frozen=True)
class Ban:
    until: float  # epoch seconds; the ban is active while now < until
    reason: str = ""
    source: str = "manual"  # manual | protocol | prefix
    set_at: float = 0.0
    actor: str = ""


@dataclass(frozen=True)
class Allow:
    reason: str = ""
    set_at: float = 0.0
    actor: str = ""


@dataclass(frozen=True)
class CallerRecord:
    number: str
    incidents: tuple[Incident, ...] = ()
    ban: Ban | None = None
    allow: Allow | None = None
    warning_sent_at: float | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    score: int = 0
    incidents: int = 0  # incidents counted in the window
    ban_until: float | None = None  # end of the active ban, if refused by one
    new_ban: Ban | None = field(default=None)  # a protocol ban the caller should store


def score(incidents: tuple[Incident, ...] | list[Incident], protocol: ProtocolConfig, now: float) -> tuple[int, int]:
    """Sum of weights and count of incidents in the rolling window ending now.

    An incident exactly ``window_days`` old still counts; one a second older does not.
    Unknown categories weigh 1, so a misconfigured weight never hides an incident.
    """
    since = now - protocol.window_days * DAY
    total = count = 0
    for inc in incidents:
        if since <= inc.at <= now:
            total += protocol.weights.get(inc.category, 1)
            count += 1
    return total, count


def decide(
    record: CallerRecord,
    protocol: ProtocolConfig,
    now: float,
    *,
    prefix_ban: Ban | None = None,
    prefix_allow: Allow | None = None,
) -> Decision:
    """Decide what happens to this caller now. Pure: same inputs, same decision."""
    if record.allow is not None:
        return Decision(Action.ALLOW, Reason.ALLOWLISTED)
    total, count = score(record.incidents, protocol, now)
    if record.ban is not None and record.ban.until > now:
        return Decision(Action.REFUSE, Reason.BANNED, total, count, ban_until=record.ban.until)
    if prefix_allow is not None:
        return Decision(Action.ALLOW, Reason.PREFIX_ALLOWLISTED, total, count)
    if prefix_ban is not None and prefix_ban.until > now:
        return Decision(Action.REFUSE, Reason.PREFIX_BANNED, total, count, ban_until=prefix_ban.until)
    if record.number == "anonymous":
        return Decision(Action(protocol.anonymous), Reason.ANONYMOUS, total, count)
    if total >= protocol.refuse_at:
        if protocol.ban_days <= 0:
            return Decision(Action.REFUSE, Reason.REFUSE_THRESHOLD, total, count)
        ban = Ban(
            until=now + protocol.ban_days * DAY,
            reason=f"protocol: score {total} >= {protocol.refuse_at}",
            source="protocol",
            set_at=now,
            actor="grenswacht",
        )
        return Decision(Action.REFUSE, Reason.REFUSE_THRESHOLD, total, count, ban_until=ban.until, new_ban=ban)
    if total >= protocol.senior_at:
        return Decision(Action.SENIOR, Reason.SENIOR_THRESHOLD, total, count)
    if total >= protocol.warn_at:
        return Decision(Action.WARN, Reason.WARN_THRESHOLD, total, count)
    return Decision(Action.ALLOW, Reason.CLEAN, total, count)


RUNGS = (Action.ALLOW, Action.WARN, Action.SENIOR, Action.REFUSE)


def rung_at_least(action: Action, rung: str) -> bool:
    """Whether ``action`` is at or above ``rung`` on the ladder allow < warn < senior < refuse."""
    return RUNGS.index(action) >= RUNGS.index(Action(rung))
