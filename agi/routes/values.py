"""Channel values more than one route sets (agi.channel_vars names them); routes import this, not each other."""

from __future__ import annotations

import re

from agi import channel_vars as cv
from agi.config import Config
from agi.fastagi.wire import dialplan_safe
from redis_schema.caller_names import clean


def prompts_dir(config: Config) -> str:
    """GW_PROMPTS: the sound folder of the configured prompt language."""
    return f"{config.prompts.path}/{config.prompts.language}"


def senior_values(config: Config, incidents: int | str, caller_name: str) -> dict[str, object]:
    """Where the senior colleague is and what their phone shows: "[GW 2] Jansen"."""
    # A name that already carries the prefix (a warned caller handed over, issue 29) gets it once.
    name = re.sub(r"^(\[GW [^\]]*\]\s*)+", "", dialplan_safe(caller_name))
    name = "" if name.lower() == "unknown" else name
    return {cv.SENIOR: config.routing.senior_destination, cv.CID_NAME: f"[GW {incidents}] {name}".strip()}


def caller_name(raw: str | None) -> str:
    """The caller ID name as Grenswacht keeps it (issue 30): safe for the dialplan, printable,
    bounded, without our own "[GW n]" prefix (redis_schema.caller_names.clean)."""
    return clean(dialplan_safe(raw or ""))
