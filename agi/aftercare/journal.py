"""No lost incidents: a local append-only journal for incidents Redis could not take.

Each entry is one JSON line, fsynced before the call moves on. Replay stores every entry
through the same de-duplicating write as a key press (same incident id, linkedid and
source), so an entry replayed twice, or one that did reach Redis after all, counts once.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger("grenswacht.journal")


class Journal:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def _append_sync(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        async with self._lock:
            await asyncio.to_thread(self._append_sync, line)

    def pending(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                return sum(1 for line in fh if line.strip())
        except FileNotFoundError:
            return 0

    async def replay(self, store) -> int:
        """Store every journaled incident; keep the ones that still fail. Returns how many were stored."""
        async with self._lock:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return 0
            keep: list[bytes] = []
            stored = 0
            for line in raw.splitlines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    number = entry.pop("caller")
                except (ValueError, KeyError, AttributeError):
                    log.error("journal-line-unreadable", size=len(line))
                    keep.append(line)  # never drop data we cannot read; an operator can look
                    continue
                try:
                    _, created = await store.add_incident(number, **entry)
                    stored += 1
                    log.info("journal-replayed", incident=entry.get("incident_id"), created=created)
                except (RedisError, OSError) as exc:
                    log.warning("journal-replay-failed", error=type(exc).__name__)
                    keep.append(line)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(b"".join(l + b"\n" for l in keep))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            return stored
