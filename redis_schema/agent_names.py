"""Agent names (issue 30): ``gw:agent-names`` (HASH agent interface -> display name), so the
console, the CLI and the police report say "Anne de Vries" where the PBX says ``PJSIP/1003``.
Set, listed and removed through ``agi.actions.names`` (which checks and audits)."""

from __future__ import annotations

from typing import cast

from redis_schema import keys
from redis_schema.connection import Client


class AgentNames:
    """``store.agent_names``: one small hash, read whole (every page shows agents)."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    async def all(self) -> dict[str, str]:
        return cast(dict[str, str], await self._redis.hgetall(keys.AGENT_NAMES))

    async def set(self, interface: str, name: str) -> None:
        await self._redis.hset(keys.AGENT_NAMES, interface, name)

    async def remove(self, interface: str) -> bool:
        return bool(await self._redis.hdel(keys.AGENT_NAMES, interface))
