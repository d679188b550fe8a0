"""The logbook: one caller's picture, incident queries with filters and pages, debriefs, export, erasure."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from typing import Any

from agi import recordings
from agi.actions.bounds import actor_name, note_text
from agi.actions.errors import ActionError
from agi.actions.lists import load_prefixes
from agi.callbacks import appointments
from agi.callbacks.model import Appointment
from agi.config import Config
from agi.engine import DAY, CallerRecord, Decision, Incident
from agi.numbers import ANONYMOUS
from agi.screening import screen
from redis_schema.incident_log import incident_dict
from redis_schema.records import MAX_TIME
from redis_schema.store import Store

DEBRIEF_ANSWERS = ("conscious", "impulsive", "not-discussed")
_ID = re.compile(r"^(?:[0-9a-f]{12}|[0-9a-f]{16})$")
ERASE_WAIT_SECONDS = 30.0  # how long an erasure waits for Redis to rewrite its files on disk


@dataclass(frozen=True)
class CallerView:
    number: str
    protocol: str
    decision: Decision
    record: CallerRecord
    window_days: int
    appointments: tuple[Appointment, ...] = ()  # callback appointments (filled for an export)


@dataclass(frozen=True)
class Filters:
    caller: str | None = None
    agent: str = ""
    queue: str = ""
    category: str = ""
    since: float | None = None
    until: float | None = None
    open_only: bool = False


@dataclass(frozen=True)
class Page:
    items: list[Incident] = field(default_factory=list)
    page: int = 1
    more: bool = False
    after: str = ""  # where the next page continues (``position``); "" when there is none


def position(raw: str) -> tuple[float, str] | None:
    """A logbook position as the console's links carry it ("<time>_<incident id>"); "" is the newest."""
    if not raw:
        return None
    at, _, iid = raw.partition("_")
    try:
        when = float(at)
    except ValueError:
        when = float("nan")
    if not (0 <= when < MAX_TIME and _ID.match(iid)):
        raise ActionError(f"{raw[:60]!r} is not a position in the logbook.")
    return when, iid


def _position_str(at: float, iid: str) -> str:
    return f"{at!r}_{iid}"


def incident_id(raw: str) -> str:
    raw = raw.strip()
    if not _ID.match(raw):
        raise ActionError(f"{raw!r} is not an incident id (16 hexadecimal digits, or 12 for older ones).")
    return raw


async def caller_view(config: Config, store: Store, number: str, now: float, did: str | None = None) -> CallerView:
    """The decision now and why, through the same screening function as a live call (to ``did``)."""
    result = await screen(config, store, await load_prefixes(store), number, did, now, None)
    record = result.record if result.record is not None else CallerRecord(number)
    return CallerView(number, result.protocol, result.decision, record, config.protocol_for(None)[1].window_days)


def matches(inc: Incident, f: Filters) -> bool:
    """Pure: whether an incident passes the logbook filters."""
    return (
        (not f.agent or f.agent.lower() in inc.agent.lower())
        and (not f.queue or f.queue == inc.queue)
        and (not f.category or f.category == inc.category)
        and (f.since is None or inc.at >= f.since)
        and (f.until is None or inc.at < f.until)
        and (not f.open_only or inc.debrief_at is None)
        and (not f.caller or f.caller == inc.caller)
    )


