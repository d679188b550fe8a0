"""Seed a Redis with many callers' incidents at tens of thousands a second, in the product's layout.

``Store.incidents.bulk_load`` writes each incident through ``add_incident.lua`` and its index
entries one command at a time: a few hundred incidents a second on a shared machine, hours for
3,000,000. This loader leaves the same keys with the same content (``tests/test_fastload.py``
compares it key by key with the product's own writes) but sends far fewer commands:

- each caller's hash in one ``HSET`` (the fields ``add_incident.lua`` writes: ``n``, ``<n>.i``
  and the suffix/value pairs of ``records.incident_args``), its TTL, and a ban as
  ``ContactLists.set_ban`` writes it;
- every index entry and count through the product's own ``rebuild.index_caller`` (what
  ``grenswacht rebuild-indexes`` writes for a caller), into a :class:`Merged` stand-in for a
  pipeline that merges a batch's commands per key: one ``ZADD`` with thousands of members, one
  ``HINCRBY`` per counted field, one ``EXPIRE`` per key.

For seeding a benchmark's throw-away Redis only (no incident may be written meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from agi.engine import Ban, Incident
from redis_schema import keys
from redis_schema.connection import Client
from redis_schema.contact_lists import keep_for_ban
from redis_schema.incident_log import home_of
from redis_schema.logbook_index import Pipe
from redis_schema.rebuild import index_caller
from redis_schema.records import ban_hash, incident_args
from redis_schema.store import Store

CHUNK = 5000  # members (or fields) per command


class Merged:
    """Takes the pipeline commands the product's index code sends and merges them per key, as
    Redis would apply them in order: ZADD (plain, NX, GT), HSET, HINCRBY, EXPIRE (plain)."""

    def __init__(self) -> None:
        self.zsets: dict[tuple[str, str], dict[str, float]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.ttls: dict[str, int] = {}
        self.size = 0

    def zadd(self, name: str, mapping: Mapping[str, float], nx: bool = False, gt: bool = False) -> None:
        rows = self.zsets.setdefault((name, "NX" if nx else "GT" if gt else ""), {})
        for member, score in mapping.items():
            if nx:
                rows.setdefault(member, score)
            elif gt:
                rows[member] = max(rows.get(member, score), score)
            else:
                rows[member] = score
        self.size += len(mapping)

    def hset(
        self, name: str, key: str | None = None, value: Any = None, mapping: Mapping[str, Any] | None = None
    ) -> None:
        fields = self.hashes.setdefault(name, {})
        if key is not None:
            fields[key] = str(value)
        for k, v in (mapping or {}).items():
            fields[k] = str(v)
        self.size += 1 + len(mapping or ())

    def hincrby(self, name: str, key: str, amount: int = 1) -> None:
        fields = self.counts.setdefault(name, {})
        fields[key] = fields.get(key, 0) + amount
        self.size += 1

    def expire(self, name: str, time: int, **flags: bool) -> None:
        if any(flags.values()):
            raise ValueError(f"EXPIRE with {flags} is not merged")  # (the indexes' code sends none)
        self.ttls[name] = time
        self.size += 1

    async def send(self, redis: Client, final: bool = False) -> None:
        """Write what was merged (a TTL after its key's content: a key gets one only once it exists).

        The counts (a few per day and agent) are summed over the whole load and written at the
        end (``final``), with their keys' TTLs: per batch they would be most of the commands."""
        counted = set() if final else set(self.counts)
        async with redis.pipeline(transaction=False) as pipe:
            for (name, flag), rows in self.zsets.items():
                items = list(rows.items())
                for at in range(0, len(items), CHUNK):
                    args = [x for member, score in items[at : at + CHUNK] for x in (repr(score), member)]
                    pipe.execute_command("ZADD", name, *([flag] if flag else []), *args)
            for name, fields in self.hashes.items():
                items = list(fields.items())
                for at in range(0, len(items), CHUNK):
                    pipe.hset(name, mapping=dict(items[at : at + CHUNK]))
            for name, counts in self.counts.items() if final else ():
                for field, by in counts.items():
                    pipe.hincrby(name, field, by)
            for name, ttl in self.ttls.items():
                if name not in counted:
                    pipe.expire(name, ttl)
            await pipe.execute()
        self.zsets, self.hashes, self.size = {}, {}, 0
        self.ttls = {name: ttl for name, ttl in self.ttls.items() if name in counted}
        if final:
            self.counts = {}


def caller_fields(incidents: Iterable[Incident], retention: int) -> dict[str, str]:
    """A new caller's hash after ``add_incident.lua`` stored these incidents in order."""
    fields: dict[str, str] = {}
    n = 0
    for n, inc in enumerate(incidents, 1):
        args = incident_args(inc, retention)
        fields[f"{n}.i"] = inc.id
        for at in range(4, len(args), 2):
            fields[f"{n}.{args[at]}"] = args[at + 1]
    fields["n"] = str(n)
    return fields


async def fast_load(
    store: Store, redis: Client, callers: Iterable[tuple[str, list[Incident], Ban | None]], batch: int = 400_000
) -> int:
    """Load new callers' histories (number, [Incident], ban or None; each number once, ids unique,
    into a Redis that holds none of them) as ``Store.incidents.bulk_load`` would; returns the
    number of incidents written. ``redis``: a client of the store's Redis."""
    merged = Merged()
    pipe = cast(Pipe, merged)
    ix, retention = store.indexes, store.retention
    written = 0
    for number, incidents, ban in callers:
        homes: dict[str, list[Incident]] = {}  # (a withheld caller's incidents: each its own)
        for inc in incidents:
            homes.setdefault(home_of(inc), []).append(inc)
        for home, kept in homes.items():
            merged.hset(keys.caller(home), mapping=caller_fields(kept, retention))
            merged.expire(keys.caller(home), retention)
            index_caller(pipe, ix, home, kept, warned=False)
        written += len(incidents)
        if ban is not None:
            merged.hset(keys.caller(number), mapping=ban_hash(ban))
            keep_for_ban(pipe, number, ban, retention)
            merged.zadd(keys.BANS, {number: ban.until})
        if merged.size >= batch:
            await merged.send(redis)
    await merged.send(redis, final=True)
    return written
