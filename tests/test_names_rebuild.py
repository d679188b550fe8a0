"""`grenswacht rebuild-indexes` writes the callers' search by name (``gw:{names}:ix``, and the
purge's ``gw:{names}:at``) again from ``gw:{names}``: after a restore or a hand edit the search by
name finds the callers again, and a search while it runs never finds an empty index. Also run on
Cluster and Sentinel by tests/test_redis_modes.py."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from redis_schema import keys
from tests.support.cli import run_cli

JAN, PIET, KEES = "+31612345678", "+31622222222", "+31633333333"


@pytest.fixture
def gw(tmp_path, redis_server, store):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')
    return lambda *args: run_cli(["--config", str(cfg), *args])


async def test_rebuild_indexes_writes_the_search_by_name_again(gw, store, rdb):
    now = time.time()
    for k, (number, name) in enumerate(((JAN, "Jan Jansen"), (PIET, "Jan de Boer"), (KEES, "Kees Smit"))):
        await store.names.note(number, name, now - k)
    await rdb.delete(keys.NAME_INDEX, keys.NAMES_SEEN)  # lost, as after a restore of the hash alone
    await rdb.zadd(keys.NAME_INDEX, {"ghost +31600000000": 0})  # stale: no such caller
    await rdb.zadd(keys.NAME_INDEX_NEW, {"leftover +31600000001": 0})  # a rebuild that died half-way
    await rdb.hset(keys.CALLER_NAMES, KEES, json.dumps({"name": "Piet Puk", "at": now}))  # edited by hand
    assert await store.names.search("jan") == {}

    out = gw("rebuild-indexes")

    assert out.returncode == 0, out.stderr
    said = [line for line in out.stdout.splitlines() if line.startswith("rebuilt:")]
    assert len(said) == 1 and re.fullmatch(
        r"rebuilt: 0 incident\(s\) of 0 caller\(s\) indexed, 3 caller name\(s\) searchable again, in [\d.]+ s", said[0]
    ), out.stdout
    assert await store.names.search("jan") == {JAN: "Jan Jansen", PIET: "Jan de Boer"}
    assert await store.names.search("piet") == {KEES: "Piet Puk"}
    assert sorted(await rdb.zrange(keys.NAME_INDEX, 0, -1)) == sorted(
        [f"jan {JAN}", f"jansen {JAN}", f"jan {PIET}", f"de {PIET}", f"boer {PIET}", f"piet {KEES}", f"puk {KEES}"]
    )
    seen = dict(await rdb.zrange(keys.NAMES_SEEN, 0, -1, withscores=True))
    assert seen == {JAN: round(now, 3), PIET: round(now - 1, 3), KEES: round(now, 3)}
    assert await rdb.exists(keys.NAME_INDEX_NEW, keys.NAMES_SEEN_NEW) == 0
    audit = await rdb.xrange(keys.AUDIT)
    assert [e["names"] for _, e in audit if e.get("action") == "rebuild-indexes"] == ["3"]


async def test_rebuild_with_no_names_leaves_no_index(store, rdb):
    await rdb.zadd(keys.NAME_INDEX, {"ghost +31600000000": 0})
    await rdb.zadd(keys.NAMES_SEEN, {"+31600000000": 1.0})
    assert await store.names.rebuild() == 0
    assert await rdb.exists(keys.NAME_INDEX, keys.NAMES_SEEN, keys.NAME_INDEX_NEW, keys.NAMES_SEEN_NEW) == 0


async def test_a_search_during_the_rebuild_never_finds_an_empty_index(store, rdb):
    now, count = time.time(), 3000  # several HSCAN batches, so the searches run between them
    names = {f"+3161{k:07d}": json.dumps({"name": f"Jan Nummer{k}", "at": now}) for k in range(count)}
    await rdb.hset(keys.CALLER_NAMES, mapping=names)
    assert await store.names.rebuild() == count
    results: list[int] = []
    rebuilding = asyncio.create_task(store.names.rebuild())
    while not rebuilding.done():
        results.append(len(await store.names.search("jan", 10)))
    assert await rebuilding == count
    assert len(results) > 1 and set(results) == {10}
    assert await store.names.search("nummer2999") == {"+31610002999": "Jan Nummer2999"}
