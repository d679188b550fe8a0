"""An agent's own account of an incident (issue 29): one more field of the incident in its caller's hash.

Written after the incident, like the debrief (``<slot>.ac``, redis_schema.records.account_field);
read back with the incident (it is a field of redis_schema.records.INCIDENT), erased with the caller.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys
from redis_schema.records import account_field


class Accounts:
    def __init__(self, redis: Redis | RedisCluster) -> None:
        self.redis = redis

    async def set(self, home: str, slot: str, text: str) -> None:
        """``home``: the number whose hash holds the incident (Store.incident_owner)."""
        await self.redis.hset(keys.caller(home), account_field(slot), text)
