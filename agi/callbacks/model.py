"""The one typed value of a callback appointment, from the key press to Redis and the logbook."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields

SCHEDULED, CALLING, DONE, NO_ANSWER, FAILED, CANCELLED, MISSED = (
    "scheduled",
    "calling",
    "done",
    "no-answer",
    "failed",
    "cancelled",
    "missed",
)
STATUSES = (SCHEDULED, CALLING, DONE, NO_ANSWER, FAILED, CANCELLED, MISSED)
OPEN = (SCHEDULED, CALLING)  # still to be placed, or being placed
FINAL = tuple(s for s in STATUSES if s not in OPEN)


class BadAppointment(ValueError):
    """A stored appointment that cannot be read (set aside, reported)."""


@dataclass(frozen=True)
class Appointment:
    id: str
    caller: str  # E.164
    agent: str  # the interface of the agent who made it (rung first)
    queue: str
    due: float  # epoch seconds (UTC) of the agreed local time
    created: float
    incident: str = ""  # the incident the key press logged
    agreed: float = 0.0  # when the time was agreed (the press)
    attempts: int = 0
    status: str = SCHEDULED
    outcome: str = ""  # last result: ANSWER, NOANSWER, BUSY, agent-no-answer, banned, ...
    claim: str = ""  # token of the instance placing it
    lease: float = 0.0  # the claim holds until then
    updated: float = 0.0
    by: str = ""  # who made or last changed it

    @staticmethod
    def new_id(now: float) -> str:
        return f"{int(now):08x}{secrets.token_hex(4)}"

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def load(cls, raw: str) -> Appointment:
        try:
            d = json.loads(raw)
            if not isinstance(d, dict):
                raise TypeError("not an object")
            known = {f.name: f.type for f in fields(cls)}
            values = {k: v for k, v in d.items() if k in known}
            for name in ("due", "created", "agreed", "lease", "updated"):
                values[name] = float(values.get(name, 0.0))
            values["attempts"] = int(values.get("attempts", 0))
            for name in ("id", "caller", "agent", "queue"):
                if not isinstance(values.get(name), str):
                    raise TypeError(name)
            if values.get("status", SCHEDULED) not in STATUSES:
                raise ValueError("status")
            return cls(**values)
        except (ValueError, TypeError, KeyError) as exc:
            raise BadAppointment(f"appointment is malformed ({type(exc).__name__}: {exc})") from None

    def public(self) -> dict:
        """As shown to operators and exported (the claim is a detail of the placer)."""
        d = asdict(self)
        del d["claim"], d["lease"]
        return d