async def query(
    store: Store,
    f: Filters,
    page: int = 1,
    per_page: int = 50,
    max_scan: int = 20_000,
    after: tuple[float, str] | None = None,
) -> Page:
    """One page of incidents, newest first. Reads the time index in batches and stops at a full page.

    ``after`` (a ``position``): the page begins after that index entry, else at the newest,
    ``page - 1`` pages in. ``max_scan`` bounds the index entries read for one page when filters
    match rarely; when it runs out first, the page holds what was found, ``more`` is set and
    ``after`` is where the next page continues the scan, so no match is ever out of reach.
    """
    page = max(1, page)
    skip = 0 if after is not None else (page - 1) * per_page
    want = skip + per_page + 1
    if f.caller and f.caller != ANONYMOUS:  # a withheld caller's presses are each apart: the index finds them
        items = [i for i in reversed((await store.screening.load_caller(f.caller)).incidents) if matches(i, f)]
        chunk = items[skip : skip + want]
        return Page(chunk[:per_page], page, len(chunk) > per_page)
    lo = f.since if f.since is not None else "-inf"
    hi = f"({f.until}" if f.until is not None else "+inf"
    out: list[tuple[Incident, float]] = []
    batch, seen, ended = want, 0, False  # unfiltered: one read of exactly the page; filtered: growing
    while len(out) < want and seen < max_scan:
        count = min(batch, max_scan - seen)
        rows = await store.incidents.incident_index(lo, hi, after, count)
        if not rows:
            ended = True
            break
        seen += len(rows)
        after = rows[-1][1], rows[-1][0]  # (time, id) of the last entry read
        found = {i.id: i for i in await store.incidents.incidents_by_id([iid for iid, _ in rows])}
        out += [(found[iid], at) for iid, at in rows if iid in found and matches(found[iid], f)]
        if len(rows) < count:
            ended = True
            break
        batch = min(batch * 2, 2000)
    shown = out[skip : skip + per_page]
    if len(out) > skip + per_page:  # a full page, and at least one more match
        inc, at = shown[-1]
        return Page([i for i, _ in shown], page, True, _position_str(at, inc.id))
    if ended or after is None:
        return Page([i for i, _ in shown], page, False)
    # The scan budget ran out before the end of the index: more may match after where it stopped.
    return Page([i for i, _ in shown], page, True, _position_str(*after))


async def get(store: Store, iid: str) -> Incident:
    found = await store.incidents.get_incident(incident_id(iid))
    if found is None:
        raise ActionError(f"there is no incident with id {iid}.")
    return found[1]


async def debrief(store: Store, iid: str, answer: str, note: str, actor: str, now: float) -> Incident:
    """Record the debrief with the agent: the seed-004 answer and their reflection."""
    actor = actor_name(actor)
    if answer and answer not in DEBRIEF_ANSWERS:
        raise ActionError(f"the answer must be one of {', '.join(DEBRIEF_ANSWERS)}.")
    note = note_text(note)
    if not note and not answer:
        raise ActionError("the debrief is empty: choose an answer or write a note.")
    inc = await get(store, iid)
    await store.incidents.set_debrief(inc.caller, inc, note, now, actor, answer)
    await store.streams.audit(actor, "incident-debrief", now, caller=inc.caller, incident=inc.id, answer=answer)
    return inc


async def add(
    store: Store, config: Config, number: str, category: str, note: str, at: float, actor: str, now: float
) -> str:
    actor, note = actor_name(actor), note_text(note)
    weights = config.protocol_for(None)[1].weights
    if category not in weights:
        raise ActionError(f"category {category!r} is not in the protocol's weights ({', '.join(weights)}).")
    iid, _ = await store.incidents.add_incident(
        Incident.new(number, category, at, severity=weights[category], note=note, source="cli", actor=actor)
    )
    await store.streams.audit(actor, "incident-add", now, caller=number, incident=iid, category=category)
    return iid


async def export_caller(
    config: Config, store: Store, number: str, actor: str, now: float, fmt: str = "json"
) -> CallerView:
    """One caller's data (a subject access request); the export itself is in the audit trail."""
    actor = actor_name(actor)
    view = await caller_view(config, store, number, now)
    view = replace(view, appointments=tuple(await appointments.listing(store, now=now, caller=number)))
    await store.streams.audit(
        actor,
        "export",
        now,
        caller=number,
        format=fmt,
        incidents=len(view.record.incidents),
        callbacks=len(view.appointments),
    )
    return view


async def export_all(store: Store, actor: str, now: float, fmt: str) -> list[dict[str, Any]]:
    actor = actor_name(actor)
    ids = [i for i, _ in await store.incidents.incident_ids(None)]
    items = [incident_dict(i.caller, i) for i in await store.incidents.incidents_by_id(ids)]
    kept = await store.live.recordings()
    for item in items:  # JSON lists a kept recording (the CSV's columns stay the incident's own)
        if (rec := kept.get(item["id"])) is not None:
            item["recording"] = {"sha256": rec.sha256, "duration": rec.duration, "started": rec.started}
    await store.streams.audit(actor, "export", now, format=fmt, incidents=len(items))
    return items


