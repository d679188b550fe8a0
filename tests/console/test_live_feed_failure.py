"""The console's event-feed reader is a background task of the console process: a failure nobody
expected (here a stream entry that is not UTF-8, which the Redis client cannot decode) is logged
with its traceback and the reader goes on from the stream's end, instead of the task dying
without a word and every open board going quiet."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis
from structlog.testing import capture_logs

from console.live import FEED_FAILED, Feed
from redis_schema import keys


def crashes(logs: list[dict]) -> list[dict]:
    return [e for e in logs if e.get("event") == FEED_FAILED]


async def test_a_reader_that_fails_is_logged_and_the_boards_get_later_entries(store, redis_server):
    feed = Feed(store)
    raw = Redis.from_url(redis_server.url)  # bytes as they are, to write what no decoder accepts
    try:
        with capture_logs() as logs:
            async with feed.subscribe() as board:
                await raw.xadd(keys.EVENTS, {b"type": b"\xff\xfe"})
                deadline = time.monotonic() + 20
                while not crashes(logs):
                    assert time.monotonic() < deadline, "the reader's failure was never logged"
                    await asyncio.sleep(0.05)
                # The restarted reader takes its place at the stream's end: entries written from
                # now on reach the board (one every 0.2 s until the first arrives).
                while board.empty():
                    assert time.monotonic() < deadline, "no entry reached the board after the failure"
                    await raw.xadd(keys.EVENTS, {b"type": b"incident", b"id": b"after"})
                    await asyncio.sleep(0.2)
                entry = board.get_nowait()
                assert entry.fields == {"type": "incident", "id": "after"}
        assert crashes(logs)[0]["log_level"] == "error"
    finally:
        await feed.stop()
        await raw.aclose()
