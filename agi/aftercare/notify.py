"""Telling the supervisor: an AMI UserEvent, a logbook event in Redis, optionally a webhook.

Each is one after-care step of the journal (agi.incidents.Logbook runs them, retries them
with backoff until they succeed, and never lets one hold up a call). All three carry the
same fields of the same incident value, the stored time included.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from agi.aftercare import deadline
from agi.config import webhook_allowed
from agi.engine import Incident
from redis_schema import records

USER_EVENT = "GrenswachtIncident"


def payload(inc: Incident) -> dict[str, object]:
    """The incident as the logbook event stream and the webhook carry it."""
    return records.incident_event(inc)


def event_fields(inc: Incident) -> dict[str, str]:
    """CamelCase AMI headers; values are ours or Asterisk's, and check_action refuses line breaks."""
    return records.incident_ami(inc)


class WebhookError(Exception):
    pass


def post_webhook(url: str, inc: Incident, timeout: float = 5.0) -> None:
    """One attempt (blocking: run it in a thread); raises WebhookError on any failure.

    Only http and https: the configuration refuses any other scheme, and so does this, for a URL
    that reached here another way (urllib would open file: and ftp: URLs too)."""
    post_json(url, payload(inc), timeout)


def post_json(url: str, data: Mapping[str, object], timeout: float = 5.0) -> None:
    """POST ``data`` as JSON (blocking: run it in a thread); raises WebhookError on any failure."""
    if not webhook_allowed(url):
        raise WebhookError("not an http(s) URL")
    body = json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        status = deadline.post(req, timeout)  # the whole exchange within the timeout
        if status >= 300:
            raise WebhookError(f"HTTP {status}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:  # not HTTP: BadStatusLine
        raise WebhookError(type(exc).__name__) from exc


# ---- issue 29: a help request goes the same ways as an incident (without the journal: it only
# matters while the call lasts) --------------------------------------------------------------------

HELP_EVENT = "GrenswachtHelp"
HELP_ENDED_EVENT = "GrenswachtHelpEnded"


def ami_fields(event: Mapping[str, object]) -> dict[str, str]:
    """An event's fields as CamelCase AMI headers (``agent_channel`` -> ``AgentChannel``), empty ones left out."""
    return {
        "".join(part.capitalize() for part in key.split("_")): str(value)
        for key, value in event.items()
        if key != "type" and value not in ("", None)
    }
