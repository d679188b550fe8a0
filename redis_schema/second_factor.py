"""The console's TOTP second factor (issue 30) and each user's own board settings.

``SecondFactors`` keeps a user's secret as the service layer hands it over (already encrypted,
agi.actions.totp), the time step of the last code used (a code is accepted once:
``lua/totp_step.lua``) and a secret being enrolled until its first code confirms it.
``Preferences`` keeps a user's own settings (the board's sound and desktop alerts). Key
templates are in :mod:`redis_schema.keys`; the layout is in SCHEMA.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys
from redis_schema.connection import lua

Client = Redis | RedisCluster


@dataclass(frozen=True)
class StoredFactor:
    sealed: str  # the secret, encrypted
    enrolled_at: float
    last_step: int


class SecondFactors:
    def __init__(self, redis: Client) -> None:
        self._redis = redis
        self._step = redis.register_script(lua("totp_step"))

    async def get(self, name: str) -> StoredFactor | None:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.second_factor(name)))
        try:
            return StoredFactor(raw["s"], float(raw.get("at", 0)), int(raw.get("step", -1)))
        except (KeyError, ValueError):
            return None

    async def enrolled(self, name: str) -> bool:
        return bool(await self._redis.hexists(keys.second_factor(name), "s"))

    async def set_pending(self, name: str, sealed: str, seconds: int) -> None:
        await self._redis.set(keys.second_factor_pending(name), sealed, ex=seconds)

    async def pending(self, name: str) -> str | None:
        return cast(str | None, await self._redis.get(keys.second_factor_pending(name)))

    async def enrol(self, name: str, sealed: str, now: float, step: int) -> None:
        """The pending secret confirmed by the code of ``step``: it becomes the user's second factor."""
        key = keys.second_factor(name)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"s": sealed, "at": repr(now), "step": str(step)})
            pipe.delete(keys.second_factor_pending(name))
            await pipe.execute()

    async def use_step(self, name: str, step: int) -> bool:
        """Take a code's time step; False when it (or a later one) was used already."""
        return bool(await self._step(keys=[keys.second_factor(name)], args=[step]))

    async def remove(self, name: str) -> bool:
        """Forget a user's second factor (and one being enrolled); False when there was none."""
        return bool(await self._redis.delete(keys.second_factor(name), keys.second_factor_pending(name)))


class Preferences:
    """A console user's own settings: a small hash of strings per user."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    async def get(self, name: str) -> dict[str, str]:
        return cast(dict[str, str], await self._redis.hgetall(keys.preferences(name)))

    async def set(self, name: str, values: dict[str, str]) -> None:
        await self._redis.hset(keys.preferences(name), mapping=values)  # type: ignore[arg-type]

    async def remove(self, name: str) -> None:
        await self._redis.delete(keys.preferences(name))
