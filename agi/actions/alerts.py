"""Each console user's own board alerts (issue 30): a sound and a desktop notification for new
incidents and help requests, both off until the user switches them on.

Kept per user on the server (Store.preferences), not per browser: a supervisor who logs in on
another PC finds their choice again. The browser's own permission for desktop notifications is
still asked on each PC the first time (the page asks when the user switches it on there).
"""

from __future__ import annotations

from dataclasses import dataclass

from agi.actions.bounds import actor_name
from redis_schema.store import Store


@dataclass(frozen=True)
class Alerts:
    sound: bool = False
    desktop: bool = False


async def get(store: Store, name: str) -> Alerts:
    raw = await store.preferences.get(name)
    return Alerts(raw.get("sound") == "1", raw.get("desktop") == "1")


async def put(store: Store, name: str, alerts: Alerts, actor: str, now: float) -> Alerts:
    """Save a user's choice (audited like every change)."""
    await store.preferences.set(name, {"sound": str(int(alerts.sound)), "desktop": str(int(alerts.desktop))})
    await store.streams.audit(
        actor_name(actor), "alerts-set", now, user=name, sound=int(alerts.sound), desktop=int(alerts.desktop)
    )
    return alerts
