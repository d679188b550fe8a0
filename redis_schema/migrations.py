"""Moving data stored by older versions into the current layout (at start, or with the purge)."""

from __future__ import annotations

from typing import cast

from agi.logs import get_logger
from redis_schema import keys
from redis_schema.connection import Client, Fields, Hash, Scored
from redis_schema.incident_log import home_of
from redis_schema.records import NAME_OF, incident_field_names
from redis_schema.screening_read import parse_caller

log = get_logger("grenswacht.store")


class Migrations:
    """``store.migrations``: old cool-downs and the withheld callers' shared hash."""

    def __init__(self, redis: Client, retention: int) -> None:
        self._redis, self._retention = redis, retention

    async def old_cooldowns(self) -> tuple[dict[str, str], dict[str, float]]:
        """Cool-downs in the layout before 0.2 (state hash, due zset), to migrate at start."""
        state = cast(Hash, await self._redis.hgetall(keys.OLD_COOLDOWN_STATE))
        due = (
            dict(cast(Scored, await self._redis.zrange(keys.OLD_COOLDOWN_DUE, 0, -1, withscores=True))) if state else {}
        )
        return state, due

    async def drop_old_cooldowns(self) -> None:
        await self._redis.delete(keys.OLD_COOLDOWN_STATE, keys.OLD_COOLDOWN_DUE)

    async def move_withheld_incidents(self, batch: int = 500) -> int:
        """Move incidents of withheld callers out of the hash they all shared (``gw:c:{anonymous}``,
        before each key press of a withheld caller had a hash of its own), each into its own,
        with the logbook's owner entry; ban, allowlist and warning fields stay. Safe to repeat
        and to run in several processes at once: an interrupted move is completed by the next."""
        shared = keys.caller(keys.ANONYMOUS)
        raw = cast(Hash, await self._redis.hgetall(shared))
        incidents = parse_caller(keys.ANONYMOUS, raw).incidents
        for start in range(0, len(incidents), batch):
            chunk = incidents[start : start + batch]
            async with self._redis.pipeline(transaction=False) as pipe:
                for inc in chunk:
                    own = {f"1.{x}": raw[f"{inc.slot}.{x}"] for x in NAME_OF if f"{inc.slot}.{x}" in raw}
                    pipe.hset(keys.caller(home_of(inc)), mapping=cast(Fields, {keys.NEXT_INDEX: "1", **own}))
                    pipe.expire(keys.caller(home_of(inc)), self._retention)
                    pipe.hset(keys.INCIDENT_OWNER, inc.id, home_of(inc))
                await pipe.execute()
            # Only once each is in its own hash and the index names it there.
            await self._redis.hdel(shared, *(name for i in chunk for name in incident_field_names(i.slot)))
        if incidents:
            log.info("withheld-incidents-moved", incidents=len(incidents))
        return len(incidents)
