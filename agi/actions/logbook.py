"""The logbook: one caller's picture, incident queries with filters and pages, debriefs, export, erasure."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, replace
from datetime import tzinfo

from agi.actions.bounds import actor_name, cursor, note_text
from agi.actions.errors import ActionError
from agi.actions.lists import due_warnings, load_prefixes
from agi.callbacks import appointments
from agi.callbacks.model import Appointment
from agi.config import Config
from agi.engine import DAY, CallerRecord, Decision, Incident
from agi.numbers import ANONYMOUS
from agi.recording_files import delete_kept
from agi.screening import screen
from agi.sentences import Words
from redis_schema.incident_log import incident_dict
from redis_schema.rebuild import Rebuilt
from redis_schema.records import (
    MAX_TIME,
    Debrief,
    export_csv_head,
    export_csv_rows,
    export_json_end,
    export_json_rows,
    incident_event,
)
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
    name: str = ""  # the caller's last caller ID name (issue 30), "" when none is known


@dataclass(frozen=True)
class Filters:
    caller: str | None = None
    agent: str = ""
    queue: str = ""
    category: str = ""
    since: float | None = None
    until: float | None = None
    open_only: bool = False
    callers: tuple[str, ...] = ()  # several callers at once (a name they share, issue 30); or ``caller``


@dataclass(frozen=True)
class Page:
    items: list[Incident] = field(default_factory=list)
    page: int = 1
    more: bool = False
    after: str = ""  # where the next page continues (``position``); "" when there is none


def position(raw: str) -> tuple[float, str] | None:
    """A logbook position as the console's links carry it ("<time>_<incident id>"); "" is the newest."""
    return cursor(raw, _ID, Words("the logbook", "het logboek"), MAX_TIME)


def _position_str(at: float, iid: str) -> str:
    return f"{at!r}_{iid}"


def incident_id(raw: str) -> str:
    raw = raw.strip()
    if not _ID.match(raw):
        raise ActionError("{raw!r} is not an incident id (16 hexadecimal digits, or 12 for older ones).", raw=raw)
    return raw


async def caller_view(config: Config, store: Store, number: str, now: float, did: str | None = None) -> CallerView:
    """The decision now and why, through the same screening function as a live call (to ``did``)."""
    result = await screen(config, store, await load_prefixes(store), number, did, now, None)
    record = result.record if result.record is not None else CallerRecord(number)
    window = config.protocol_for(None)[1].window_days
    return CallerView(number, result.protocol, result.decision, record, window, name=await store.names.get(number))


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
        and (not f.callers or inc.caller in f.callers)
    )


async def query(
    store: Store,
    f: Filters,
    page: int = 1,
    per_page: int = 50,
    after: tuple[float, str] | None = None,
) -> Page:
    """One page of incidents, newest first, exact: read from the logbook's filter indexes
    (``redis_schema.logbook_index``), one sorted set by time per agent, queue, category and
    open debrief, so a rare match is found as fast as a common one and never left out.

    ``after`` (a ``position``): the page begins after that entry, else at the newest,
    ``page - 1`` pages in; ``after`` of the answer is where the next page begins.
    """
    page = max(1, page)
    skip = 0 if after is not None else (page - 1) * per_page
    numbers = f.callers or ((f.caller,) if f.caller and f.caller != ANONYMOUS else ())
    if numbers:  # a withheld caller's presses are each apart: the index finds them
        records = [await store.screening.load_caller(n) for n in numbers]
        items = sorted((i for r in records for i in r.incidents if matches(i, f)), key=lambda i: (i.at, i.id))[::-1]
        if after is not None:
            items = [i for i in items if (i.at, i.id) < after]
        chunk = items[skip : skip + per_page + 1]
        last = chunk[per_page - 1] if len(chunk) > per_page else None
        return Page(chunk[:per_page], page, last is not None, _position_str(last.at, last.id) if last else "")
    lo = f.since if f.since is not None else "-inf"
    hi = f"({f.until!r}" if f.until is not None else "+inf"
    ix = store.indexes.logbook
    groups = await ix.groups(
        agent=f.agent, queue=f.queue, category=f.category, open_only=f.open_only, anonymous=f.caller == ANONYMOUS
    )
    rows = await ix.page(groups, lo, hi, after, skip, per_page + 1)
    shown = rows[:per_page]
    found = {i.id: i for i in await store.incidents.incidents_by_id([iid for iid, _ in shown])}
    items = [found[iid] for iid, _ in shown if iid in found and matches(found[iid], f)]
    if len(rows) > per_page:
        iid, at = shown[-1]
        return Page(items, page, True, _position_str(at, iid))
    return Page(items, page, False)


async def every(store: Store, f: Filters, batch: int = 5000) -> list[Incident]:
    """Every incident that passes ``f``, newest first: every page of ``query``."""
    out: list[Incident] = []
    after: tuple[float, str] | None = None
    while True:
        got = await query(store, f, 1, batch, after)
        out += got.items
        if not got.more:
            return out
        after = position(got.after)


async def get(store: Store, iid: str) -> Incident:
    found = await store.incidents.get_incident(incident_id(iid))
    if found is None:
        raise ActionError("there is no incident with id {iid}.", iid=iid)
    return found[1]


async def debrief(store: Store, iid: str, answer: str, note: str, actor: str, now: float) -> Incident:
    """Record the debrief with the agent: the seed-004 answer and their reflection."""
    actor = actor_name(actor)
    if answer and answer not in DEBRIEF_ANSWERS:
        raise ActionError("the answer must be one of {answers}.", answers=", ".join(DEBRIEF_ANSWERS))
    note = note_text(note)
    if not note and not answer:
        raise ActionError("the debrief is empty: choose an answer or write a note.")
    inc = await get(store, iid)
    await store.incidents.set_debrief(inc.caller, inc, note, now, actor, answer)
    await store.streams.audit(actor, "incident-debrief", now, caller=inc.caller, incident=inc.id, answer=answer)
    await store.streams.publish_event({"type": "debrief", "id": inc.id, "at": now})  # the live board's panels
    return inc


