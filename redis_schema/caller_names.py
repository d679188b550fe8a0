"""Caller names (issue 30): the caller ID name a caller last called with, and a search by name.

- ``gw:{names}`` (HASH number -> JSON ``{"name", "at"}``): written when an incident with a caller
  name is stored (``IncidentLog``), so every caller with a history has the name they last used;
  never on the screening path. Erased with the caller (``Erasure.erase_caller``), dropped by the
  retention purge when its ``at`` (also in ``gw:{names}:at``, a ZSET by time) is older than the retention.
- ``gw:{names}:ix`` (ZSET, all scores 0): one member ``"<token> <number>"`` per word of the name,
  folded (lower case, accents off), so a lexical range finds every number whose name has a word
  starting with what was typed. Kept in step with ``gw:{names}`` by :meth:`CallerNames.note`.

A name is cleaned before it is stored (:func:`clean`): no control characters, one space between
words, at most :data:`MAX_NAME` characters, no ``[GW n]`` prefix of our own.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import cast

from redis_schema import keys
from redis_schema.connection import Client, lua

MAX_NAME = 64  # characters of a stored name
MAX_WORDS = 8  # words of a name that are indexed (and of a search that are used)
MAX_WORD = 32
MAX_SCAN = 5000  # index entries read for a search (of its rarest word)
SEARCH_BATCH = 500  # callers whose names are read at once while a search checks them
_OUR_PREFIX = re.compile(r"^(\[GW [^\]]*\]\s*)+")
_NO_NAME = {"unknown", "anonymous", "unavailable", "private", "restricted", "withheld"}


def clean(raw: str | None) -> str:
    """A caller ID name as stored and shown: printable, one space between words, bounded, ours removed."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in (raw or "")[: MAX_NAME * 4])
    text = _OUR_PREFIX.sub("", " ".join(text.split()))[:MAX_NAME].strip()
    return "" if text.lower() in _NO_NAME else text


