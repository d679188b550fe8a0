"""The benchmark's fast loader (bench/fastload.py) leaves exactly what the product's own writes leave.

The console benchmark at 1,000,000 callers measures the pages on the fast loader's Redis, so
that Redis must hold the real layout: the same keys, each with the same type, content and TTL
as when every incident is written by ``add_incident`` (the Lua write and its index entries,
as a key press does) and every ban by ``set_ban``.
"""

from __future__ import annotations

import time

import pytest

from agi.engine import DAY, Incident
from agi.wiring import build_store, redis_client
from bench.console_scale import histories
from bench.fastload import Merged, fast_load
from redis_schema import keys
from tests.conftest import make_config


async def snapshot(client) -> dict[str, tuple[str, object, int]]:
    """Every key: (type, content, TTL in seconds or -1)."""
    out: dict[str, tuple[str, object, int]] = {}
    async for key in client.scan_iter(count=1000):
        kind = await client.type(key)
        if kind == "hash":
            content: object = await client.hgetall(key)
        elif kind == "zset":
            content = sorted(await client.zrange(key, 0, -1, withscores=True))
        elif kind == "string":
            content = await client.get(key)
        else:
            content = kind  # (no other type is written by either)
        out[key] = (kind, content, await client.ttl(key))
    return out


def withheld_incidents(now: float) -> list[tuple[str, list[Incident], None]]:
    """Callers without a number: each key press in a hash of its own, in the withheld index."""
    return [
        (
            keys.ANONYMOUS,
            [
                Incident.new(keys.ANONYMOUS, "abuse", now - 3 * DAY, agent="PJSIP/agent1", queue="sales"),
                Incident.new(keys.ANONYMOUS, "threat", now - 40 * DAY, agent="PJSIP/agent2", linkedid="1700.5"),
            ],
            None,
        )
    ]


@pytest.mark.asyncio
async def test_fast_loader_writes_what_the_products_writes_write(redis_server) -> None:
    now = time.time()
    seeded = [*histories(700, 2000, now), *withheld_incidents(now)]
    assert sum(ban is not None for _, _, ban in seeded) == 7
    slow_config = make_config(redis_server.url.replace("/0", "/1"))
    fast_config = make_config(redis_server.url.replace("/0", "/2"))
    slow, fast = build_store(slow_config), build_store(fast_config)
    slow_raw, fast_raw = redis_client(slow_config), redis_client(fast_config)
    try:
        await slow_raw.flushdb()
        await fast_raw.flushdb()
        for number, incidents, ban in seeded:  # one at a time, as calls and supervisors write them
            for inc in incidents:
                await slow.incidents.add_incident(inc)
            if ban is not None:
                await slow.lists.set_ban(number, ban)
        written = await fast_load(fast, fast_raw, seeded, batch=3000)  # several batches
        assert written == sum(len(incs) for _, incs, _ in seeded) == 2002

        want, got = await snapshot(slow_raw), await snapshot(fast_raw)
        slack = time.time() - now + 2  # a TTL counts from its write: the slow writes took this long
        assert len(want) > 700 + 2 + 200  # callers, withheld presses, agents' indexes, days, ranks ...
        assert sorted(got) == sorted(want)
        for key, (kind, content, ttl) in want.items():
            got_kind, got_content, got_ttl = got[key]
            assert (got_kind, got_content) == (kind, content), key
            assert (got_ttl == -1) == (ttl == -1) and abs(got_ttl - ttl) <= slack, (key, got_ttl, ttl)
    finally:
        for s in (slow, fast):
            await s.close()
        for c in (slow_raw, fast_raw):
            await c.flushdb()
            await c.aclose()


def test_merged_applies_nx_gt_and_plain_writes_as_redis_would() -> None:
    merged = Merged()
    merged.zadd("a", {"x": 2.0}, nx=True)
    merged.zadd("a", {"x": 5.0}, nx=True)
    merged.zadd("b", {"x": 5.0}, gt=True)
    merged.zadd("b", {"x": 3.0, "y": 1.0}, gt=True)
    merged.zadd("c", {"x": 5.0})
    merged.zadd("c", {"x": 3.0})
    merged.hincrby("h", "f", 2)
    merged.hincrby("h", "f", -1)
    merged.expire("h", 10)
    merged.expire("h", 20)
    assert merged.zsets == {("a", "NX"): {"x": 2.0}, ("b", "GT"): {"x": 5.0, "y": 1.0}, ("c", ""): {"x": 3.0}}
    assert merged.counts == {"h": {"f": 1}} and merged.ttls == {"h": 20}
    with pytest.raises(ValueError):
        merged.expire("h", 10, gt=True)
