"""Exact secondary indexes of the logbook: one sorted set by time per filter value.

Every filter of the logbook (agent, queue, category, open debrief, a withheld caller) has its own
ZSET of incident id -> time, written with the incident (``Store``: right after
``lua/add_incident.lua``, idempotent, like ``gw:incidents``), shrunk by a debrief (the open
index), an erasure and the retention purge. A filtered page is read from these indexes, never
by scanning the whole logbook, so it is exact however rare the match (see SCHEMA.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from agi.engine import Incident
from redis_schema import keys

Client = Redis | RedisCluster
Pipe = Pipeline | ClusterPipeline
Bound = float | str  # a ZRANGEBYSCORE bound: a time, "-inf", "+inf" or "(<time>" (exclusive)
Cursor = tuple[float, str]  # (time, id or member) of the last entry read: the next read begins after it
Row = tuple[str, float]  # (id or member, time)

WALK_BATCH = 2000  # index entries read at a time while a page of several filters is gathered


def withheld(home: str) -> bool:
    """Whether an incident's home (``keys.incident_home``) is a withheld caller's."""
    return home == keys.ANONYMOUS or home.startswith(keys.WITHHELD_HOME)


async def read_after(
    client: Client, key: str, lo: Bound, hi: Bound, after: Cursor | None, offset: int, count: int
) -> list[Row]:
    """Up to ``count`` (member, time) of one ZSET from the highest score down, between ``hi`` and
    ``lo``, beginning ``offset`` entries after the entry ``after`` (exclusive) or at the top.

    Entries of one time come highest member first (ZREVRANGEBYSCORE): those of the cursor's
    time down to its member were read already, so the cursor stays put when newer entries arrive."""
    return (await read_many(client, [key], lo, hi, after, offset, count))[0]


async def read_many(
    client: Client, names: Sequence[str], lo: Bound, hi: Bound, after: Cursor | None, offset: int, count: int
) -> list[list[Row]]:
    """``read_after`` of several keys, in two pipelined round trips."""
    return await read_each(client, names, lo, hi, [after] * len(names), offset, count)


async def read_each(
    client: Client,
    names: Sequence[str],
    lo: Bound,
    hi: Bound,
    afters: Sequence[Cursor | None],
    offset: int,
    count: int,
) -> list[list[Row]]:
    """``read_after`` of several keys, each after its own cursor, in two pipelined round trips."""
    skips = [0] * len(names)
    if any(a is not None for a in afters):
        async with client.pipeline(transaction=False) as pipe:
            for key, after in zip(names, afters):
                if after is not None:
                    pipe.zrevrangebyscore(key, after[0], after[0])
            ties = iter(cast(list[list[str]], await pipe.execute()))
        skips = [0 if a is None else sum(m >= a[1] for m in next(ties)) for a in afters]
    async with client.pipeline(transaction=False) as pipe:
        for key, after, skip in zip(names, afters, skips):
            top = hi if after is None else after[0]
            pipe.zrevrangebyscore(key, top, lo, start=skip + offset, num=count, withscores=True)
        found = cast(list[list[tuple[str, float]]], await pipe.execute())
    return [[(str(m), float(at)) for m, at in rows] for rows in found]


class LogbookIndex:
    """The filter indexes: written with each incident, read a page at a time."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    # ---- writes (into the caller's pipeline: idempotent, so an interrupted write is repeated) ----
    @staticmethod
    def index_keys(inc: Incident, home: str) -> list[str]:
        """Every index that holds the incident (open or not: removal takes both)."""
        found = [keys.by_category(inc.category), keys.open_by_category(inc.category)]
        if inc.agent:
            found.append(keys.by_agent(inc.agent))
        if inc.queue:
            found.append(keys.by_queue(inc.queue))
        if withheld(home) or inc.caller == keys.ANONYMOUS:
            found.append(keys.WITHHELD_INCIDENTS)
        if inc.category == keys.THREAT:
            found.append(keys.UNREPORTED_THREATS)
        return found

    def write(self, pipe: Pipe, iid: str, at: float, inc: Incident, home: str, is_open: bool) -> None:
        entry = {iid: at}
        pipe.zadd(keys.by_category(inc.category), entry)
        pipe.hset(keys.INDEX_CATEGORIES, inc.category, "1")
        if is_open:
            pipe.zadd(keys.open_by_category(inc.category), entry)
        if inc.agent:
            pipe.zadd(keys.by_agent(inc.agent), entry)
            pipe.hset(keys.INDEX_AGENTS, inc.agent.lower(), "1")
        if inc.queue:
            pipe.zadd(keys.by_queue(inc.queue), entry)
            pipe.hset(keys.INDEX_QUEUES, inc.queue, "1")
        if withheld(home) or inc.caller == keys.ANONYMOUS:
            pipe.zadd(keys.WITHHELD_INCIDENTS, entry)
        if inc.category == keys.THREAT and inc.reported_at is None:
            pipe.zadd(keys.UNREPORTED_THREATS, entry)

    def unwrite(self, pipe: Pipe, inc: Incident, home: str) -> None:
        for key in self.index_keys(inc, home):
            pipe.zrem(key, inc.id)

    async def reported(self, ids: Sequence[str]) -> None:
        """Threats reported to the police (or found reported): out of the unreported index."""
        if ids:
            await self._redis.zrem(keys.UNREPORTED_THREATS, *ids)

    async def unreported(self, since: float, limit: int) -> tuple[list[str], int]:
        """The oldest ``limit`` threats since ``since`` not yet reported (the most urgent first), and how many there are."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(keys.UNREPORTED_THREATS, since, "+inf", start=0, num=limit)
            pipe.zcount(keys.UNREPORTED_THREATS, since, "+inf")
            ids, total = await pipe.execute()
        return cast(list[str], ids), int(total)

    async def debriefed(self, inc: Incident) -> None:
        """A debrief closes the incident: out of the open index."""
        await self._redis.zrem(keys.open_by_category(inc.category), inc.id)

    async def remove_ids(self, ids: Sequence[str]) -> None:
        """Take ids of unknown content (their caller's hash expired) out of every index."""
        if not ids:
            return
        agents, queues, categories = await self._values()
        every = [keys.by_agent(a) for a in agents] + [keys.by_queue(q) for q in queues]
        every += [k for c in categories for k in (keys.by_category(c), keys.open_by_category(c))]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in [*every, keys.WITHHELD_INCIDENTS, keys.UNREPORTED_THREATS]:
                pipe.zrem(key, *ids)
            await pipe.execute()

    async def _values(self) -> tuple[set[str], set[str], set[str]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(keys.INDEX_AGENTS)
            pipe.hkeys(keys.INDEX_QUEUES)
            pipe.hkeys(keys.INDEX_CATEGORIES)
            agents, queues, categories = await pipe.execute()
        return set(agents), set(queues), set(categories)

    # ---- reads ------------------------------------------------------------------------------
    async def groups(
        self, *, agent: str = "", queue: str = "", category: str = "", open_only: bool = False, anonymous: bool = False
    ) -> list[list[str]]:
        """The indexes of a filter: an incident matches when it is in some key of every group
        (the agent filter matches a part of the interface, ignoring case: every agent holding it)."""
        out: list[list[str]] = []
        agents, _, categories = await self._values() if (agent or open_only) else (set(), set(), set())
        if agent:
            part = agent.lower()
            out.append([keys.by_agent(a) for a in sorted(agents) if part in a])
        if queue:
            out.append([keys.by_queue(queue)])
        if open_only:
            out.append([keys.open_by_category(c) for c in ([category] if category else sorted(categories))])
        elif category:
            out.append([keys.by_category(category)])
        if anonymous:
            out.append([keys.WITHHELD_INCIDENTS])
        return out

    async def categories(self) -> list[str]:
        """Every category with an index (of an incident ever written)."""
        return sorted(cast(list[str], await self._redis.hkeys(keys.INDEX_CATEGORIES)))

    async def count_open(self, ranges: Sequence[tuple[str, Bound, Bound]], leave_out: Sequence[str]) -> dict[str, int]:
        """Open incidents of every category but ``leave_out`` in each (name, oldest, newest) range."""
        _, _, categories = await self._values()
        chosen = sorted(categories - set(leave_out))
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, lo, hi in ranges:
                for c in chosen:
                    pipe.zcount(keys.open_by_category(c), lo, hi)
            counts = iter(await pipe.execute())
        return {name: sum(next(counts) for _ in chosen) for name, _, _ in ranges}

    async def count_withheld(self, since: float) -> tuple[int, float] | None:
        """How many incidents of withheld callers since ``since``, and the time of the earliest; None: none."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(keys.WITHHELD_INCIDENTS, since, "+inf")
            pipe.zrangebyscore(keys.WITHHELD_INCIDENTS, since, "+inf", start=0, num=1, withscores=True)
            n, first = await pipe.execute()
        return (int(n), float(first[0][1])) if first else None

    async def page(
        self, groups: list[list[str]], lo: Bound, hi: Bound, after: Cursor | None, skip: int, count: int
    ) -> list[Row]:
        """Up to ``count`` (id, time) newest first that are in every group, ``skip`` matches after
        ``after`` (or the newest). One group of one key (or none: the whole logbook) is one read;
        otherwise the smallest group is walked and each batch checked against the others (ZMSCORE)."""
        if not groups:
            groups = [[keys.INCIDENTS_BY_TIME]]
        if any(not g for g in groups):
            return []
        if len(groups) > 1:
            async with self._redis.pipeline(transaction=False) as pipe:
                for g in groups:
                    for key in g:
                        pipe.zcount(key, lo, hi)
                sizes = iter(await pipe.execute())
            totals = [sum(next(sizes) for _ in g) for g in groups]
            groups = [g for _, g in sorted(zip(totals, groups), key=lambda p: p[0])]
        driver, others = groups[0], groups[1:]
        if not others and len(driver) == 1:
            return await read_after(self._redis, driver[0], lo, hi, after, skip, count)
        out: list[Row] = []
        async for rows in self._stream(driver, lo, hi, after, max(count * 2, 256)):
            out += await self._in_every(rows, others) if others else rows
            if len(out) >= skip + count:
                break
        return out[skip : skip + count]

    async def _stream(
        self, group: list[str], lo: Bound, hi: Bound, after: Cursor | None, chunk: int
    ) -> AsyncIterator[list[Row]]:
        """The union of the group's keys (an incident is in one key of a group), newest first, in
        batches; each entry is read once (a k-way merge that refills the key whose buffer ran out)."""
        bufs: list[list[Row]] = [[] for _ in group]
        cursors: list[Cursor | None] = [after] * len(group)
        done = [False] * len(group)
        while True:
            empty = [i for i, b in enumerate(bufs) if not b and not done[i]]
            if empty:
                got = await read_each(
                    self._redis, [group[i] for i in empty], lo, hi, [cursors[i] for i in empty], 0, chunk
                )
                for i, rows in zip(empty, got):
                    bufs[i], done[i] = rows, len(rows) < chunk
                    if rows:
                        cursors[i] = rows[-1][1], rows[-1][0]
                chunk = min(chunk * 2, WALK_BATCH)
            # Nothing unread of a key is above its last buffered entry: all at or above the highest
            # of those comes first.
            frontier = max(((b[-1][1], b[-1][0]) for b, d in zip(bufs, done) if b and not d), default=None)
            batch: list[Row] = []
            for i, b in enumerate(bufs):
                k = len(b)
                if frontier is not None:
                    k = 0
                    while k < len(b) and (b[k][1], b[k][0]) >= frontier:
                        k += 1
                batch += b[:k]
                bufs[i] = b[k:]
            batch.sort(key=lambda r: (r[1], r[0]), reverse=True)
            if batch:
                yield batch
            if all(done) and not any(bufs):
                return

    async def _in_every(self, rows: list[Row], groups: Iterable[list[str]]) -> list[Row]:
        """The rows in every group (in one of its keys). Groups come smallest first, so each is
        asked only about what the ones before kept, and a group's next key only about ids its
        keys before did not hold: at 3,000,000 incidents, asking every key about every id was
        most of a page's time (the ids' encoding)."""
        for g in groups:
            left, found = rows, set[str]()
            for key in g:
                if not left:
                    break
                scores = await self._redis.zmscore(key, [iid for iid, _ in left])
                found.update(iid for (iid, _), score in zip(left, scores) if score is not None)
                left = [r for r, score in zip(left, scores) if score is None]
            rows = [r for r in rows if r[0] in found]
            if not rows:
                break
        return rows
