"""Live calls and recordings: which caller each agent interface is talking to, and the files kept.

- ``gw:live:<agent>`` (STRING, JSON :class:`~redis_schema.records.LiveCall`): set when the agent
  answers (the ``answered`` route), with a TTL that covers the call; when the call ends its TTL
  becomes ``[recordings] window_minutes``, the after-call window. :meth:`LiveCalls.current` is
  what the after-call code (and the help key) reads.
- ``gw:rec:open`` (HASH recording id -> JSON LiveCall): recordings whose fate is not settled
  yet; the recordings job keeps (hashes) or deletes each one.
- ``gw:recordings`` (HASH incident id -> JSON :class:`~redis_schema.records.Recording`): kept
  recordings, each belonging to an incident.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from typing import cast

from redis_schema import keys
from redis_schema.connection import Client, lua
from redis_schema.record_hash import Quarantine, RecordHash
from redis_schema.records import LIVE_CALL, RECORDING, BadRecord, LiveCall, Recording

MAX_CALL_SECONDS = 8 * 3600  # a live call whose end was never reported is forgotten after this


def recording_id(linkedid: str, agent: str) -> str:
    """A file-name-safe id of one agent's leg of one call."""
    digest = hashlib.sha256(agent.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9.-]', '', linkedid)[:64]}-{digest}"


class LiveCalls:
    """Every Redis read and write of live calls and recordings (attached to Store as ``store.live``)."""

    def __init__(self, redis: Client, quarantine: Quarantine) -> None:
        self._redis = redis
        self.open = RecordHash(redis, keys.RECORDINGS_OPEN, LIVE_CALL, quarantine)  # by recording id
        self.kept = RecordHash(redis, keys.RECORDINGS, RECORDING, quarantine)  # by incident id
        self.now = RecordHash(redis, keys.TALKING, LIVE_CALL, quarantine)  # by agent: the calls on now (issue 29)
        self._del_if_equal = redis.register_script(lua("del_if_equal"))

    async def current(self, agent_interface: str) -> LiveCall | None:
        """The call this agent interface answered last, while it lasts and for the window after."""
        raw = cast(str | None, await self._redis.get(keys.live_call(agent_interface)))
        if not raw:
            return None
        try:
            return LIVE_CALL.load("", raw)
        except BadRecord:
            return None

    async def start(self, call: LiveCall, window: int) -> None:
        """The agent answered: remember the call (and its recording, when there is one)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.live_call(call.agent), LIVE_CALL.dump(call), ex=MAX_CALL_SECONDS + window)
            pipe.hset(keys.TALKING, call.agent, LIVE_CALL.dump(call))  # the board's live calls (issue 29)
            if call.rid:
                pipe.hset(keys.RECORDINGS_OPEN, call.rid, LIVE_CALL.dump(call))
            await pipe.execute()

    async def end(self, agent: str, linkedid: str, at: float, window: int) -> LiveCall | None:
        """The agent's leg hung up: the after-call window starts."""
        await self.stop_talking(agent, linkedid)
        call = await self.current(agent)
        if call is None or call.linkedid != linkedid:
            return None
        ended = replace(call, ended=at)
        await self._redis.set(keys.live_call(agent), LIVE_CALL.dump(ended), ex=window)
        if call.rid:
            await self._update_open(call.rid, lambda c: replace(c, ended=c.ended or at))
        return ended

    async def mark_logged(self, agent: str, linkedid: str, incident: str) -> bool:
        """The call was logged as ``incident``: its recording is kept. False when it was logged already
        or is not this agent's current call."""
        call = await self.current(agent)
        if call is None or call.linkedid != linkedid or call.incident:
            return False
        await self._redis.set(keys.live_call(agent), LIVE_CALL.dump(replace(call, incident=incident)), keepttl=True)
        if call.rid:
            await self._update_open(call.rid, lambda c: c if c.incident else replace(c, incident=incident))
        return True

    async def _update_open(self, rid: str, change: Callable[[LiveCall], LiveCall]) -> None:
        for _ in range(5):  # compare-and-set: the recordings job may settle it meanwhile
            old = await self.open.get(rid)
            if old is None:
                return
            new = change(old)
            if await self.open.swap(rid, old, new):
                return

    async def settle(self, call: LiveCall, kept: Recording | None) -> bool:
        """Take an open recording off the list, as kept (``kept``) or deleted (None)."""
        if not await self.open.swap(call.rid, call, None):
            return False
        if kept is not None:
            await self.kept.put(kept.incident, kept)
        return True

    async def recording(self, incident: str) -> Recording | None:
        return await self.kept.get(incident)

    async def recordings(self) -> dict[str, Recording]:
        return await self.kept.all()

    async def drop_recording(self, incident: str) -> bool:
        return await self.kept.remove(incident)

    # ---- the calls in progress, for the board (issue 29) ----------------------------------------
    async def talking(self, now: float) -> list[LiveCall]:
        """Every call an agent is on now, longest first; an entry whose end never reached
        Grenswacht is dropped after ``MAX_CALL_SECONDS`` (an unreadable one is set aside)."""
        out = []
        for agent, call in (await self.now.all()).items():
            if call.started >= now - MAX_CALL_SECONDS:
                out.append(call)
            else:
                await self.now.swap(agent, call, None)
        return sorted(out, key=lambda c: (c.started, c.agent))

    async def talking_on(self, agent: str, linkedid: str) -> LiveCall | None:
        """The call ``linkedid`` that ``agent`` is on now, or None (ended, or never theirs)."""
        call = await self.now.get(agent[:200])
        return call if call is not None and call.linkedid == linkedid else None

    async def stop_talking(self, agent: str, linkedid: str) -> bool:
        """The agent's call ``linkedid`` ended (compare-and-set: a newer call of theirs stays)."""
        call = await self.talking_on(agent, linkedid)
        return call is not None and await self.now.swap(agent, call, None)

    # ---- the erasure (``forget``) ------------------------------------------------------------------
    async def forget(self, number: str, now: float) -> int:
        """Erase a caller from the calls in progress and just ended; returns how many entries.

        Their ``gw:live:<agent>`` records (so no after-call code logs them) and ``gw:talking``
        fields (the board's live panel) are deleted; an open recording of theirs keeps no caller,
        name or incident, and a call still on counts as ended ``now`` (its end will not reach the
        recording any more), so the recordings job deletes its file once the window has passed.
        Each by compare-and-set on the value read: a newer call of the same agent stays.
        One key at a time, so any Redis Cluster slot."""
        gone = 0
        for agent, call in (await self.now.all()).items():
            if call.caller == number and await self.now.swap(agent, call, None):
                gone += 1
        for rid, call in (await self.open.all()).items():
            anonymous = replace(call, caller=keys.ANONYMOUS, name="", screened="", incident="", ended=call.ended or now)
            if call.caller == number and await self.open.swap(rid, call, anonymous):
                gone += 1
        async for key in self._redis.scan_iter(match=keys.LIVE_SCAN, count=1000):
            raw = cast(str | None, await self._redis.get(key))
            if (
                raw
                and number in raw
                and self._of_caller(raw, number)
                and await self._del_if_equal(keys=[key], args=[raw])
            ):
                gone += 1
        return gone

    @staticmethod
    def _of_caller(raw: str, number: str) -> bool:
        """Whether a ``gw:live`` value is a call of ``number`` (an unreadable one naming it counts)."""
        try:
            return LIVE_CALL.load("", raw).caller == number
        except BadRecord:
            return True
