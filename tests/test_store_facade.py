"""Store is a facade over one part per responsibility, and keeps its Redis client to itself."""

from __future__ import annotations

import re
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from agi.engine import Ban, Incident
from redis_schema import keys

ROOT = Path(__file__).resolve().parent.parent
N = "+31612345678"
# store.redis / store._redis / deps.store._redis ...: Store's own client reached from outside.
REACHES_IN = re.compile(r"\bstore\._?redis\b|\._redis\b")


def test_no_code_outside_redis_schema_reaches_for_the_stores_client():
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in ("agi", "console", "bench", "tests", "scripts")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if REACHES_IN.search(line)
    ]
    assert found == []


async def test_the_parts_share_one_store(store, rdb):
    assert not hasattr(store, "redis")  # tests look through a client of their own (rdb)
    inc = Incident.new(N, "abuse", 1_700_000_000.0)
    iid, created = await store.incidents.add_incident(inc)
    await store.lists.set_ban(N, Ban(until=1_900_000_000.0, reason="r"))
    record = await store.screening.load_caller(N)
    assert created and [i.id for i in record.incidents] == [iid] and record.ban is not None
    await store.streams.audit("sup", "ban", 1_700_000_001.0, number=N)
    assert await store.erasure.erase_caller(N) >= 2  # the caller hash and the audit entry
    assert await rdb.exists(keys.caller(N)) == 0 and await store.streams.audit_entries() == []


def public_clients(obj: object, path: str, seen: set[int]) -> list[str]:
    """Every public attribute path below ``obj`` (through redis_schema objects) that holds a Redis client."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    found = []
    for name, value in vars(obj).items():
        if isinstance(value, Redis | RedisCluster):
            found += [] if name.startswith("_") else [f"{path}.{name}"]
        elif type(value).__module__.startswith("redis_schema.") and hasattr(value, "__dict__"):
            found += public_clients(value, f"{path}.{name}", seen)
    return found


async def test_no_part_of_the_store_hands_out_its_redis_client(store):
    # Found before: store.live.redis, store.help.redis, store.indexes.redis (and its logbook,
    # stats and warnings): code anywhere could go round the parts through them.
    parts = [name for name, v in vars(store).items() if type(v).__module__.startswith("redis_schema.")]
    assert {"live", "help", "indexes", "incidents", "lists"} <= set(parts)
    assert public_clients(store, "store", set()) == []
