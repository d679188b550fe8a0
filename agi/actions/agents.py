"""The agent's own page (issue 29): only their incidents, callbacks and cool-down, their account of
each incident, and requests to ban a caller that a supervisor approves or declines.

Every function that takes an agent's user checks here, on the server, that the incident is theirs:
logged from one of the interfaces their account is bound to (``users add --interface``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from agi import engine
from agi.actions import lists, logbook
from agi.actions.bounds import MAX_REASON, actor_name, note_text, reason_text
from agi.actions.errors import ActionError
from agi.callbacks import appointments
from agi.config import Config
from agi.engine import Incident
from redis_schema.records import APPROVED, DECLINED, OPEN_REQUEST, Appointment, BlockRequest, Cooldown, LiveCall, User
from redis_schema.store import Store

OWN_DAYS = 90  # the agent's page lists their incidents of this many days


def is_own(user: User, inc: Incident) -> bool:
    return bool(inc.agent) and inc.agent in user.interfaces


async def own_incident(store: Store, user: User, iid: str) -> Incident:
    """The incident if it is the agent's own; otherwise the same sentence as for one that does not
    exist (an agent learns nothing about other agents' incidents)."""
    try:
        inc = await logbook.get(store, iid)
    except ActionError:
        inc = None
    if inc is None or not is_own(user, inc):
        raise ActionError("there is no incident of yours with id {iid}.", iid=iid[:40])
    return inc


async def own_incidents(store: Store, user: User, now: float) -> list[Incident]:
    return [i for i in await logbook.recent(store, now, OWN_DAYS * 24) if is_own(user, i)]


async def own_callbacks(store: Store, user: User) -> list[Appointment]:
    return [a for a in await appointments.load_all(store) if a.agent in user.interfaces]


async def own_cooldowns(store: Store, user: User, now: float) -> list[Cooldown]:
    running = (await store.cooldowns.all()).values()
    return sorted((c for c in running if c.interface in user.interfaces and c.until > now), key=lambda c: c.until)


@dataclass(frozen=True)
class CurrentCall:
    """A call the agent is on now, with the caller's history as screening weighs it."""

    call: LiveCall
    score: int
    incidents: int
    rung: str  # what screening would decide for this caller now: allow, warn, senior, refuse


async def own_calls(store: Store, config: Config, user: User, now: float) -> list[CurrentCall]:
    """The calls the agent's interfaces are on now (the answered-leg record, issue 28), each with
    the caller's history: what the agent knows before saying hello, also on their page."""
    out = []
    for interface in user.interfaces:
        call = await store.live.current(interface)
        if call is None or call.ended:
            continue
        record = await store.screening.load_caller(call.caller)
        d = engine.decide(record, config.protocol_for(None)[1], now)
        out.append(CurrentCall(call, d.score, d.incidents, d.action.value))
    return out


async def write_account(store: Store, user: User, iid: str, text: str, now: float) -> Incident:
    inc = await own_incident(store, user, iid)
    return await logbook.set_account(store, inc.id, text, f"web:{user.name}", now)


# ---- block requests ------------------------------------------------------------------------------


async def request_block(store: Store, user: User, iid: str, reason: str, now: float) -> BlockRequest:
    """The agent asks for a ban of the caller of their incident, with a reason."""
    inc = await own_incident(store, user, iid)
    reason = reason_text(reason)
    if not reason:
        raise ActionError("give a reason for the ban.")
    if inc.caller == "anonymous":
        raise ActionError("a withheld number cannot be banned.")
    record = await store.screening.load_caller(inc.caller)
    if record.ban is not None and record.ban.until > now:
        raise ActionError("{caller} is already banned.", caller=inc.caller)
    if any(r.caller == inc.caller and r.status == OPEN_REQUEST for r in (await store.block_requests.all()).values()):
        raise ActionError("a ban of {caller} has already been asked for; a supervisor will decide.", caller=inc.caller)
    req = BlockRequest(secrets.token_hex(8), inc.id, inc.caller, user.name, reason, now)
    await store.block_requests.put(req.id, req)
    await store.streams.audit(
        f"web:{user.name}", "block-request", now, caller=inc.caller, incident=inc.id, request=req.id
    )
    return req


async def open_requests(store: Store) -> list[BlockRequest]:
    return sorted(
        (r for r in (await store.block_requests.all()).values() if r.status == OPEN_REQUEST), key=lambda r: r.at
    )


async def own_requests(store: Store, user: User) -> list[BlockRequest]:
    mine = (r for r in (await store.block_requests.all()).values() if r.agent == user.name)
    return sorted(mine, key=lambda r: -r.at)


async def decide(
    store: Store, config: Config, rid: str, approve: bool, note: str, days: int | None, actor: str, now: float
) -> BlockRequest:
    """A supervisor approves (the ban is set, by the supervisor, audited) or declines with a note."""
    actor, note = actor_name(actor), note_text(note)
    req = await store.block_requests.get(rid[:32])
    if req is None or req.status != OPEN_REQUEST:
        raise ActionError("that block request is not open (any more).")
    status = APPROVED if approve else DECLINED
    decided = replace(req, status=status, note=note, decided_by=actor, decided_at=now)
    days = lists.ban_days(config, days)  # a bad length is refused before anything changes
    if not await store.block_requests.swap(req.id, req, decided):  # one supervisor decides
        raise ActionError("that block request changed meanwhile; look again.")
    if approve:
        reason = f"asked by agent {req.agent}: {req.reason}"[:MAX_REASON]
        await lists.ban(store, lists.Change(lists.Target("number", req.caller), reason, actor, now), days)
    await store.streams.audit(actor, "block-" + decided.status, now, caller=req.caller, request=req.id, agent=req.agent)
    return decided