def words(text: str) -> list[str]:
    """The folded words of a name or a search: lower case, accents off, letters and digits only."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    found = [w[:MAX_WORD] for w in re.split(r"[\W_]+", folded) if w]
    return list(dict.fromkeys(found))[:MAX_WORDS]


def _members(number: str, name: str) -> list[str]:
    return [f"{w} {number}" for w in words(name)]


class CallerNames:
    """``store.names``: the callers' names and the search by name."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis
        self._swap = redis.register_script(lua("swap_built"))

    async def get(self, number: str) -> str:
        """The caller's last known name, "" when none."""
        return (await self.get_many([number])).get(number, "")

    async def get_many(self, numbers: Iterable[str]) -> dict[str, str]:
        """number -> name of those of ``numbers`` that have one."""
        wanted = list(dict.fromkeys(numbers))
        if not wanted:
            return {}
        raw = cast(list[str | None], await self._redis.hmget(keys.CALLER_NAMES, wanted))
        return {n: entry[0] for n, value in zip(wanted, raw, strict=True) if (entry := _entry(value))}

    async def note(self, number: str, name: str, at: float) -> None:
        """The caller called with this name at ``at``: kept (with its index words) unless a later one is."""
        name = clean(name)
        if not name or not number or number.startswith(keys.ANONYMOUS):
            return
        old = _entry(cast(str | None, await self._redis.hget(keys.CALLER_NAMES, number)))
        if old is not None and old[1] >= at:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.CALLER_NAMES, number, json.dumps({"name": name, "at": round(at, 3)}))
            pipe.zadd(keys.NAMES_SEEN, {number: round(at, 3)})
            if old is not None and old[0] != name:
                stale = set(_members(number, old[0])) - set(_members(number, name))
                if stale:
                    pipe.zrem(keys.NAME_INDEX, *stale)
            if old is None or old[0] != name:
                pipe.zadd(keys.NAME_INDEX, dict.fromkeys(_members(number, name), 0))
            await pipe.execute()

    async def search(self, query: str, limit: int = 50) -> dict[str, str]:
        """number -> name of the callers whose name has a word starting with each word of ``query``,
        at most ``limit`` of them. The rarest typed word's index range is read (at most MAX_SCAN
        entries, a batch at a time), and each of its callers' current names checked for the other words."""
        wanted = words(query)
        if not wanted:
            return {}
        ranges = [(b"[" + w.encode(), b"[" + w.encode() + b"\xff") for w in wanted]
        async with self._redis.pipeline(transaction=False) as pipe:
            for low, high in ranges:
                pipe.zlexcount(keys.NAME_INDEX, low, high)
            counts = await pipe.execute()
        low, high = ranges[min(range(len(ranges)), key=lambda k: int(counts[k]))]
        found: dict[str, str] = {}
        for at in range(0, MAX_SCAN, SEARCH_BATCH):  # a batch at a time, until ``limit`` are found
            hits = cast(list[str], await self._redis.zrangebylex(keys.NAME_INDEX, low, high, at, SEARCH_BATCH))
            names = await self.get_many(m.split(" ", 1)[1] for m in hits if " " in m)
            found.update((n, name) for n, name in names.items() if _has_words(name, wanted))  # not a stale entry
            if len(found) >= limit or len(hits) < SEARCH_BATCH:
                break
        return dict(list(found.items())[:limit])

    async def forget(self, number: str) -> int:
        """Erase the caller's name and its index words; 1 when there was one."""
        old = _entry(cast(str | None, await self._redis.hget(keys.CALLER_NAMES, number)))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.CALLER_NAMES, number)
            pipe.zrem(keys.NAMES_SEEN, number)
            if old is not None and (members := _members(number, old[0])):
                pipe.zrem(keys.NAME_INDEX, *members)
            removed = await pipe.execute()
        return int(removed[0])

    async def rebuild(self) -> int:
        """Write ``gw:{names}:ix`` and ``gw:{names}:at`` again from ``gw:{names}`` (after a restore or a
        hand edit); returns how many callers have a name. They are built under other keys of the same
        slot and RENAMEd over the old ones by one script, so a search meanwhile reads the old index,
        never an empty or half-built one. A name noted while it runs may miss the index until the next
        rebuild (run it with the service stopped, as the rest of ``rebuild-indexes``)."""
        await self._redis.unlink(keys.NAME_INDEX_NEW, keys.NAMES_SEEN_NEW)  # a run that died half-way
        named, cursor = 0, 0
        while True:
            cursor, batch = await self._redis.hscan(keys.CALLER_NAMES, cursor, count=SEARCH_BATCH)
            entries = {n: e for n, value in cast(dict[str, str], batch).items() if (e := _entry(value))}
            members = {m: 0 for n, (name, _) in entries.items() for m in _members(n, name)}
            async with self._redis.pipeline(transaction=True) as pipe:
                if members:
                    pipe.zadd(keys.NAME_INDEX_NEW, members)
                if entries:
                    pipe.zadd(keys.NAMES_SEEN_NEW, {n: round(at, 3) for n, (_, at) in entries.items()})
                await pipe.execute()
            named += len(entries)
            if not cursor:
                break
        await self._swap(keys=[keys.NAME_INDEX_NEW, keys.NAME_INDEX, keys.NAMES_SEEN_NEW, keys.NAMES_SEEN])
        return named

    async def purge(self, cutoff: float) -> int:
        """Forget the names last seen before ``cutoff`` (the retention); returns how many."""
        old = cast(list[str], await self._redis.zrangebyscore(keys.NAMES_SEEN, "-inf", f"({cutoff}"))
        for number in old:
            await self.forget(number)
        return len(old)


def _has_words(name: str, wanted: list[str]) -> bool:
    have = words(name)
    return all(any(h.startswith(w) for h in have) for w in wanted)


def _entry(value: str | None) -> tuple[str, float] | None:
    """(name, at) of a stored entry; None when absent or malformed."""
    if not value:
        return None
    try:
        data = json.loads(value)
        return (str(data["name"]), float(data["at"])) if isinstance(data, dict) and data.get("name") else None
    except (ValueError, KeyError, TypeError):
        return None
