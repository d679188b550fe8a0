"""Deleting a kept recording, file and record: shared by the recordings job (``agi.recordings``,
past ``keep_days`` or its incident gone) and ``forget`` (``agi.actions.logbook``), which must not
depend on the job's module."""

from __future__ import annotations

import asyncio
import os

from agi.logs import get_logger
from redis_schema.records import Recording
from redis_schema.store import Store

log = get_logger("grenswacht.recordings")


def remove_file(path: str) -> bool:
    """False when the file was gone already; OSError when it cannot be removed."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


async def delete_kept(store: Store, rec: Recording) -> None:
    """The file first, then its record: a file that cannot be removed (OSError) keeps its record,
    so the recordings job tries again once the incident is gone."""
    await asyncio.to_thread(remove_file, rec.file)
    await store.live.drop_recording(rec.incident)
    log.info("recording-removed", incident=rec.incident)
