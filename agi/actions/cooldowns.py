"""Agents in cool-down: the list with time left, and ending one early."""

from __future__ import annotations

from dataclasses import replace

from agi.actions.bounds import actor_name
from agi.actions.errors import ActionError
from agi.aftercare.cooldown import BadState, Cooldown
from redis_schema.store import Store


async def running(store: Store, now: float) -> list[Cooldown]:
    out = []
    for interface, raw in (await store.cooldowns()).items():
        try:
            state = Cooldown.load(interface, raw)
        except BadState:
            continue  # the service sets a malformed entry aside
        if state.until > now:
            out.append(state)
    return sorted(out, key=lambda c: c.until)


async def end_now(store: Store, interface: str, actor: str, now: float) -> None:
    """Bring the cool-down's end forward to now; the service's cool-down job unpauses the agent."""
    actor = actor_name(actor)
    raw = await store.cooldown(interface)
    if not raw:
        raise ActionError(f"{interface} is not in a cool-down.")
    try:
        state = Cooldown.load(interface, raw)
    except BadState as exc:
        raise ActionError(str(exc) + ".") from None
    if not await store.swap_cooldown(interface, raw, replace(state, until=now).dump()):
        raise ActionError(f"the cool-down of {interface} changed meanwhile; try again.")
    await store.audit(actor, "cooldown-end", now, agent=interface)
