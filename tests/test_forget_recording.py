"""A caller erased while their call is recorded: the recording under way is no longer theirs and
is not kept (even if the call was logged before the erasure); the recordings job deletes the file
once the window has passed, though the call's end never reaches the recording any more."""

from __future__ import annotations

import time

from agi.config import RecordingsConfig
from agi.recordings import sweep
from redis_schema import keys
from redis_schema.records import LiveCall

N, AGENT, WINDOW = "+31612345678", "PJSIP/1001", 600


async def test_an_erased_callers_recording_under_way_is_deleted_after_the_window(store, config, tmp_path):
    wav = tmp_path / "r.wav"
    wav.write_bytes(b"RIFF")
    started = time.time() - 60
    await store.live.start(LiveCall(AGENT, "lid1", N, started=started, rid="r", file=str(wav), name="Jan"), WINDOW)
    assert await store.live.mark_logged(AGENT, "lid1", "inc1")  # logged during the call, then erased
    before = time.time()
    assert await store.erasure.erase_caller(N) >= 3  # gw:talking, gw:rec:open, gw:live:<agent>
    [opened] = (await store.live.open.all()).values()
    assert (opened.caller, opened.name, opened.incident) == (keys.ANONYMOUS, "", "")
    assert before <= opened.ended <= time.time()  # counts as ended at the erasure
    assert await store.live.end(AGENT, "lid1", time.time(), WINDOW) is None  # the real end finds no call
    cfg = config.model_copy(update={"recordings": RecordingsConfig(record="all", folder=str(tmp_path))})
    assert await sweep(store, cfg, opened.ended + WINDOW - 1) == (0, 0) and wav.exists()
    assert await sweep(store, cfg, opened.ended + WINDOW + 1) == (0, 1)
    assert not wav.exists() and await store.live.open.all() == {} and await store.live.recordings() == {}
