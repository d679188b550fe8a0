"""Recording an incident from a call, with the after-care that follows it.

Used by the endlog and handover routes. Redis trouble never loses an incident: it goes to
the journal (agi.aftercare.journal) and is replayed later, without duplicates.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from redis.exceptions import RedisError

from agi.aftercare import cooldown, notify
from agi.numbers import mask
from redis_schema.store import new_incident_id

log = structlog.get_logger("grenswacht.incidents")

STORE_BUDGET_SECONDS = 1.0


async def record(deps, number: str, *, category: str, source: str, agent: str = "", queue: str = "",
                 uniqueid: str = "", linkedid: str = "", note: str = "", actor: str = "") -> tuple[str, str]:
    """Store one incident. Returns (incident id, "logged" | "duplicate" | "journaled")."""
    now = deps.clock()
    _, protocol = deps.config.protocol_for(None)
    entry: dict[str, Any] = {
        "incident_id": new_incident_id(now), "category": category, "at": now,
        "severity": protocol.weights.get(category, 1), "agent": agent, "queue": queue, "uniqueid": uniqueid,
        "linkedid": linkedid, "note": note, "source": source, "actor": actor or agent,
    }
    try:
        async with asyncio.timeout(STORE_BUDGET_SECONDS):
            iid, created = await deps.store.add_incident(number, **entry)
    except (RedisError, OSError, TimeoutError) as exc:
        await deps.journal.append({"caller": number, **entry})
        log.warning("incident-journaled", incident=entry["incident_id"], error=type(exc).__name__,
                    caller=mask(number, deps.config.numbers.mask_in_logs))
        return entry["incident_id"], "journaled"
    status = "logged" if created else "duplicate"
    log.info("incident-" + status, incident=iid, category=category, source=source, agent=agent,
             caller=mask(number, deps.config.numbers.mask_in_logs), linkedid=linkedid)
    return iid, status


def aftercare(deps, incident: dict[str, Any], *, pause_agent: bool) -> None:
    """Notify the supervisor and (for end-and-log) start the agent's cool-down; never awaited by the call."""
    deps.later(notify.notify(deps, incident), "notify")
    if pause_agent and incident.get("agent"):
        deps.later(cooldown.start(deps, incident["agent"], deps.clock()), "cooldown")
