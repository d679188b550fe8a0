"""Telling the supervisor: an AMI UserEvent, a logbook event in Redis, optionally a webhook."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import structlog
from redis.exceptions import RedisError

from agi.ami.client import AmiError

log = structlog.get_logger("grenswacht.notify")

USER_EVENT = "GrenswachtIncident"


def event_fields(incident: dict[str, Any]) -> dict[str, str]:
    """CamelCase AMI headers; values are ours or Asterisk's, and check_action refuses line breaks."""
    names = {"id": "IncidentId", "caller": "Caller", "category": "Category", "agent": "Agent", "queue": "Queue",
             "uniqueid": "CallUniqueid", "linkedid": "CallLinkedid", "at": "At", "source": "Source"}
    return {names[k]: str(v) for k, v in incident.items() if k in names and v not in (None, "")}


async def notify(deps, incident: dict[str, Any]) -> None:
    """Best effort on every channel; one failing never stops the others, and never the call."""
    try:
        await deps.store.publish_event({"type": "incident", **incident})
    except (RedisError, OSError) as exc:
        log.warning("logbook-event-failed", error=type(exc).__name__)
    if deps.ami is not None:
        try:
            await deps.ami.user_event(USER_EVENT, event_fields(incident))
        except (AmiError, ValueError) as exc:
            log.warning("user-event-failed", detail=str(exc)[:200])
    url = deps.config.aftercare.webhook_url
    if url:
        await post_webhook(url, incident, deps.config.aftercare.webhook_attempts)


async def post_webhook(url: str, payload: dict[str, Any], attempts: int, first_delay: float = 1.0) -> bool:
    body = json.dumps(payload).encode()
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(_post, url, body)
            return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("webhook-failed", attempt=attempt, error=type(exc).__name__)
            if attempt < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
    return False


def _post(url: str, body: bytes) -> None:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        if resp.status >= 300:
            raise urllib.error.URLError(f"HTTP {resp.status}")
