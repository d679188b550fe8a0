"""Typed records kept one JSON value per hash field (cool-downs, callback appointments, console
users, prefix bans and allows), and the quarantine where an unreadable one is set aside."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Generic, cast

from agi.logs import get_logger
from redis_schema import keys
from redis_schema.connection import Client, Hash, lua
from redis_schema.records import BadRecord, JsonCodec, T

log = get_logger("grenswacht.store")


class Quarantine:
    """gw:quarantine: malformed entries set aside where an operator can look at them."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    async def put(self, kind: str, name: str, raw: str, at: float) -> None:
        """Set a malformed entry aside (never on the call path)."""
        await self._redis.hset(keys.QUARANTINE, f"{kind}:{name}:{at:.3f}", raw)


class RecordHash(Generic[T]):
    """One hash of typed records (cool-downs, callback appointments, console users), each field a
    record's name and its value the record's JSON (its codec in redis_schema.records). Values are
    changed by compare-and-set (``lua/hash_cas.lua``) on the text a reader saw.

    A value that cannot be read is set aside (in gw:quarantine, for an operator) and removed; one
    stored in an older layout is written again in the current one, so that a compare-and-set on
    the value read matches the stored text."""

    def __init__(self, redis: Client, key: str, codec: JsonCodec[T], quarantine: Quarantine) -> None:
        self._redis, self._key, self._codec, self._quarantine = redis, key, codec, quarantine
        self._hash_cas = redis.register_script(lua("hash_cas"))

    async def all(self) -> dict[str, T]:
        """Every readable record, by name."""
        return await self.decode(cast(Hash, await self._redis.hgetall(self._key)))

    async def get(self, name: str) -> T | None:
        text = cast(str | None, await self._redis.hget(self._key, name))
        return (await self.decode({name: text} if text else {})).get(name)

    async def swap(self, name: str, expected: T | None, new: T | None) -> bool:
        """Compare-and-set one record (None expected = absent, None new = delete)."""
        old_text = "" if expected is None else self._codec.dump(expected)
        new_text = "" if new is None else self._codec.dump(new)
        return bool(await self._hash_cas(keys=[self._key], args=[name, old_text, new_text]))

    async def put(self, name: str, value: T) -> None:
        """Write one record whatever was there (a user's account: no concurrent writer)."""
        await self._redis.hset(self._key, name, self._codec.dump(value))

    async def remove(self, name: str) -> bool:
        return bool(await self._redis.hdel(self._key, name))

    async def decode(self, raw: Mapping[str, str]) -> dict[str, T]:
        """The readable records of ``raw`` (this hash as read), by name."""
        out: dict[str, T] = {}
        codec, hash_cas = self._codec, self._hash_cas
        for name, text in raw.items():
            try:
                value = codec.load(name, text)
            except BadRecord as exc:
                await self._quarantine.put(codec.kind, name, text, time.time())
                await hash_cas(keys=[self._key], args=[name, text, ""])
                log.error("record-set-aside", kind=codec.kind, problem=str(exc)[:160], where=keys.QUARANTINE)
                continue
            canonical = codec.dump(value)
            if canonical != text:  # changed meanwhile: the caller's own swap fails and reads again
                await hash_cas(keys=[self._key], args=[name, text, canonical])
            out[name] = value
        return out
