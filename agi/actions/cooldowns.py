"""Agents in cool-down: the list with time left, and ending one early."""

from __future__ import annotations

from dataclasses import replace

from agi.actions.bounds import actor_name
from agi.actions.errors import ActionError
from redis_schema.records import Cooldown
from redis_schema.store import Store


async def running(store: Store, now: float) -> list[Cooldown]:
    return sorted((c for c in (await store.cooldowns.all()).values() if c.until > now), key=lambda c: c.until)


async def end_now(store: Store, interface: str, actor: str, now: float) -> None:
    """Bring the cool-down's end forward to now; the service's cool-down job unpauses the agent."""
    actor = actor_name(actor)
    state = await store.cooldowns.get(interface)
    if state is None:
        raise ActionError("{interface} is not in a cool-down.", interface=interface)
    if not await store.cooldowns.swap(interface, state, replace(state, until=now)):
        raise ActionError("the cool-down of {interface} changed meanwhile; try again.", interface=interface)
    await store.streams.audit(actor, "cooldown-end", now, agent=interface)
    await store.streams.publish_event({"type": "cooldown", "agent": interface, "at": now})  # the live board
