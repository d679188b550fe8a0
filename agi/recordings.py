"""Recordings kept with the incident (issue 28; docs/recordings.md).

Asterisk records the bridged conversation from the moment the agent answers (``MixMonitor(file,b)``,
started by the ``answered`` route); Grenswacht keeps the file only when the call is logged (a key
press, or an after-call code within the window) and deletes it otherwise. The decisions here are
pure; :func:`run` is the supervised background job that settles each recording:

- a logged call, once it ended (and Asterisk closed the file): the SHA-256, size and duration are
  taken and the file becomes a kept :class:`~redis_schema.records.Recording` of the incident;
- a call not logged within ``[recordings] window_minutes`` after it ended: the file is deleted;
- a kept recording older than ``keep_days``, or whose incident is gone (retention, ``forget``):
  the file and its record are deleted.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import stat
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis.exceptions import RedisError

from agi.config import Config, RecordingsConfig
from agi.engine import CallerRecord
from agi.logs import get_logger
from agi.recording_files import delete_kept, remove_file
from agi.supervisor import Outage
from redis_schema.live_calls import MAX_CALL_SECONDS
from redis_schema.records import LiveCall, Recording
from redis_schema.store import Store

log = get_logger("grenswacht.recordings")

SWEEP_SECONDS = 2.0
CLOSE_GRACE_SECONDS = 3.0  # after the hang-up, Asterisk closes the file within this
FILE_MODE = 0o600


def should_record(settings: RecordingsConfig, record: CallerRecord | None, score: int) -> bool:
    """Pure: whether this answered call is recorded (``flagged``: a score of 1 or more, or a ban)."""
    if settings.record == "all":
        return True
    if settings.record == "flagged":
        return score >= 1 or (record is not None and record.ban is not None)
    return False


def paths(settings: RecordingsConfig, rid: str) -> tuple[str, str]:
    """(the file as Grenswacht sees it, the file as Asterisk writes it)."""
    name = f"{rid}.wav"
    return f"{settings.folder}/{name}", f"{settings.dialplan_folder}/{name}"


PROBE_BYTES = 4096  # one block: a full disk refuses it


def folder_problem(settings: RecordingsConfig) -> str | None:
    """One sentence when recordings are on and the folder cannot be used, else None (``serve``'s
    start-up line and ``grenswacht check`` both say it)."""
    if settings.record == "off":
        return None
    why = _unusable(Path(settings.folder))
    if why is None:
        return None
    return f"recordings.folder: {settings.folder} {why}, so no call is recorded (calls are still screened and logged)."


def _why(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else type(exc).__name__


def _unusable(folder: Path) -> str | None:
    """Why this service cannot write, read and delete recordings in ``folder``: tried with a probe file."""
    try:
        if not stat.S_ISDIR(folder.stat().st_mode):
            return "is not a folder"
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:  # a folder above it is closed to this user
        return f"cannot be reached by this service's user (uid {os.geteuid()})"
    except OSError as exc:
        return f"cannot be read ({_why(exc)})"
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError as exc:  # a stale network mount, an I/O error: said, never raised at start
        return f"cannot be read ({_why(exc)})"
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return f"cannot be read and written by this service's user (uid {os.geteuid()})"
    probe = folder / f".grenswacht-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, bytes(PROBE_BYTES))
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "is on a full disk"
        return f"cannot be written ({_why(exc)})"
    return None


class FolderWatch:
    """Whether the recordings folder can be used now. Assessed at start and on every sweep of the
    job; a change is one log line. While it cannot be used, the ``answered`` route records nothing
    (no MixMonitor file) and calls go on as before; recording resumes once the folder is fixed."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self._assessed = False

    @property
    def usable(self) -> bool:
        return self.problem is None

    def assess(self, settings: RecordingsConfig) -> str | None:
        """Called in a thread (the probe touches the disk): the state changes before its line is
        written, so that a call after the line sees what the line says."""
        problem = folder_problem(settings)
        changed, first = problem != self.problem, not self._assessed
        self.problem, self._assessed = problem, True
        if changed or first:
            if problem is not None:
                log.error("recordings-folder-unusable", problem=problem)
            elif not first:
                log.info("recordings-folder-usable", folder=settings.folder)
        return problem


