"""The live board's feed: one reader of the logbook event stream per console process, fanned
out to every open board.

Before, each open board held a Redis connection of its own in a blocking read: 70 open boards
took the 64 connections of the pool and every other page answered 500. Now one task reads
``gw:events`` (one connection, blocked at most ``BLOCK_MS``) and hands each entry to a queue per
open board; a board that resumes (``Last-Event-ID``) first reads what it missed, once, without
blocking. The reader runs while at least one board is open.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from agi.logs import get_logger
from redis_schema.store import Store

log = get_logger("grenswacht.console")

BLOCK_MS = 1000  # one blocking read at a time; below the client's socket timeout
BATCH = 500
BEHIND = 2000  # a board this many entries behind is ended; it reconnects and catches up from Redis
CATCH_UP_AT_ONCE = 4
PLACE_SECONDS = 2.0  # the longest a new board waits for the reader to find its place in the stream
STATUS = "status"  # an entry of the feed's own: the store went away ("down") or came back ("up")
FEED_FAILED = "console-event-feed-failed"  # the reader failed unexpectedly (logged with its traceback)


def newer(entry_id: str, than: str) -> bool:
    """Whether stream entry id ``entry_id`` comes after ``than`` ("ms-seq"; "$" or junk: everything is)."""
    try:
        a, b = (tuple(int(p) for p in x.split("-", 1)) for x in (entry_id, than))
    except ValueError:
        return True
    return a > b


def entry_id(raw: str | None) -> str | None:
    """A stream entry id from a browser (Last-Event-ID, ?after=), or None when it is not one."""
    if not raw or len(raw) > 42:
        return None
    parts = raw.split("-", 1)
    return raw if all(p.isdigit() for p in parts) else None


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[str, str] = field(default_factory=dict)


class Feed:
    """One process's reader of ``gw:events`` and the queues of its open boards."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.up = True
        self._boards: set[asyncio.Queue[Entry]] = set()
        self._task: asyncio.Task[None] | None = None
        self._placed = asyncio.Event()  # the reader knows where in the stream it starts
        self._cache: OrderedDict[str, asyncio.Future[object]] = OrderedDict()
        # Boards that reconnect at once (a console restart) catch up a few at a time, leaving the
        # pool's other connections to the pages.
        self._catching_up = asyncio.Semaphore(CATCH_UP_AT_ONCE)

    @property
    def boards(self) -> int:
        return len(self._boards)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Entry]]:
        queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._boards.add(queue)
        if self._task is None or self._task.done():
            self._placed = asyncio.Event()
            self._task = asyncio.create_task(self._read(self._placed), name="console-event-feed")
        # A board is told it is live only once the reader has its place in the stream: an entry
        # added in between would otherwise reach neither the board's catch-up read nor the reader.
        # A store that does not answer does not hold the board up longer than PLACE_SECONDS.
        try:
            try:
                await asyncio.wait_for(asyncio.shield(self._placed.wait()), PLACE_SECONDS)
            except TimeoutError:
                pass
            yield queue
        finally:
            self._boards.discard(queue)
            if not self._boards:
                await self.stop()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _tell(self, entry: Entry) -> None:
        for queue in list(self._boards):
            queue.put_nowait(entry)

    def _state(self, up: bool, exc: Exception | None = None) -> None:
        if up == self.up:
            return
        self.up = up
        if up:
            log.info("console-event-feed-recovered")
        else:
            log.warning("console-event-feed-store-unreachable", error=type(exc).__name__)
        self._tell(Entry("", {"type": STATUS, "state": "up" if up else "down"}))

    async def _read(self, placed: asyncio.Event) -> None:
        last: str | None = None
        while self._boards:
            try:
                if last is None:
                    last = await self.store.streams.last_event_id()
                    placed.set()
                batch = await self.store.streams.read_events(last, BLOCK_MS, BATCH)
            except RedisError as exc:
                self._state(False, exc)
                await asyncio.sleep(1)
                continue
            except Exception as exc:  # not expected (an entry that is not UTF-8): said, then read on
                log.exception(FEED_FAILED, error=type(exc).__name__)  # from the stream's end, past it
                last = None
                await asyncio.sleep(1)
                continue
            self._state(True)
            for eid, fields in batch:
                last = eid
                self._tell(Entry(eid, fields))

    async def missed(self, after: str) -> list[Entry]:
        """The entries after ``after`` (a board that resumes): a read that does not wait."""
        out: list[Entry] = []
        while len(out) < BEHIND:
            async with self._catching_up:
                batch = await self.store.streams.read_events(after, 1, BATCH)
            out += [Entry(eid, fields) for eid, fields in batch]
            if len(batch) < BATCH:
                break
            after = batch[-1][0]
        return out

    async def cached(self, key: str, make: Callable[[], Awaitable[object]]) -> object:
        """What ``make`` gives for ``key``, made once for every board (the last 256 kept). Boards
        that ask at the same moment (every open board, for each new entry) share the one load
        under way: before, 70 boards made 70 reads at once, more than the pool's connections,
        and the ones that waited past its timeout showed "down" instead of the incident. A load
        that fails is not kept: the next board tries again."""
        got = self._cache.get(key)
        if got is None:
            got = asyncio.ensure_future(make())
            got.add_done_callback(_retrieved)
            self._cache[key] = got
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            return await asyncio.shield(got)  # a board that goes away does not cancel the others' load
        except Exception:
            if self._cache.get(key) is got:
                del self._cache[key]
            raise


def _retrieved(load: asyncio.Future[object]) -> None:
    """A shared load whose boards all went away: its error is theirs, not an unretrieved one."""
    if not load.cancelled():
        load.exception()
