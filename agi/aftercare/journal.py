"""No lost incidents: a local write-ahead journal of every incident and its after-care.

An incident is appended here, fsynced, *before* the agent is told it is logged, whatever
Redis does. It stays until Redis holds it on disk (see ``store.server.durability``) and every
after-care step (logbook event, UserEvent, cool-down, webhook) is done; where Redis cannot
confirm that it is on disk, it stays ``[storage] unconfirmed_keep_hours`` and is stored again
whenever Redis restarts. The file is personal data: mode 0600, in a 0700 folder.

The file is append-only JSON lines, folded on load:
``{"op": "add", "incident": {...}, "pause": true, "steps": [...], "added": t}``,
``{"op": "done", "id": ..., "step": ...}``, ``{"op": "confirmed", "id": ...}``,
``{"op": "redo", "id": ..., "step": "store"}``, ``{"op": "drop", "id": ...}``;
it is rewritten (atomically, 0600) once most of its lines are history. The asyncio lock is
held for file I/O only, never across a Redis or AMI call.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from agi.engine import Incident
from agi.logs import get_logger
from agi.supervisor import Outage
from redis_schema import records
from redis_schema.keys import forgotten_member

log = get_logger("grenswacht.journal")

STORE = "store"
# In the order they run; "recool" restores a cool-down that Redis lost (see agi.incidents).
AFTERCARE_STEPS = ("cooldown", "recool", "userevent", "event", "webhook")
SOON_STEPS = AFTERCARE_STEPS[:-1]  # the webhook runs apart: a slow receiver delays nothing
FILE_MODE = 0o600
# What may name a caller in a line of the poison file, which may not even be JSON: a caller
# field, or anything written like an E.164 number.
_NUMBERS = re.compile(r'"caller"\s*:\s*"([^"\\]{1,64})"|(\+\d{6,15})')


@dataclass
class Entry:
    incident: Incident
    pause: bool  # start a cool-down for the incident's agent
    steps: set[str]  # steps still to do
    added: float  # when it was acknowledged
    confirmed: bool = False  # on Redis's disk
    attempts: dict[str, int] = field(default_factory=dict)  # in memory only
    next_try: dict[str, float] = field(default_factory=dict)  # in memory only

    @classmethod
    def new(cls, incident: Incident, pause: bool, added: float) -> Entry:
        """An incident to store, with its after-care (a cool-down only for an agent's key press)."""
        steps = {STORE, "event", "userevent", "webhook"} | ({"cooldown"} if pause and incident.agent else set())
        return cls(incident, pause, steps, added)

    def line(self) -> dict[str, Any]:
        return {
            "op": "add",
            "incident": records.incident_to_json(self.incident),
            "pause": self.pause,
            "steps": sorted(self.steps),
            "added": self.added,
            "confirmed": self.confirmed,
        }

    def settled(self, now: float, keep_seconds: float) -> bool:
        return not self.steps and (self.confirmed or now - self.added > keep_seconds)


def _from_before_0_2(rec: dict[str, Any]) -> dict[str, Any]:
    """A line of the journal before 0.2 (an incident Redis could not take): store it, with after-care."""
    fields = {k: v for k, v in rec.items() if k not in ("incident_id", "caller")}
    incident = {**fields, "id": rec["incident_id"], "caller": rec["caller"]}
    return Entry.new(records.incident_from_json(incident), rec.get("source") == "key", float(rec["at"])).line()


def _encode(record: dict[str, Any]) -> bytes:
    """One line: compact UTF-8 JSON (orjson: the same text as json.dumps, a tenth of the time)."""
    return orjson.dumps(record) + b"\n"


def _open_private(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # also when it existed with a wider mode
    return fd


class Journal:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.entries: dict[str, Entry] = {}
        self._lines = 0
        self._lock = asyncio.Lock()
        self._disk = Outage(log, "journal-write")

    # ---- load ------------------------------------------------------------------------------
    def load(self) -> int:
        """Fold the file into ``entries`` (at start). Unreadable lines are set aside, never dropped.

        A journal that cannot be read at all is reported and left as it is: the service runs
        on (calls are screened; key presses are logged in Redis alone, or answered "error").
        """
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.error("journal-unreadable", path=str(self.path), error=type(exc).__name__, detail=exc.strerror)
            return 0
        bad: list[bytes] = []
        self._lines = 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            self._lines += 1
            try:
                self._apply(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                bad.append(line)
        if bad:
            self._append_sync(self.path.with_name(self.path.name + ".poison"), b"".join(b + b"\n" for b in bad), True)
            log.error("journal-lines-set-aside", lines=len(bad), where=str(self.path) + ".poison")
        if not raw.endswith(b"\n") and raw:
            self._rewrite_sync(self._snapshot())  # a torn last line (killed mid-write): start cleanly
        return len(self.entries)

    def _apply(self, rec: dict[str, Any]) -> None:
        if "op" not in rec:
            rec = _from_before_0_2(rec)
        op = rec["op"]
        if op == "add":
            inc = records.incident_from_json(rec["incident"])
            steps = set(rec["steps"]) & {STORE, *AFTERCARE_STEPS}
            self.entries[inc.id] = Entry(
                inc, bool(rec["pause"]), steps, float(rec["added"]), bool(rec.get("confirmed", False))
            )
            return
        entry = self.entries.get(rec["id"])
        if entry is None:
            return
        if op == "done":
            entry.steps.discard(rec["step"])
        elif op == "confirmed":
            entry.confirmed = True
        elif op == "redo":
            entry.steps.add(rec["step"])
            entry.confirmed = entry.confirmed and rec["step"] != STORE
        elif op == "drop":
            del self.entries[rec["id"]]
        else:
            raise ValueError(op)

    # ---- queries ---------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self.entries)

    def same_press(self, inc: Incident) -> Entry | None:
        """An entry for the same key press on the same call (a retry while Redis is away)."""
        if not inc.linkedid:
            return None
        for entry in self.entries.values():
            if (
                entry.incident.linkedid == inc.linkedid
                and entry.incident.source == inc.source
                and entry.incident.caller == inc.caller
            ):
                return entry
        return None

    # ---- writes ----------------------------------------------------------------------------
    async def add(self, entry: Entry) -> None:
        """Append and fsync. The entry is worked on from now on even if the disk fails or is
        slow (the caller stops waiting, the write goes on): raises OSError when not on disk."""
        self.entries[entry.incident.id] = entry
        await self._write(entry.line(), sync=True)

    async def note(self, record: dict[str, Any]) -> None:
        """Record progress (done, confirmed, redo, drop). Not fsynced on its own, and a failed
        write is only logged: losing one only repeats an idempotent step after a restart."""
        self._apply(record)
        try:
            await self._write(record, sync=False)
        except OSError as exc:
            self._disk.failed(exc)
        else:
            self._disk.ok()

    async def set_aside(self, entry: Entry, reason: str) -> None:
        """A poison entry: kept for an operator in ``<journal>.poison``, out of the live journal."""
        line = _encode({**entry.line(), "reason": reason})
        async with self._lock:
            await asyncio.to_thread(self._append_sync, self.path.with_name(self.path.name + ".poison"), line, True)
        await self.note({"op": "drop", "id": entry.incident.id})
        log.error(
            "journal-entry-set-aside", incident=entry.incident.id, reason=reason, where=str(self.path) + ".poison"
        )

    async def erase(self, erased: Mapping[str, float]) -> int:
        """Take the callers erased (``keys.forgotten_member(number)`` -> when) out of every file now.

        Drops the entries of an erased caller logged before the erasure, then rewrites the
        journal (history lines of dropped entries name callers too) and the poison file without
        them, atomically. Returns how many entries were dropped.
        """

        def gone(number: str, at: float = float("-inf")) -> bool:
            when = erased.get(forgotten_member(number))
            return when is not None and when >= at

        doomed = [iid for iid, e in self.entries.items() if gone(e.incident.caller, e.incident.at)]
        for iid in doomed:
            del self.entries[iid]
        poison = self.path.with_name(self.path.name + ".poison")

        def keep(line: bytes) -> bool:
            return not any(gone(a or b) for a, b in _NUMBERS.findall(line.decode(errors="replace")))

        async with self._lock:
            data = self._snapshot()  # on the loop: entries change only here
            try:
                await asyncio.to_thread(self._erase_sync, data, poison, keep)
            except OSError as exc:
                self._disk.failed(exc)
        return len(doomed)

    def _erase_sync(self, data: bytes, poison: Path, keep: Callable[[bytes], bool]) -> None:
        """Rewrite the journal with ``data`` and the poison file with the lines ``keep`` accepts."""
        if self.path.exists():
            self._rewrite_sync(data)
        try:
            lines = poison.read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            return
        kept = [line for line in lines if keep(line)]
        if len(kept) != len(lines):
            _replace_sync(poison, b"".join(kept))

    async def compact(self) -> None:
        """Rewrite the file with only what is live, once most of it is history."""
        if self._lines <= 2 * len(self.entries) + 64:
            return
        async with self._lock:
            data = self._snapshot()  # on the loop: entries change only here
            try:
                await asyncio.to_thread(self._rewrite_sync, data)
            except OSError as exc:
                self._disk.failed(exc)

    async def _write(self, record: dict[str, Any], *, sync: bool) -> None:
        line = _encode(record)
        async with self._lock:
            await asyncio.to_thread(self._append_sync, self.path, line, sync)
            self._lines += 1

    @staticmethod
    def _append_sync(path: Path, data: bytes, sync: bool) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = _open_private(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _snapshot(self) -> bytes:
        return b"".join(_encode(e.line()) for e in list(self.entries.values()))

    def _rewrite_sync(self, data: bytes) -> None:
        _replace_sync(self.path, data)
        self._lines = data.count(b"\n")


def _replace_sync(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: a private temporary file, fsynced, renamed."""
    tmp = path.with_name(path.name + ".tmp")
    fd = _open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