class ErasedNotOnDisk(ActionError):
    """The records are erased, but Redis did not confirm in time that its files on disk no longer hold them."""

    def __init__(self, removed: int, wait: float) -> None:
        super().__init__(
            f"erased: {removed} record(s) removed, but durability not confirmed within {wait:g} s: Redis is "
            "still rewriting its files on disk, which may hold the number until then; run forget again later."
        )
        self.removed, self.wait = removed, wait


async def erase(store: Store, number: str, confirmation: str, actor: str, now: float, wait: float | None = None) -> int:
    """Erase every record of a caller; ``confirmation`` must repeat the number exactly.

    The erasure is audited as soon as the records are gone, before Redis rewrites its files
    (waiting up to ``wait`` seconds, default ``ERASE_WAIT_SECONDS``); when that is not confirmed
    in time, :class:`ErasedNotOnDisk` says so (an ActionError: one sentence, CLI exit code 2).
    """
    actor = actor_name(actor)
    if confirmation.strip() != number:
        raise ActionError(f"type the number {number} exactly to confirm the erasure.")
    wait = ERASE_WAIT_SECONDS if wait is None else wait
    removed = await erase_recordings(store, number)
    removed += await store.erasure.erase_caller(number)
    await store.streams.audit(actor, "forget", now, records=removed)  # the entry keeps no number
    try:
        await store.erasure.rewrite_persistence(wait)
    except TimeoutError:
        await store.streams.audit(actor, "forget-not-on-disk", now, wait=f"{wait:g} s")
        raise ErasedNotOnDisk(removed, wait) from None
    return removed


async def erase_recordings(store: Store, number: str) -> int:
    """Delete the kept recordings of a caller, files and records (a file this host cannot see is
    deleted by the service's recordings job, which removes every recording whose incident is gone)."""
    doomed = [rec for rec in (await store.live.recordings()).values() if rec.caller == number]
    for rec in doomed:
        try:
            await asyncio.to_thread(recordings.remove_file, rec.file)
        except OSError:
            continue  # the service's job deletes it once the incident is gone
        await store.live.drop_recording(rec.incident)
    return len(doomed)


async def purge(store: Store, actor: str, now: float) -> int:
    actor = actor_name(actor)
    dropped = await store.erasure.purge(now)
    await store.streams.audit(actor, "purge", now, incidents=dropped)
    return dropped


async def recent(store: Store, now: float, hours: float = 24) -> list[Incident]:
    """Incidents of the last ``hours``, newest first (the live board)."""
    ids = await store.incidents.incident_page(now - hours * 3600, "+inf", 0, 500)
    return await store.incidents.incidents_by_id(ids)


async def open_debriefs(store: Store, now: float, days: int = 30, limit: int = 200) -> list[Incident]:
    page = await query(store, Filters(since=now - days * DAY, open_only=True), 1, limit)
    return [i for i in page.items if i.category not in ("handover", "callback")]


MAX_ACCOUNT = 4000


async def set_account(store: Store, incident_id: str, text: str, actor: str, now: float) -> Incident:
    """The agent's own account of an incident: what was said, exactly (at most 4000 characters).
    Audited with who wrote it; the text itself stays in the incident, not in the audit trail."""
    actor = actor_name(actor)
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_ACCOUNT:
        raise ActionError(f"the account is longer than {MAX_ACCOUNT} characters.")
    if not text.replace("\n", "").replace("\t", "").isprintable():
        raise ActionError("the account must not contain control characters other than line breaks and tabs.")
    inc = await get(store, incident_id)
    await store.accounts.set(await store.incidents.incident_owner(inc.id) or inc.caller, inc.slot, text)
    await store.streams.audit(actor, "incident-account", now, caller=inc.caller, incident=inc.id, chars=len(text))
    return inc
