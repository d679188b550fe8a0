"""The service's own background loops; agi.wiring lists them as jobs and agi.supervisor runs them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from redis.exceptions import RedisError

from agi.aftercare import cooldown
from agi.ami.client import AmiClient, AmiError
from agi.deps import Deps
from agi.logs import get_logger
from agi.supervisor import Outage
from redis_schema.store import Store

log = get_logger("grenswacht.service")

PREFIX_REFRESH_SECONDS = 5.0
PURGE_EVERY_SECONDS = 3600.0
COOLDOWN_CHECK_SECONDS = 1.0


async def refresh_prefixes(deps: Deps) -> None:
    outage = Outage(log, "prefix-refresh")
    while True:
        try:
            deps.prefixes.replace(*await deps.store.screening.load_prefixes())
            outage.ok()
        except (RedisError, OSError) as exc:
            outage.failed(exc)
        await asyncio.sleep(PREFIX_REFRESH_SECONDS)


async def purge_loop(deps: Deps) -> None:
    outage = Outage(log, "retention-purge")
    while True:
        try:
            dropped = await deps.store.erasure.purge(deps.clock())
            outage.ok()
            if dropped:
                log.info("retention-purge", incidents=dropped)
        except (RedisError, OSError) as exc:
            outage.failed(exc)
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def end_cooldowns(store: Store, ami: AmiClient, clock: Callable[[], float]) -> None:
    """Ends due cool-downs, waiting while AMI or Redis is away (claims keep it to one instance)."""
    token = secrets.token_hex(6)
    outage = Outage(log, "cooldown-check")
    while True:
        if ami.connected:
            try:
                await cooldown.end_due(store, ami, clock(), token)
                outage.ok()
            except (AmiError, RedisError, OSError, TimeoutError) as exc:
                outage.failed(exc)
        await asyncio.sleep(COOLDOWN_CHECK_SECONDS)
