"""The storage layer: every Redis read and write Grenswacht makes goes through :class:`Store`.

Key names come from :mod:`redis_schema.keys`; the layout is documented in SCHEMA.md.
Values read back are checked: a malformed field is skipped and logged, never a crash.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from importlib import resources
from typing import Any, Iterable, Mapping

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from agi.engine import Allow, Ban, CallerRecord, Incident
from redis_schema import keys

log = structlog.get_logger("grenswacht.store")


def connect(url: str, *, password: str | None = None, max_connections: int = 64,
            pool_timeout: float = 1.0, socket_timeout: float = 5.0) -> Redis:
    """A client whose pool waits (up to ``pool_timeout``) for a free connection instead of failing.

    A pooled connection that broke (Redis restarted) is retried twice on a fresh one, quickly;
    callers on the call path bound the whole thing with their own time budget.
    """
    pool = BlockingConnectionPool.from_url(
        url, password=password, max_connections=max_connections, timeout=pool_timeout,
        socket_timeout=socket_timeout, socket_connect_timeout=min(socket_timeout, 2.0),
        decode_responses=True, health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.005), 2),
    )
    return Redis.from_pool(pool)   # owns the pool: aclose() closes its connections too


def new_incident_id(now: float) -> str:
    """Short, unique, roughly time-ordered: 8 hex digits of time, 4 random."""
    return f"{int(now):08x}{secrets.token_hex(2)}"


def _num(value: str | None, kind=float):
    try:
        return kind(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_caller(number: str, raw: Mapping[str, str]) -> CallerRecord:
    """Turn the caller hash into a CallerRecord, skipping malformed entries."""
    groups: dict[str, dict[str, str]] = {}
    ban: dict[str, str] = {}
    allow: dict[str, str] = {}
    for name, value in raw.items():
        if name in keys.BAN_FIELDS:
            ban[keys.BAN_FIELDS[name]] = value
        elif name in keys.ALLOW_FIELDS:
            allow[keys.ALLOW_FIELDS[name]] = value
        elif "." in name and not name.startswith(("ban.", "allow.", "warn.")):
            slot, _, suffix = name.partition(".")
            if suffix in keys.INCIDENT_FIELDS:
                groups.setdefault(slot, {})[keys.INCIDENT_FIELDS[suffix]] = value
    incidents = []
    for slot, data in groups.items():
        at = _num(data.get("at"))
        if at is None or not data.get("category") or not data.get("id"):
            log.warning("malformed-incident-skipped", slot=slot)
            continue
        incidents.append(Incident(
            id=data["id"], slot=slot, at=at, category=data["category"], severity=_num(data.get("severity"), int) or 0,
            agent=data.get("agent", ""), queue=data.get("queue", ""), uniqueid=data.get("uniqueid", ""),
            linkedid=data.get("linkedid", ""), note=data.get("note", ""), source=data.get("source", ""),
            actor=data.get("actor", ""), debrief=data.get("debrief", ""), debrief_at=_num(data.get("debrief_at")),
        ))
    incidents.sort(key=lambda i: (i.at, i.id))
    ban_rec = None
    if "until" in ban and _num(ban["until"]) is not None:
        ban_rec = Ban(until=_num(ban["until"]), reason=ban.get("reason", ""), source=ban.get("source", "manual"),
                      set_at=_num(ban.get("set_at")) or 0.0, actor=ban.get("actor", ""))
    allow_rec = None
    if allow:
        allow_rec = Allow(reason=allow.get("reason", ""), set_at=_num(allow.get("set_at")) or 0.0,
                          actor=allow.get("actor", ""))
    return CallerRecord(number=number, incidents=tuple(incidents), ban=ban_rec, allow=allow_rec,
                        warning_sent_at=_num(raw.get(keys.WARNING_SENT)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(value)


class Store:
    """Grenswacht's Redis storage; one instance per process, shared by every route."""

    def __init__(self, redis: Redis, *, retention_days: int = 365):
        self.redis = redis
        self.retention = retention_days * keys.DAY
        self._add_incident = redis.register_script(
            resources.files("redis_schema").joinpath("lua/add_incident.lua").read_text(encoding="utf-8"))

    async def close(self) -> None:
        await self.redis.aclose()

    # ---- screening path -------------------------------------------------------------------
    async def load_caller(self, number: str) -> CallerRecord:
        """Everything screening needs about one caller: one command, one round trip."""
        raw = await self.redis.hgetall(keys.caller(number))
        return parse_caller(number, raw)

    async def load_prefixes(self) -> tuple[dict[str, Ban], dict[str, Allow]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.PREFIX_BANS)
            pipe.hgetall(keys.PREFIX_ALLOWS)
            raw_bans, raw_allows = await pipe.execute()
        bans, allows = {}, {}
        for prefix, value in raw_bans.items():
            try:
                d = json.loads(value)
                bans[prefix] = Ban(until=float(d["until"]), reason=d.get("reason", ""), source="prefix",
                                   set_at=float(d.get("at", 0)), actor=d.get("by", ""))
            except (ValueError, KeyError, TypeError):
                log.warning("malformed-prefix-ban-skipped", prefix=prefix)
        for prefix, value in raw_allows.items():
            try:
                d = json.loads(value)
                allows[prefix] = Allow(reason=d.get("reason", ""), set_at=float(d.get("at", 0)), actor=d.get("by", ""))
            except (ValueError, KeyError, TypeError):
                log.warning("malformed-prefix-allow-skipped", prefix=prefix)
        return bans, allows

    async def add_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add per-day screening counters: {(YYYY-MM-DD, field): n} in one pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for (day, name), n in counts.items():
                pipe.hincrby(keys.stats(day), name, n)
            for day in {d for d, _ in counts}:
                pipe.expire(keys.stats(day), keys.STATS_TTL)
            await pipe.execute()

    async def count_screening(self, action: str, reason: str, now: float) -> None:
        """Count one screening at once (tests, tools); the service batches through agi.counters."""
        from agi.counters import ScreeningCounters

        counters = ScreeningCounters()
        counters.count(action, reason, now)
        await counters.flush(self)

    # ---- writes ---------------------------------------------------------------------------
    async def add_incident(self, number: str, *, category: str, at: float, severity: int = 0, agent: str = "",
                           queue: str = "", uniqueid: str = "", linkedid: str = "", note: str = "",
                           source: str = "key", actor: str = "", incident_id: str | None = None) -> tuple[str, bool]:
        """Store an incident; at most one per (linkedid, source). Returns (id, created)."""
        iid = incident_id or new_incident_id(at)
        values = {"at": at, "category": category, "severity": severity, "agent": agent, "queue": queue,
                  "uniqueid": uniqueid, "linkedid": linkedid, "note": note, "source": source, "actor": actor}
        args: list[str] = [iid, linkedid, source, str(self.retention)]
        for name, value in values.items():
            if value not in ("", None):
                args += [keys.INCIDENT_SUFFIX[name], _fmt(value)]
        got_id, created = await self._add_incident(keys=[keys.caller(number)], args=args)
        if created:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(keys.INCIDENTS_BY_TIME, {got_id: at})
                pipe.hset(keys.INCIDENT_OWNER, got_id, number)
                await pipe.execute()
        return got_id, bool(created)

    async def bulk_load(self, callers: Iterable[tuple[str, list[dict], Ban | None]], batch: int = 2000) -> int:
        """Load many callers' histories, pipelined, through the same Lua write as a key press.

        Each item is (number, [incident kwargs as for add_incident], ban or None). For seeding
        (benchmark, migration); returns the number of incidents written.
        """
        written = 0
        pending = 0
        pipe = self.redis.pipeline(transaction=False)
        for number, incidents, ban in callers:
            for inc in incidents:
                iid = inc.get("incident_id") or new_incident_id(inc["at"])
                args = [iid, inc.get("linkedid", ""), inc.get("source", "key"), str(self.retention)]
                for name, value in inc.items():
                    if name != "incident_id" and value not in ("", None):  # "i" is written by the script
                        args += [keys.INCIDENT_SUFFIX[name], _fmt(value)]
                await self._add_incident(keys=[keys.caller(number)], args=args, client=pipe)
                pipe.zadd(keys.INCIDENTS_BY_TIME, {iid: inc["at"]})
                pipe.hset(keys.INCIDENT_OWNER, iid, number)
                written += 1
                pending += 1
            if ban is not None:
                pipe.hset(keys.caller(number), mapping={"ban.until": _fmt(ban.until), "ban.reason": ban.reason,
                                                        "ban.src": ban.source, "ban.at": _fmt(ban.set_at),
                                                        "ban.by": ban.actor})
                pending += 1
            if pending >= batch:
                await pipe.execute()
                pipe = self.redis.pipeline(transaction=False)
                pending = 0
        if pending:
            await pipe.execute()
        return written

    def _touch(self, pipe, number: str) -> None:
        pipe.expire(keys.caller(number), self.retention)

    async def set_ban(self, number: str, ban: Ban) -> None:
        mapping = {"ban.until": _fmt(ban.until), "ban.reason": ban.reason, "ban.src": ban.source,
                   "ban.at": _fmt(ban.set_at), "ban.by": ban.actor}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=mapping)
            self._touch(pipe, number)
            await pipe.execute()

    async def clear_ban(self, number: str) -> bool:
        return bool(await self.redis.hdel(keys.caller(number), *keys.BAN_FIELDS))

    async def set_allow(self, number: str, allow: Allow) -> None:
        mapping = {"allow.reason": allow.reason, "allow.at": _fmt(allow.set_at), "allow.by": allow.actor}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping=mapping)
            self._touch(pipe, number)
            await pipe.execute()

    async def clear_allow(self, number: str) -> bool:
        return bool(await self.redis.hdel(keys.caller(number), *keys.ALLOW_FIELDS))

    async def set_prefix(self, kind: str, prefix: str, entry: Mapping[str, Any]) -> None:
        await self.redis.hset(keys.PREFIX_BANS if kind == "ban" else keys.PREFIX_ALLOWS, prefix, json.dumps(entry))

    async def clear_prefix(self, kind: str, prefix: str) -> bool:
        return bool(await self.redis.hdel(keys.PREFIX_BANS if kind == "ban" else keys.PREFIX_ALLOWS, prefix))

    async def mark_warning_sent(self, number: str, at: float, actor: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.caller(number), mapping={keys.WARNING_SENT: _fmt(at), keys.WARNING_BY: actor})
            self._touch(pipe, number)
            await pipe.execute()

    # ---- logbook --------------------------------------------------------------------------
    async def incident_owner(self, incident_id: str) -> str | None:
        return await self.redis.hget(keys.INCIDENT_OWNER, incident_id)

    async def get_incident(self, incident_id: str) -> tuple[str, Incident] | None:
        number = await self.incident_owner(incident_id)
        if number is None:
            return None
        record = await self.load_caller(number)
        for inc in record.incidents:
            if inc.id == incident_id:
                return number, inc
        return None

    async def set_debrief(self, number: str, incident: Incident, note: str, at: float, actor: str) -> None:
        s = incident.slot
        await self.redis.hset(keys.caller(number), mapping={f"{s}.d": note, f"{s}.dt": _fmt(at), f"{s}.by": actor})

    async def incident_ids(self, since: float | None = None) -> list[tuple[str, float]]:
        rows = await self.redis.zrangebyscore(keys.INCIDENTS_BY_TIME, since if since is not None else "-inf",
                                              "+inf", withscores=True)
        return [(iid, at) for iid, at in rows]

    async def owners(self, ids: Iterable[str]) -> dict[str, str | None]:
        ids = list(ids)
        if not ids:
            return {}
        return dict(zip(ids, await self.redis.hmget(keys.INCIDENT_OWNER, ids)))

    async def load_callers(self, numbers: Iterable[str]) -> dict[str, CallerRecord]:
        numbers = list(dict.fromkeys(numbers))
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in numbers:
                pipe.hgetall(keys.caller(n))
            raws = await pipe.execute()
        return {n: parse_caller(n, raw) for n, raw in zip(numbers, raws)}

    async def all_callers(self):
        """Every caller number with a record (SCAN; for supervisor tools, not the call path)."""
        async for key in self.redis.scan_iter(match=keys.CALLER_SCAN, count=1000):
            yield key[key.index("{") + 1:key.rindex("}")]

    async def publish_event(self, event: Mapping[str, Any]) -> str:
        return await self.redis.xadd(keys.EVENTS, {k: _fmt(v) for k, v in event.items() if v is not None},
                                     maxlen=keys.EVENTS_MAXLEN, approximate=True)

    async def audit(self, actor: str, action: str, at: float, **details: Any) -> str:
        entry = {"actor": actor, "action": action, "at": _fmt(at)}
        entry.update({k: _fmt(v) for k, v in details.items() if v not in (None, "")})
        return await self.redis.xadd(keys.AUDIT, entry)

    async def audit_entries(self, since: float | None = None) -> list[dict[str, str]]:
        start = f"{int(since * 1000)}-0" if since is not None else "-"
        return [dict(fields, id=eid) for eid, fields in await self.redis.xrange(keys.AUDIT, min=start)]

    # ---- retention and erasure ------------------------------------------------------------
    async def forget(self, number: str) -> int:
        """Erase every record of a caller: their hash, index entries, events and stats mentions."""
        record = await self.load_caller(number)
        removed = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.caller(number))
            for inc in record.incidents:
                pipe.zrem(keys.INCIDENTS_BY_TIME, inc.id)
                pipe.hdel(keys.INCIDENT_OWNER, inc.id)
            results = await pipe.execute()
        removed += int(results[0])
        # Index entries whose hash had already expired still name the number.
        stale = [iid for iid, owner in (await self.redis.hgetall(keys.INCIDENT_OWNER)).items() if owner == number]
        if stale:
            await self.redis.zrem(keys.INCIDENTS_BY_TIME, *stale)
            await self.redis.hdel(keys.INCIDENT_OWNER, *stale)
        removed += await self._forget_in_stream(keys.EVENTS, number)
        removed += await self._forget_in_stream(keys.AUDIT, number)
        return removed

    async def _forget_in_stream(self, stream: str, number: str) -> int:
        doomed = []
        last = "-"
        while True:
            batch = await self.redis.xrange(stream, min=last, count=1000)
            if not batch:
                break
            for eid, data in batch:
                if number in data.values():
                    doomed.append(eid)
            if len(batch) < 1000:
                break
            last = "(" + batch[-1][0]
        if doomed:
            await self.redis.xdel(stream, *doomed)
        return len(doomed)

    async def purge(self, now: float) -> int:
        """Drop incidents older than retention, with their index entries. Returns how many."""
        cutoff = now - self.retention
        old = await self.redis.zrangebyscore(keys.INCIDENTS_BY_TIME, "-inf", cutoff)
        if not old:
            return 0
        owners = await self.owners(old)
        records = await self.load_callers(n for n in owners.values() if n)
        slots = {inc.id: (number, inc.slot) for number, rec in records.items() for inc in rec.incidents}
        async with self.redis.pipeline(transaction=False) as pipe:
            for iid in owners:
                if iid in slots:
                    number, slot = slots[iid]
                    pipe.hdel(keys.caller(number), *(f"{slot}.{s}" for s in keys.INCIDENT_FIELDS))
                pipe.zrem(keys.INCIDENTS_BY_TIME, iid)
                pipe.hdel(keys.INCIDENT_OWNER, iid)
            await pipe.execute()
        return len(old)


def incident_dict(number: str, inc: Incident) -> dict[str, Any]:
    d = asdict(inc)
    del d["slot"]           # a storage detail, not part of the record
    d["caller"] = number
    return d
