"""An agent's own account of an incident (issue 29): one more field of the incident in its caller's hash.

Written after the incident, like the debrief (``<slot>.ac``, redis_schema.records.account_field);
read back with the incident (it is a field of redis_schema.records.INCIDENT), erased with the caller.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys
from redis_schema.connection import Fields
from redis_schema.records import SUFFIX_OF, account_field


class Accounts:
    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis

    async def set(self, home: str, slot: str, text: str, by: str) -> None:
        """``home``: the number whose hash holds the incident (Store.incident_owner); ``by``: who
        wrote it down (the police report names them)."""
        fields = {account_field(slot): text, f"{slot}.{SUFFIX_OF['account_by']}": by}
        await self._redis.hset(keys.caller(home), mapping=cast(Fields, fields))
