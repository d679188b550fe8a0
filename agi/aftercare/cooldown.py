"""Cool-down: after an end-and-log key press the agent is paused in their queues for a while.

The state lives in Redis (one hash, ``keys.COOLDOWNS``, interface -> JSON), changed only by
compare-and-set (``store.cooldowns.swap``), so a second press, the scheduler and several
Grenswacht instances never overwrite each other. What to change is decided by pure
functions (``plan_start``, ``due``) from plain values.

Only queues where the member was *not* already paused are paused, with reason
``grenswacht-cooldown``; at the end, a queue is unpaused only if the member is still paused
there with that reason, so a pause by the agent or a supervisor is never lifted by us. The
state is written *before* any pause: without a durable schedule there is no pause, so no
restart or outage can leave an agent paused for good.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from agi.ami.client import AmiClient
from agi.logs import get_logger
from redis_schema.records import BadState, Cooldown, cooldown_before_0_2
from redis_schema.store import Store

log = get_logger("grenswacht.cooldown")

REASON = "grenswacht-cooldown"
CLAIM_SECONDS = 30.0  # an instance ending a cool-down holds it this long; then another may
SWAP_TRIES = 8


@dataclass(frozen=True)
class StartPlan:
    state: Cooldown
    to_pause: tuple[str, ...]  # queues to pause now
    left_alone: tuple[str, ...] = field(default=())  # paused by someone else: never touched


def plan_start(
    existing: Cooldown | None, interface: str, pauses: dict[str, str | None], pressed_at: float, seconds: int
) -> StartPlan | None:
    """What a key press at ``pressed_at`` changes, given the member's pauses now. Pure.

    A second press extends the cool-down and adds queues; queues already paused by us stay
    ours; queues paused by anyone else are left alone. None when there is nothing to do.
    """
    ours = [q for q, r in pauses.items() if r == REASON]
    to_pause = tuple(sorted(q for q, r in pauses.items() if r is None))
    queues = set(to_pause) | set(ours) | set(existing.queues if existing else ())
    if not queues:
        return None
    until = pressed_at + seconds
    if existing is not None:
        until = max(until, existing.until)
    since = min(existing.since, pressed_at) if existing else pressed_at
    state = Cooldown(interface, tuple(sorted(queues)), since, until)  # a new press clears any claim
    return StartPlan(state, to_pause, tuple(sorted(q for q, r in pauses.items() if r not in (None, REASON))))


def due(state: Cooldown, now: float) -> bool:
    """Over, and nobody (alive) is ending it already. Pure."""
    return state.until <= now and (not state.claim or state.lease <= now)


async def start(
    store: Store,
    ami: AmiClient,
    interface: str,
    pressed_at: float,
    now: float,
    seconds: int,
    *,
    only_if_missing: bool = False,
) -> list[str]:
    """Pause ``interface`` for what is left of a cool-down that began at ``pressed_at``.

    Returns the queues paused. Raises on Redis or AMI trouble (the caller retries); applied
    late (after an outage) it is shorter, and past its end it does nothing. With
    ``only_if_missing`` (restoring cool-downs after Redis lost them) an agent that has a
    cool-down state is left as it is.
    """
    if seconds <= 0 or not interface or now >= pressed_at + seconds:
        if seconds > 0 and interface:
            log.info("cooldown-over-before-applied", interface=interface, late_s=round(now - pressed_at, 1))
        return []
    pauses = await ami.member_pauses(interface)
    for _ in range(SWAP_TRIES):
        existing = await store.cooldowns.get(interface)  # one that cannot be read is set aside there
        if only_if_missing and existing is not None:
            return []
        plan = plan_start(existing, interface, pauses, pressed_at, seconds)
        if plan is None:
            log.info("cooldown-no-queues", interface=interface)
            return []
        if await store.cooldowns.swap(interface, existing, plan.state):
            break
    else:
        raise RuntimeError(f"cool-down state of {interface} kept changing")
    # Read again: a cool-down that ended between the first read and the swap unpaused queues
    # the plan counted as paused by us.
    current = await ami.member_pauses(interface)
    ours_before = {q for q, r in pauses.items() if r == REASON}
    for queue in plan.state.queues:
        if current.get(queue, "") is None and (queue in plan.to_pause or queue in ours_before):
            await ami.queue_pause(interface, queue, True, REASON)
    log.info(
        "cooldown-started",
        interface=interface,
        queues=list(plan.to_pause),
        until=round(plan.state.until, 1),
        extended=existing is not None,
        left_alone=list(plan.left_alone),
    )
    return list(plan.to_pause)


async def migrate(store: Store, now: float) -> int:
    """Move cool-downs kept in the layout before 0.2 into the current one (at start)."""
    state, due = await store.migrations.old_cooldowns()
    moved = 0
    for interface, raw in state.items():
        try:
            new = cooldown_before_0_2(interface, raw, due.get(interface))
        except BadState as exc:
            await store.quarantine.put("cooldown", interface, raw, now)
            log.error("cooldown-state-set-aside", interface=interface, problem=str(exc), where="gw:quarantine")
            continue
        moved += await store.cooldowns.swap(interface, None, new)
    if state:
        await store.migrations.drop_old_cooldowns()
        log.info("cooldowns-migrated", moved=moved)
    return moved


async def end_due(store: Store, ami: AmiClient, now: float, token: str | None = None) -> list[str]:
    """Unpause every member whose cool-down is over. Returns the interfaces ended.

    Each is claimed first (compare-and-set, with a lease), so one instance ends it; a
    malformed entry is set aside without stopping the others; if a new press extended the
    cool-down while we were unpausing, its queues are paused again.
    """
    token = token or secrets.token_hex(6)
    ended = []
    for interface, state in (await store.cooldowns.all()).items():  # one that cannot be read is set aside
        if not due(state, now):
            continue
        claimed = replace(state, claim=token, lease=now + CLAIM_SECONDS)
        if not await store.cooldowns.swap(interface, state, claimed):
            continue  # changed meanwhile: next round decides
        current = await ami.member_pauses(interface)
        for queue in state.queues:
            if current.get(queue) == REASON:
                await ami.queue_pause(interface, queue, False, REASON)
            else:
                log.info("cooldown-pause-left-alone", interface=interface, queue=queue, reason=current.get(queue))
        if await store.cooldowns.swap(interface, claimed, None):
            log.info("cooldown-ended", interface=interface)
            ended.append(interface)
        else:
            await _repause(store, ami, interface, now)
    return ended


async def _repause(store: Store, ami: AmiClient, interface: str, now: float) -> None:
    """A press extended the cool-down while we ended it: pause its queues again.

    Only then: a state that another instance has claimed (our lease ran out while AMI was
    slow) is theirs to end, and one already over needs no pause.
    """
    state = await store.cooldowns.get(interface)
    if state is None:
        return
    if state.claim or state.until <= now:
        return
    current = await ami.member_pauses(interface)
    for queue in state.queues:
        if current.get(queue) is None:
            await ami.queue_pause(interface, queue, True, REASON)
    log.info("cooldown-extended-while-ending", interface=interface, queues=list(state.queues))
