"""What may be done with appointments: book, list, add, move, cancel, finish.

Thin callers (the CLI, the console, the placer and the agent's route) use these; each change
is a compare-and-set on the stored value, so concurrent changes never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from agi.callbacks import rules as R
from agi.callbacks.model import CANCELLED, OPEN, SCHEDULED, Appointment
from agi.logs import get_logger
from agi.sentences import Sentence, Words
from redis_schema.store import Store

log = get_logger("grenswacht.callbacks")

SWAP_TRIES = 8


class NotFound(Sentence, LookupError):
    """No appointment with that id; the message is one sentence."""


class Conflict(Sentence, ValueError):
    """The appointment cannot be changed in its state; the message is one sentence."""


async def load_all(store: Store) -> list[Appointment]:
    """Every readable appointment, by due time (Store sets a malformed one aside)."""
    return sorted((await store.callbacks.all()).values(), key=lambda a: (a.due, a.id))


async def listing(
    store: Store, *, now: float, due_only: bool = False, agent: str | None = None, caller: str | None = None
) -> list[Appointment]:
    return [
        a
        for a in await load_all(store)
        if (not due_only or (a.status in OPEN and a.due <= now))
        and (agent is None or a.agent == agent)
        and (caller is None or a.caller == caller)
    ]


async def save_new(store: Store, appt: Appointment) -> Appointment:
    if not await store.callbacks.swap(appt.id, None, appt):
        raise Conflict("appointment {id} already exists.", id=appt.id)
    return appt


async def update(store: Store, appointment_id: str, change: Callable[[Appointment], Appointment | None]) -> Appointment:
    """Apply ``change`` (pure; None: leave it) to the stored appointment, compare-and-set, retried."""
    for _ in range(SWAP_TRIES):
        current = await store.callbacks.get(appointment_id)
        if current is None:
            raise NotFound("no callback appointment with id {id!r}.", id=appointment_id)
        new = change(current)
        if new is None or new == current:
            return current
        if await store.callbacks.swap(appointment_id, current, new):
            return new
    raise Conflict("appointment {id} kept changing; try again.", id=appointment_id)


def new_appointment(
    *, caller: str, agent: str, queue: str, due: float, now: float, incident: str = "", by: str = ""
) -> Appointment:
    return Appointment(
        id=Appointment.new_id(now),
        caller=caller,
        agent=agent,
        queue=queue,
        due=due,
        created=now,
        incident=incident,
        agreed=now,
        updated=now,
        by=by,
    )


async def add(
    store: Store, rules: R.Rules, *, caller: str, due: float, now: float, agent: str = "", by: str = ""
) -> Appointment:
    """An operator's appointment (CLI, console): the time must be in the future and within hours."""
    R.check_manual(rules, now, due)
    return await save_new(store, new_appointment(caller=caller, agent=agent, queue="", due=due, now=now, by=by))


_STATUS_WORDS = {  # the sentence below in Dutch (agi.sentences)
    "calling": "bezig te bellen", "done": "gebeld", "no-answer": "zonder gehoor gebleven", "failed": "mislukt",
    "cancelled": "geannuleerd", "missed": "gemist",
}  # fmt: skip
MOVED, CANCELLED_WORD = Words("moved", "verzet"), Words("cancelled", "geannuleerd")


def _open_only(appt: Appointment, what: Words) -> None:
    if appt.status != SCHEDULED:
        status = Words(appt.status, _STATUS_WORDS.get(appt.status, appt.status))
        raise Conflict("appointment {id} is {status}, so it cannot be {what}.", id=appt.id, status=status, what=what)


async def move(
    store: Store, rules: R.Rules, appointment_id: str, *, due: float, now: float, by: str = ""
) -> Appointment:
    R.check_manual(rules, now, due)

    def change(a: Appointment) -> Appointment:
        _open_only(a, MOVED)
        return replace(a, due=due, updated=now, by=by or a.by)

    return await update(store, appointment_id, change)


async def cancel(store: Store, appointment_id: str, *, now: float, by: str = "") -> Appointment:
    def change(a: Appointment) -> Appointment:
        _open_only(a, CANCELLED_WORD)
        return replace(a, status=CANCELLED, outcome="cancelled", updated=now, by=by or a.by)

    return await update(store, appointment_id, change)


# ---- operator changes (CLI, console): the same parsing, the change, then its audit entry ----------------
def parse_time(raw: str, timezone: str) -> float:
    """ISO 8601 with or without an offset; none means ``timezone`` (the CLI's --at, the console's form)."""
    try:
        dt = datetime.fromisoformat(raw.strip())
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(timezone))
        return dt.timestamp()
    except (ValueError, OverflowError, OSError):
        raise R.BadTime("{raw!r} is not a time (expected ISO 8601, e.g. 2026-11-24T10:30).", raw=raw) from None


async def operator_add(
    store: Store, rules: R.Rules, *, caller: str, due: float, now: float, agent: str, actor: str
) -> Appointment:
    appt = await add(store, rules, caller=caller, due=due, now=now, agent=agent, by=actor)
    await store.streams.audit(actor, "callback-add", now, appointment=appt.id, caller=caller, due=int(due))
    return appt


async def operator_move(
    store: Store, rules: R.Rules, appointment_id: str, *, due: float, now: float, actor: str
) -> Appointment:
    appt = await move(store, rules, appointment_id, due=due, now=now, by=actor)
    await store.streams.audit(actor, "callback-move", now, appointment=appt.id, due=int(due))
    return appt


async def operator_cancel(store: Store, appointment_id: str, *, now: float, actor: str) -> Appointment:
    appt = await cancel(store, appointment_id, now=now, by=actor)
    await store.streams.audit(actor, "callback-cancel", now, appointment=appt.id)
    return appt
