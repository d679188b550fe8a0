"""The two streams: logbook events (gw:events, read by the console's live view and the webhook)
and the audit trail (gw:audit, every change with who made it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from redis.typing import EncodableT, FieldT

from redis_schema import keys
from redis_schema.connection import Client, Entries
from redis_schema.records import fmt as _fmt


class Streams:
    """``store.streams``: events and audit entries."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    async def publish_event(self, event: Mapping[str, Any]) -> str:
        entry_id = await self._redis.xadd(
            keys.EVENTS,
            {k: _fmt(v) for k, v in event.items() if v is not None},
            maxlen=keys.EVENTS_MAXLEN,
            approximate=True,
        )
        return cast(str, entry_id)

    async def read_events(self, last_id: str, block_ms: int, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """Logbook events after ``last_id`` ('$' = from now), waiting up to ``block_ms`` for one."""
        # [[stream, entries], ...]: lists, read as pairs
        got = cast(
            list[tuple[str, Entries]], await self._redis.xread({keys.EVENTS: last_id}, block=block_ms, count=count)
        )
        return [(eid, fields) for _, entries in got for eid, fields in entries]

    async def last_event_id(self) -> str:
        last = cast(Entries, await self._redis.xrevrange(keys.EVENTS, count=1))
        return last[0][0] if last else "0-0"

    async def audit(self, actor: str, action: str, at: float, **details: Any) -> str:
        entry: dict[FieldT, EncodableT] = {"actor": actor, "action": action, "at": _fmt(at)}
        entry.update({k: _fmt(v) for k, v in details.items() if v not in (None, "")})
        return cast(str, await self._redis.xadd(keys.AUDIT, entry))

    async def audit_entries(self, since: float | None = None) -> list[dict[str, str]]:
        start = f"{int(since * 1000)}-0" if since is not None else "-"
        return [dict(fields, id=eid) for eid, fields in cast(Entries, await self._redis.xrange(keys.AUDIT, min=start))]

    async def audit_recent(self, count: int, before: str = "+") -> list[dict[str, str]]:
        """Audit entries newest first, at most ``count``, older than the entry id ``before``."""
        entries = cast(Entries, await self._redis.xrevrange(keys.AUDIT, max=before, count=count))
        return [dict(fields, id=eid) for eid, fields in entries]

    async def forget(self, number: str) -> int:
        """Delete every event and audit entry that names ``number``; returns how many."""
        return await self._forget_in(keys.EVENTS, number) + await self._forget_in(keys.AUDIT, number)

    async def _forget_in(self, stream: str, number: str) -> int:
        doomed: list[str] = []
        last = "-"
        while True:
            batch = cast(Entries, await self._redis.xrange(stream, min=last, count=1000))
            if not batch:
                break
            for eid, data in batch:
                if number in data.values():
                    doomed.append(eid)
            if len(batch) < 1000:
                break
            last = "(" + batch[-1][0]
        if doomed:
            await self._redis.xdel(stream, *doomed)
        return len(doomed)
