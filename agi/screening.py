"""Screening: read the caller's record, decide with the protocol engine, fail open on store trouble.

Shared by the FastAGI ``screen`` route and the ``grenswacht screen``/``caller`` commands so
that what a supervisor is shown is exactly what a call would get.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import RedisError

from agi.config import Config
from agi.engine import Action, CallerRecord, Decision, Reason, decide
from agi.logs import get_logger
from agi.prefixes import PrefixCache
from redis_schema.store import Store

log = get_logger("grenswacht.screening")


@dataclass(frozen=True)
class Screening:
    number: str
    protocol: str
    decision: Decision
    record: CallerRecord | None  # None when the store could not be read
    # Why not (the error's type: TimeoutError when the budget ran out, ConnectionError, ...).
    store_error: str | None = None


async def screen(
    config: Config, store: Store, prefixes: PrefixCache, number: str, did: str | None, now: float, budget: float | None
) -> Screening:
    """Decide for one caller. Never raises for store trouble: the decision is then allow."""
    protocol_name, protocol = config.protocol_for(did)
    try:
        record = await store.screening.load_caller(number, budget)
    except (RedisError, OSError, TimeoutError) as exc:
        return Screening(
            number, protocol_name, Decision(Action.ALLOW, Reason.STORE_UNAVAILABLE), None, type(exc).__name__
        )
    prefix_ban, prefix_allow = prefixes.lookup(number)
    decision = decide(record, protocol, now, prefix_ban=prefix_ban, prefix_allow=prefix_allow)
    return Screening(number, protocol_name, decision, record)
