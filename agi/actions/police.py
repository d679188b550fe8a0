"""Evidence for the police (issue 28): the recording of an incident, the "reported" mark, the
two-working-day deadline of a threat, and the report (a PDF, the recording and a manifest of
SHA-256 sums in one zip). The CLI and the console call these; every play, download and report is
in the audit trail with the user."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from agi.actions.bounds import actor_name, reason_text
from agi.actions.errors import ActionError
from agi.actions.logbook import get
from agi.actions.names import label
from agi.config import Config
from agi.engine import CallerRecord, Incident, decide
from redis_schema.records import Recording
from redis_schema.store import Store

THREAT = "threat"
REPORT_WORKING_DAYS = 2  # in the Netherlands a threat is reported within two working days
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core: Dutch diacritics


def report_deadline(at: float, zone: str) -> float:
    """Pure: the end of the second working day (Monday to Friday) after the day of ``at``."""
    tz = ZoneInfo(zone)
    day: date = datetime.fromtimestamp(at, tz).date()
    left = REPORT_WORKING_DAYS
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, time(23, 59, 59), tz).timestamp()


@dataclass(frozen=True)
class Unreported:
    incident: Incident
    deadline: float
    overdue: bool


async def unreported_threats(
    store: Store, config: Config, now: float, days: int = 30, limit: int = 100
) -> list[Unreported]:
    """Threats of the last ``days`` not yet marked reported, the most urgent (oldest) ``limit``
    first (the live board), from the index of unreported threats: exact however many incidents
    came after them."""
    ids, _ = await store.indexes.logbook.unreported(now - days * 86_400, limit)
    incidents = await store.incidents.incidents_by_id(ids)
    await store.indexes.logbook.reported([i.id for i in incidents if i.reported_at is not None])  # tidy
    out = [
        Unreported(inc, deadline, deadline < now)
        for inc in incidents
        if inc.category == THREAT and inc.reported_at is None
        for deadline in (report_deadline(inc.at, config.web.timezone),)
    ]
    return sorted(out, key=lambda u: u.deadline)


async def mark_reported(
    store: Store, incident_id: str, reported_on: float, reference: str, actor: str, now: float
) -> Incident:
    """The incident was reported to the police on ``reported_on``, under their ``reference``."""
    actor, reference = actor_name(actor), reason_text(reference)
    if not reference or len(reference) > 64:
        raise ActionError("the police's reference must be 1 to 64 characters on one line.")
    inc = await get(store, incident_id)
    if not inc.at - 86_400 <= reported_on <= now + 86_400:
        raise ActionError("the report date must be between the incident and today.")
    await store.notes.write(inc, reported_at=reported_on, reported_ref=reference)
    await store.streams.audit(actor, "incident-reported", now, caller=inc.caller, incident=inc.id, reference=reference)
    return replace(inc, reported_at=reported_on, reported_ref=reference)


async def recording(
    store: Store, incident_id: str, actor: str, now: float, how: str = "download", part: str = ""
) -> Recording:
    """The kept recording of an incident, for playing or downloading (``part``: the byte range a
    player asked for): audited with the user, every time."""
    actor = actor_name(actor)
    inc = await get(store, incident_id)
    rec = await store.live.recording(inc.id)
    if rec is None or not await asyncio.to_thread(Path(rec.file).is_file):
        raise ActionError("incident {iid} has no recording.", iid=inc.id)
    await store.streams.audit(actor, f"recording-{how}", now, caller=inc.caller, incident=inc.id, range=part)
    return rec


# ---- the report ---------------------------------------------------------------------------------


def _when(ts: float | None, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z") if ts else "-"


def arrival(linkedid: str, known: float) -> float:
    """When the call reached the PBX: the epoch second of Asterisk's linkedid (the caller's channel's
    uniqueid, "1799999940.17"), when it is one within the day before ``known``; else ``known``."""
    head, dot, tail = linkedid.partition(".")
    if dot and head.isdigit() and tail.isdigit() and known - 86_400 < int(head) <= known:
        return float(head)
    return known


def timeline(inc: Incident, earlier: list[Incident], rec: Recording | None, config: Config) -> list[tuple[float, str]]:
    """Pure: what the service saw of the call, in order (time, what)."""
    rows: list[tuple[float, str]] = []
    start = arrival(inc.linkedid, rec.started if rec is not None else inc.at)
    if inc.screened:  # what the service decided, kept from the call (the answered route)
        action, _, reason = inc.screened.partition(" ")
        rows.append((start, f"screening of the caller on arrival: {action} ({reason})"))
    else:  # an incident without it (logged by hand, or before this was kept): decided again
        protocol = config.protocol_for(None)[1]
        before = decide(CallerRecord(inc.caller, incidents=tuple(earlier)), protocol, start)
        rows.append(
            (
                start,
                f"screening of the caller on arrival: {before.action.value} ({before.reason.value}),"
                " decided again from the caller's earlier incidents",
            )
        )
    if rec is not None:
        rows.append((rec.started, f"agent {rec.agent or inc.agent} answered; recording started"))
    how = {"key": "key press", "aftercall": "after-call code", "handover": "handover key", "cli": "logged by hand"}
    rows.append((inc.at, f"{how.get(inc.source, inc.source or 'logged')}: incident logged as {inc.category}"))
    if rec is not None:
        rows.append((rec.started + rec.duration, "call ended (end of the recording)"))
    return sorted(rows)


def _pdf(config: Config) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    return pdf


def report_pdf(
    config: Config,
    inc: Incident,
    earlier: list[Incident],
    rec: Recording | None,
    made_by: str,
    now: float,
    agent_name: str = "",
) -> bytes:
    """The police report as PDF bytes (pure but for the fonts it reads)."""
    zone, org = config.web.timezone, config.organisation
    pdf = _pdf(config)

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)

    def line(label: str, value: str) -> None:
        pdf.multi_cell(0, 6, f"{label}: {value or '-'}", new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 9, "Report of a threat or abuse of a staff member", new_x="LMARGIN", new_y="NEXT")
    heading("Reporting organisation (on behalf of the employee)")
    line("Organisation", org.name)
    line("Address", org.address)
    line("Contact person", org.contact)
    heading("Incident")
    line("Incident id", inc.id)
    line("Category", inc.category)
    line("Date and time", _when(inc.at, zone))
    line("Caller's number", inc.caller)
    line("Caller's name (as the caller ID showed it)", inc.caller_name)
    line("Staff member (extension)", label(inc.agent, agent_name))
    line("Queue", inc.queue)
    line("Call id", inc.linkedid)
    heading("Timeline of the call (as recorded by the service)")
    for at, what in timeline(inc, earlier, rec, config):
        line(_when(at, zone), what)
    heading("Earlier incidents of this caller")
    for e in earlier:
        line(_when(e.at, zone), f"{e.category} ({e.id})")
    if not earlier:
        line("Earlier incidents", "none")
    heading("What was said, exactly (the staff member's account)")
    pdf.multi_cell(0, 6, inc.account or "-", new_x="LMARGIN", new_y="NEXT")
    line("Written down by", inc.account_by)
    heading("Debrief")
    line("Debrief", inc.debrief)
    line("Reacted consciously", inc.debrief_answer)
    line("Debrief by", inc.debrief_by)
    heading("Recording")
    if rec is not None:
        line("File", "recording.wav")
        line("Duration", f"{rec.duration:.1f} s")
        line("SHA-256", rec.sha256)
        line("Hashed when closed", _when(rec.closed, zone))
    else:
        line("Recording", "none")
    heading("For the police")
    line("Registration code of the police", inc.reported_ref or "______________________________")
    line("Report made", f"{_when(now, zone)} by {made_by}")
    return bytes(pdf.output())


def manifest(files: dict[str, bytes]) -> str:
    """``sha256sum -c`` format: one line per file."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())


async def report(store: Store, config: Config, incident_id: str, actor: str, now: float) -> bytes:
    """The police report of an incident as a zip (report.pdf, recording.wav, MANIFEST.sha256); audited."""
    actor = actor_name(actor)
    inc = await get(store, incident_id)
    history = (await store.screening.load_caller(inc.caller)).incidents if inc.caller != "anonymous" else ()
    earlier = [e for e in history if e.at < inc.at and e.id != inc.id]
    rec = await store.live.recording(inc.id)
    agent_name = (await store.agent_names.all()).get(inc.agent, "")
    files = {"report.pdf": await asyncio.to_thread(report_pdf, config, inc, earlier, rec, actor, now, agent_name)}
    if rec is not None:
        try:
            files["recording.wav"] = await asyncio.to_thread(Path(rec.file).read_bytes)
        except OSError:
            raise ActionError(
                "the recording of incident {iid} cannot be read ({file}).", iid=inc.id, file=rec.file
            ) from None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("MANIFEST.sha256", manifest(files))
    await store.streams.audit(actor, "incident-report", now, caller=inc.caller, incident=inc.id)
    return buf.getvalue()