async def debriefs(store: Store, inc: Incident) -> list[Debrief]:
    """Every debrief of an incident, oldest first: a second debrief adds to the history."""
    return await store.incidents.debriefs(inc.caller, inc)


async def add(
    store: Store, config: Config, number: str, category: str, note: str, at: float, actor: str, now: float
) -> str:
    actor, note = actor_name(actor), note_text(note)
    weights = config.protocol_for(None)[1].weights
    if category not in weights:
        raise ActionError(
            "category {category!r} is not in the protocol's weights ({weights}).",
            category=category,
            weights=", ".join(weights),
        )
    inc = Incident.new(number, category, at, severity=weights[category], note=note, source="cli", actor=actor)
    iid, created = await store.incidents.add_incident(inc)
    await store.streams.audit(actor, "incident-add", now, caller=number, incident=iid, category=category)
    if created:  # the live board and wallboards, as for an incident logged with the agents' key
        await store.streams.publish_event(incident_event(replace(inc, id=iid)))
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


EXPORT_BATCH = 500  # incidents read and written per piece of a streamed export


async def export_stream(store: Store, f: Filters, actor: str, now: float, fmt: str, zone: tzinfo) -> AsyncIterator[str]:
    """Every incident the filters match, newest first, as the pieces of one CSV or JSON file.

    The CLI's `export` and the console's download are this one stream: the whole filtered
    result, read in batches (never the whole logbook in memory), times readable in ``zone``.
    The export is audited, with its filters, before the first piece.
    """
    shown = {
        k: ",".join(v) if isinstance(v, tuple) else v for k, v in asdict(f).items() if v not in (None, "", False, ())
    }
    await store.streams.audit(actor_name(actor), "export", now, format=fmt, **shown)
    yield export_csv_head() if fmt == "csv" else ""
    n, after, empty = 1, None, True
    kept = await store.live.recordings() if fmt != "csv" else {}
    while True:
        page = await query(store, f, n, EXPORT_BATCH, after=after)
        rows = [incident_dict(i.caller, i) for i in page.items]
        for row in rows:  # JSON lists a kept recording (the CSV's columns stay the incident's own)
            if (rec := kept.get(row["id"])) is not None:
                row["recording"] = {"sha256": rec.sha256, "duration": rec.duration, "started": rec.started}
        yield export_csv_rows(rows, zone) if fmt == "csv" else export_json_rows(rows, zone, empty)
        empty = empty and not rows
        if not page.more:
            break
        after, n = (position(page.after), n) if page.after else (after, n + 1)
    if fmt != "csv":
        yield export_json_end(empty)


class ErasedNotOnDisk(ActionError):
    """The records are erased, but Redis did not confirm in time that its files on disk no longer hold them."""

    def __init__(self, removed: int, wait: float) -> None:
        super().__init__(
            "erased: {removed} record(s) removed, but durability not confirmed within {wait:g} s: Redis is still "
            "rewriting its files on disk, which may hold the number until then; run forget again later.",
            removed=removed,
            wait=wait,
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
        raise ActionError("type the number {number} exactly to confirm the erasure.", number=number)
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
            await delete_kept(store, rec)
        except OSError:
            continue  # the service's job deletes it once the incident is gone
    return len(doomed)


async def purge(store: Store, actor: str, now: float) -> int:
    actor = actor_name(actor)
    dropped = await store.erasure.purge(now)
    await store.streams.audit(actor, "purge", now, incidents=dropped)
    return dropped


async def rebuild_indexes(store: Store, config: Config, actor: str, now: float) -> Rebuilt:
    """Build the logbook's filter indexes, the statistics' counts and the warnings worklist again
    from every caller's hash, then decide each caller on the worklist once (so it holds only
    those due), and the callers' search by name from their names. For an upgrade, a change of [web]
    timezone or a restore; run it with the service stopped."""
    actor = actor_name(actor)
    t0 = time.perf_counter()
    done = await store.rebuild.run()
    done = replace(done, names=await store.names.rebuild(), seconds=time.perf_counter() - t0)
    await due_warnings(store, config, now)
    await store.streams.audit(
        actor, "rebuild-indexes", now, callers=done.callers, incidents=done.incidents, names=done.names
    )
    return done


async def recent(store: Store, now: float, hours: float = 24, limit: int = 500) -> list[Incident]:
    """The newest ``limit`` incidents of the last ``hours``, newest first (the live board)."""
    ids = await store.incidents.incident_page(now - hours * 3600, "+inf", 0, limit)
    return await store.incidents.incidents_by_id(ids)


async def recent_count(store: Store, now: float, hours: float) -> int:
    """How many incidents there were in the last ``hours`` (the live board's count of today's)."""
    return await store.incidents.incident_count(now - hours * 3600)


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
        raise ActionError("the account is longer than {limit} characters.", limit=MAX_ACCOUNT)
    if not text.replace("\n", "").replace("\t", "").isprintable():
        raise ActionError("the account must not contain control characters other than line breaks and tabs.")
    inc = await get(store, incident_id)
    await store.accounts.set(await store.incidents.incident_owner(inc.id) or inc.caller, inc.slot, text, actor)
    await store.streams.audit(actor, "incident-account", now, caller=inc.caller, incident=inc.id, chars=len(text))
    return inc