@dataclass(frozen=True)
class Closed:
    sha256: str
    size: int
    duration: float


def close_file(path: str) -> Closed:
    """Hash a finished recording and measure it; the file becomes 0600 (personal data)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    duration = 0.0
    try:
        with wave.open(path, "rb") as w:
            duration = w.getnframes() / float(w.getframerate() or 8000)
    except (wave.Error, EOFError):
        pass
    try:
        os.chmod(path, FILE_MODE)
    except OSError:
        pass
    return Closed(digest.hexdigest(), os.path.getsize(path), round(duration, 2))


def fate(call: LiveCall, now: float, window: float, file_exists: bool) -> str:
    """Pure: "keep", "delete", "missing" (logged, but no file came within the window) or "wait"."""
    ended = call.ended or (call.started + MAX_CALL_SECONDS if now > call.started + MAX_CALL_SECONDS else 0.0)
    if not ended:
        return "wait"
    if call.incident and file_exists:
        return "keep" if now >= ended + CLOSE_GRACE_SECONDS else "wait"
    if now < ended + window:
        return "wait"
    return "missing" if call.incident else "delete"  # missing: Asterisk never wrote the file


async def sweep(store: Store, config: Config, now: float) -> tuple[int, int]:
    """Settle what is due; returns (kept, deleted)."""
    settings = config.recordings
    window = settings.window_minutes * 60.0
    kept = deleted = 0
    for call in (await store.live.open.all()).values():
        exists = await asyncio.to_thread(os.path.exists, call.file)
        decision = fate(call, now, window, exists)
        if decision == "keep":
            closed = await asyncio.to_thread(close_file, call.file)
            recording = Recording(
                incident=call.incident,
                linkedid=call.linkedid,
                caller=call.caller,
                file=call.file,
                started=call.started,
                duration=closed.duration,
                sha256=closed.sha256,
                size=closed.size,
                closed=now,
                agent=call.agent,
            )
            if await store.live.settle(call, recording):
                kept += 1
                log.info("recording-kept", incident=call.incident, duration=closed.duration, sha256=closed.sha256)
        elif decision == "delete" and await store.live.settle(call, None):
            await asyncio.to_thread(remove_file, call.file)
            deleted += 1
            log.info("recording-deleted-not-logged", rid=call.rid)
        elif decision == "missing" and await store.live.settle(call, None):
            log.warning("recording-missing", incident=call.incident, rid=call.rid)
    deleted += await expire_kept(store, settings, now)
    return kept, deleted


async def expire_kept(store: Store, settings: RecordingsConfig, now: float) -> int:
    """Delete kept recordings past ``keep_days`` and those whose incident is gone."""
    recordings = await store.live.recordings()
    if not recordings:
        return 0
    owners = await store.incidents.owners(recordings)
    gone = 0
    for iid, rec in recordings.items():
        if owners.get(iid) is None or rec.started + settings.keep_days * 86_400 < now:
            await delete_kept(store, rec)
            gone += 1
    return gone


async def run(
    store: Store, config: Callable[[], Config], clock: Callable[[], float], folder: FolderWatch | None = None
) -> None:
    """The supervised job: settle recordings every couple of seconds (and watch the folder)."""
    outage = Outage(log, "recordings")
    while True:
        try:
            if folder is not None:
                await asyncio.to_thread(folder.assess, config().recordings)
            await sweep(store, config(), clock())
            outage.ok()
        except (RedisError, OSError) as exc:
            outage.failed(exc)
        await asyncio.sleep(SWEEP_SECONDS)
