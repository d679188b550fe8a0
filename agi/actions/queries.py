"""Questions the CLI and the console both ask, answered by one function each.

The console's logbook page and ``grenswacht incidents list`` filter through :func:`incident_filters`
(and :func:`with_caller`: a caller typed as a number or a name) and :func:`agi.actions.logbook.matches` (the agent filter ignores case in both); a date typed
without a time is a day in the configured zone ``[web] timezone`` in both (:func:`local_day`,
and ``agi.cli.common.parse_date``), and ``stats`` counts days in that zone (:func:`stats_days`,
``agi.actions.audit.stats``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agi.actions.errors import ActionError
from agi.actions.logbook import Filters, every
from agi.actions.names import logbook_callers
from agi.config import Config
from agi.engine import Incident
from redis_schema.store import Store

MAX_TEXT = 100  # an agent or queue filter longer than this is cut


def local_day(raw: str, zone: ZoneInfo, *, end: bool = False) -> float | None:
    """A YYYY-MM-DD day in ``zone``: its start, or with ``end`` the start of the next day (None for "")."""
    if not raw:
        return None
    try:
        d = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=zone)
    except ValueError:
        raise ActionError("{raw!r} is not a date (YYYY-MM-DD).", raw=raw) from None
    if not 2000 <= d.year <= 2100:
        raise ActionError("{raw!r} is out of range (a date from 2000 to 2100).", raw=raw)
    return (d + timedelta(days=1) if end else d).timestamp()


def incident_filters(
    config: Config,
    *,
    caller: str | None = None,
    agent: str = "",
    queue: str = "",
    category: str = "",
    since: float | None = None,
    until: float | None = None,
    open_only: bool = False,
) -> Filters:
    """The logbook filters, checked: a category of the protocol, a start before the end."""
    if category and category not in config.protocol_for(None)[1].weights:
        raise ActionError("category {category!r} is not in the protocol's weights.", category=category)
    if since is not None and until is not None and since >= until:
        raise ActionError("the start date is after the end date.")
    return Filters(caller, agent[:MAX_TEXT], queue[:MAX_TEXT], category, since, until, open_only)


async def with_caller(config: Config, store: Store, f: Filters, raw: str) -> Filters:
    """``f`` narrowed to the callers a typed caller filter stands for (issue 30): a phone number, or
    a name (:func:`agi.actions.names.logbook_callers`: every caller it matches, at most 50); ``f``
    itself when nothing was typed. ActionError when no caller, or too many, go by that name."""
    if not raw:
        return f
    found = await logbook_callers(config, store, raw)
    return replace(f, caller=found[0], callers=()) if len(found) == 1 else replace(f, caller=None, callers=found)


async def every_incident(store: Store, f: Filters) -> list[Incident]:
    """Every incident that passes ``f``, newest first: what the console's logbook pages through."""
    return await every(store, f)


def stats_days(since: float, now: float, zone: ZoneInfo) -> int:
    """How many days of ``zone`` the statistics cover from the day of ``since`` to today (at least 1)."""
    first = datetime.fromtimestamp(since, zone).date()
    today = datetime.fromtimestamp(now, zone).date()
    return max(1, (today - first).days + 1)
