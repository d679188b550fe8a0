"""One codec per record: the field table of each stored value, and every shape made from it.

An incident travels as one typed value (:class:`agi.engine.Incident`) from the key press to
Redis, the journal, the notifications and the exports. Its field table, :data:`INCIDENT`, is the
only place its fields are listed; from it come:

- the caller-hash fields ``<slot>.<suffix>`` and the ``add_incident.lua`` arguments
  (:func:`incident_args`, :func:`incident_hash`, :func:`decode_incidents`),
- the journal line (:func:`incident_to_json`, :func:`incident_from_json`),
- the logbook event, the webhook body and the AMI UserEvent headers (:func:`incident_event`,
  :func:`incident_ami`),
- the export row, and the one CSV and JSON writer that the CLI and the console share
  (:func:`incident_row`, :func:`export_csv`, :func:`export_json`).

The ban and allowlist entry of the caller hash have their field tables in keys.BAN_FIELDS and
keys.ALLOW_FIELDS (:func:`ban_hash`, :func:`decode_ban`, ...). The records kept as one JSON value
per hash field — appointment, cool-down, console user, prefix ban and allow — each have one
:class:`JsonCodec` (:data:`APPOINTMENT`, :data:`COOLDOWN`, :data:`USER`, :data:`PREFIX_BAN`,
:data:`PREFIX_ALLOW`); Store gives and takes their typed values.

Decoding never raises on what Redis holds: a malformed incident is skipped (the caller logs it);
a malformed JSON record raises :class:`BadRecord`, which Store turns into a quarantined entry.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from typing import Any, Generic, TypeVar

from agi.engine import Allow, Ban, Incident
from redis_schema import keys

# Stored times beyond the year 9999 cannot be shown or compared sensibly; they are read as this.
MAX_TIME = 253_402_300_799.0


def num(value: str | float | None, kind: type[float] | type[int] = float) -> float | int | None:
    """A stored number, or None when absent or malformed (never raises)."""
    try:
        number = kind(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    if number is not None and not -MAX_TIME <= number <= MAX_TIME:  # inf, nan and absurd years
        return MAX_TIME if number == number and number > 0 else None
    return number


def fmt(value: Any) -> str:
    """A value as Redis stores it: times with millisecond precision, the rest as text."""
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(value)


# ---- the incident --------------------------------------------------------------------------

STR, FLOAT, INT, OPT_FLOAT = "str", "float", "int", "float|None"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record: its attribute, where and how it is stored, who else carries it."""

    name: str  # attribute of the typed value, and its key in the journal line, export and events
    suffix: str  # caller-hash field "<slot>.<suffix>"; "" = not a field of the hash
    kind: str  # STR | FLOAT | INT | OPT_FLOAT
    at_add: bool = False  # written by add_incident.lua when the incident is stored
    ami: str = ""  # the AMI UserEvent header; set = also in the logbook event and the webhook
    required: bool = False  # a JSON record without it cannot be read


INCIDENT: tuple[Field, ...] = (
    Field("id", "i", STR, ami="IncidentId"),  # ARGV[1] of add_incident.lua, stored once as "<n>.i"
    Field("at", "t", FLOAT, True, "At"),  # epoch seconds, UTC
    Field("category", "c", STR, True, "Category"),
    Field("severity", "s", INT, True),
    Field("agent", "a", STR, True, "Agent"),
    Field("queue", "q", STR, True, "Queue"),
    Field("uniqueid", "u", STR, True, "CallUniqueid"),
    Field("linkedid", "l", STR, True, "CallLinkedid"),
    Field("note", "n", STR, True),
    Field("source", "o", STR, True, "Source"),
    Field("actor", "by", STR, True),
    Field("debrief", "d", STR),  # the debrief fields are written later (set_debrief)
    Field("debrief_at", "dt", OPT_FLOAT),
    Field("debrief_answer", "da", STR),
    Field("debrief_by", "db", STR),
    Field("account", "ac", STR),  # "what was said, exactly" (set_account, for the police report)
    Field("account_by", "ab", STR),
    Field("reported_at", "ra", OPT_FLOAT),  # reported to the police (mark_reported)
    Field("reported_ref", "rr", STR),  # the police's registration code
    Field("caller", "", STR, ami="Caller"),  # the caller hash's own number, not a field in it
    Field("caller_name", "cn", STR, True, "CallerName"),  # caller ID name of the call (issue 30), cleaned
    Field("screened", "sd", STR, True),  # the call's screening on arrival, "action reason" (issue 28)
)
# "slot" is not in the table: a storage detail (the "<n>" of the hash fields), never carried on.

SUFFIX_OF = {f.name: f.suffix for f in INCIDENT if f.suffix}
NAME_OF = {f.suffix: f.name for f in INCIDENT if f.suffix}
_ADD_ARGS = tuple((f.name, f.suffix) for f in INCIDENT if f.at_add)
_AMI = tuple((f.name, f.ami) for f in INCIDENT if f.ami)
_NAMES = tuple(f.name for f in INCIDENT)
_NUMERIC = {f.name: f.kind for f in INCIDENT if f.kind != STR}


def incident_args(inc: Incident, retention: int) -> list[str]:
    """ARGV of add_incident.lua: id, linkedid, source, TTL, then suffix/value pairs of what is set."""
    args = [inc.id, inc.linkedid, inc.source, str(retention)]
    for name, suffix in _ADD_ARGS:
        value = getattr(inc, name)
        if value != "" and value is not None:
            args += (suffix, fmt(value))
    return args


def incident_hash(slot: str, inc: Incident) -> dict[str, str]:
    """The caller-hash fields of an incident at ``slot`` (what add_incident.lua and set_debrief write)."""
    return {
        f"{slot}.{f.suffix}": fmt(value)
        for f in INCIDENT
        if f.suffix and (value := getattr(inc, f.name)) != "" and value is not None
    }


def debrief_hash(slot: str, note: str, at: float, actor: str, answer: str) -> dict[str, str]:
    """The fields set_debrief writes (an empty answer leaves a stored one as it is)."""
    mapping = {
        f"{slot}.{SUFFIX_OF['debrief']}": note,
        f"{slot}.{SUFFIX_OF['debrief_at']}": fmt(at),
        f"{slot}.{SUFFIX_OF['debrief_by']}": actor,
    }
    if answer:
        mapping[f"{slot}.{SUFFIX_OF['debrief_answer']}"] = answer
    return mapping


def incident_fields_hash(slot: str, values: Mapping[str, str | float]) -> dict[str, str]:
    """Caller-hash fields of some of an incident's attributes (by name) at ``slot``."""
    return {f"{slot}.{SUFFIX_OF[name]}": fmt(value) for name, value in values.items()}


def incident_field_names(slot: str) -> list[str]:
    """Every hash field an incident at ``slot`` may have (to delete it)."""
    return [f"{slot}.{s}" for s in (*NAME_OF, DEBRIEF_HISTORY)]


# The debriefs an incident had before the one in place: "<slot>.dh", a JSON list, oldest first, of
# {at, by, note, answer} (stored text), appended by debrief.lua. Not an Incident field: only the
# incident page and `incidents show` read it (IncidentLog.debriefs).
DEBRIEF_HISTORY = "dh"


@dataclass(frozen=True, slots=True)
class Debrief:
    """One debrief of an incident: when, by whom, the agent's answer and the note."""

    at: float | None
    by: str
    note: str
    answer: str


def debrief_history(raw: str | None, inc: Incident) -> list[Debrief]:
    """Every debrief of ``inc``, oldest first: the earlier ones (``raw``, "<slot>.dh"), then the one
    in place. A malformed history reads as none (never raises)."""
    try:
        earlier = json.loads(raw) if raw else []
    except ValueError:
        earlier = []
    out = [
        Debrief(num(e.get("at")), str(e.get("by", "")), str(e.get("note", "")), str(e.get("answer", "")))
        for e in (earlier if isinstance(earlier, list) else [])
        if isinstance(e, dict)
    ]
    if inc.debrief_at is not None:
        out.append(Debrief(inc.debrief_at, inc.debrief_by, inc.debrief, inc.debrief_answer))
    return out


def int_or_zero(value: str | None) -> int:
    """A stored count, 0 when absent or malformed."""
    return int(num(value, int) or 0)


_DECODE_STORED: dict[str, Callable[[str], Any]] = {
    name: (int_or_zero if kind == INT else num) for name, kind in _NUMERIC.items() if name != "at"
}


def decode_incidents(
    number: str, groups: Mapping[str, dict[str, str]], skipped: Callable[[str], None]
) -> list[Incident]:
    """Incidents from the caller hash's fields grouped by slot (name -> stored text), oldest first.

    One without a time, category or id is skipped (``skipped(slot)`` is told); a malformed
    severity reads as 0, a malformed debrief time as None.
    """
    incidents = []
    for slot, stored in groups.items():
        data: dict[str, Any] = stored  # decoded in place: no copy per incident
        at = num(data.get("at"))
        if at is None or not data.get("category") or not data.get("id"):
            skipped(slot)
            continue
        data["at"] = at
        for name, decode in _DECODE_STORED.items():
            if name in data:
                data[name] = decode(data[name])
        incidents.append(Incident(slot=slot, caller=number, **data))
    incidents.sort(key=lambda i: (i.at, i.id))
    return incidents


def incident_to_json(inc: Incident) -> dict[str, Any]:
    """The fields that are set, for the journal line (the slot is a storage detail)."""
    return {name: value for name in _NAMES if (value := getattr(inc, name)) != "" and value is not None}


def incident_from_json(data: Mapping[str, Any]) -> Incident:
    """Inverse of incident_to_json; raises ValueError/TypeError on a malformed value."""
    values: dict[str, Any] = {}
    for f in INCIDENT:
        if f.name not in data:
            continue
        value = data[f.name]
        if f.kind == STR:
            if not isinstance(value, str):
                raise TypeError(f"{f.name} is not text")
        elif f.kind == INT:
            value = int(value)
        elif value is not None or f.kind == FLOAT:
            value = float(value)
        values[f.name] = value
    if not values.get("id") or not values.get("category") or not values.get("caller") or "at" not in values:
        raise ValueError("incident without id, time, category or caller")
    return Incident(**values)


def incident_event(inc: Incident) -> dict[str, Any]:
    """The incident as the logbook event stream and the webhook carry it."""
    out: dict[str, Any] = {"type": "incident"}
    for name, _ in _AMI:
        value = getattr(inc, name)
        if value != "" and value is not None:
            out[name] = value
    return out


def incident_ami(inc: Incident) -> dict[str, str]:
    """CamelCase AMI headers; values are ours or Asterisk's, and check_action refuses line breaks."""
    return {header: str(value) for name, header in _AMI if (value := getattr(inc, name)) != "" and value is not None}


# ---- exports: one row per incident, one CSV and one JSON writer --------------------------------

EXPORT_COLUMNS = ("id", "caller", *(n for n in _NAMES if n not in ("id", "caller")))


def incident_row(inc: Incident, number: str | None = None) -> dict[str, Any]:
    """Every field of an incident (unset ones as "" or None), for exports and ``--json`` output."""
    row = {name: getattr(inc, name) for name in _NAMES}
    if number is not None:
        row["caller"] = number
    return row


_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_TIMES = tuple(f.name for f in INCIDENT if f.kind in (FLOAT, OPT_FLOAT))  # epoch seconds in Redis
CSV_BOM = "\ufeff"  # spreadsheets read the file as UTF-8 only with it


def local_time(ts: Any, zone: tzinfo) -> str | None:
    """A stored time as ISO 8601 with the offset of ``zone``; None stays None, "invalid" if no calendar holds it."""
    if ts is None or ts == "":
        return None
    try:
        return datetime.fromtimestamp(float(ts), zone).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return "invalid"


def export_row(row: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    """An incident row (:func:`incident_row`) as exported: its times readable, in ``zone``."""
    return {k: (local_time(v, zone) if k in _TIMES else v) for k, v in row.items()}


def _cell(column: str, value: Any) -> Any:
    """A cell that a spreadsheet would run as a formula (= + - @, tab, CR first) is quoted with '.
    The caller's number is exempt: an E.164 number starts with + and nothing runs it there.
    An empty cell stays empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA) and column != "caller":
        return "'" + value
    return value


def _csv_text(write: Callable[[csv.DictWriter[str]], Any]) -> str:
    buf = io.StringIO()
    # RFC 4180's CRLF line ends: with "\n" alone, a cell holding a lone CR was left unquoted and
    # broke its row in two when read back.
    write(csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n"))
    return buf.getvalue()


def export_csv_head() -> str:
    """The start of an export's CSV file: the BOM and the header line."""
    return CSV_BOM + _csv_text(lambda w: w.writeheader())


def export_csv_rows(rows: Iterable[Mapping[str, Any]], zone: tzinfo) -> str:
    """Incident rows (:func:`incident_row`) as CSV lines: formula-safe, times in ``zone``."""
    return _csv_text(lambda w: w.writerows({k: _cell(k, v) for k, v in export_row(r, zone).items()} for r in rows))


def export_csv(rows: Iterable[Mapping[str, Any]], zone: tzinfo) -> str:
    """A whole export as CSV (a streamed one is the head, then rows in batches): the CLI's and the console's file."""
    return export_csv_head() + export_csv_rows(rows, zone)


def export_json(data: Any) -> str:
    """An export as JSON: indented, non-ASCII kept, anything else as text."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def export_json_rows(rows: Iterable[Mapping[str, Any]], zone: tzinfo, first: bool) -> str:
    """Incident rows as a piece of one streamed JSON list (``first``: the list's first piece).
    Joined with :func:`export_json_end`, the pieces are ``export_json`` of the list of
    :func:`export_row` rows, to the byte."""
    out = []
    for row in rows:
        out.append(("[\n" if first else ",\n") + textwrap.indent(export_json(export_row(row, zone)), "  "))
        first = False
    return "".join(out)


def export_json_end(empty: bool) -> str:
    return "[]" if empty else "\n]"


# ---- the caller hash's ban and allowlist entry ------------------------------------------------


def ban_hash(ban: Ban) -> dict[str, str]:
    """The caller-hash fields of a ban (keys.BAN_FIELDS names them)."""
    return {field: fmt(getattr(ban, name)) for field, name in keys.BAN_FIELDS.items()}


def allow_hash(allow: Allow) -> dict[str, str]:
    """The caller-hash fields of an allowlist entry (keys.ALLOW_FIELDS names them)."""
    return {field: fmt(getattr(allow, name)) for field, name in keys.ALLOW_FIELDS.items()}


def decode_ban(stored: Mapping[str, str]) -> Ban | None:
    """A ban from its fields (attribute -> stored text); None without a readable end."""
    until = num(stored.get("until"))
    if until is None:
        return None
    return Ban(
        until=until,
        reason=stored.get("reason", ""),
        source=stored.get("source", "manual"),
        set_at=num(stored.get("set_at")) or 0.0,
        actor=stored.get("actor", ""),
    )


def decode_allow(stored: Mapping[str, str]) -> Allow | None:
    """An allowlist entry from its fields; None when there are none."""
    if not stored:
        return None
    return Allow(
        reason=stored.get("reason", ""), set_at=num(stored.get("set_at")) or 0.0, actor=stored.get("actor", "")
    )


# ---- records stored as one JSON value per hash field: appointment, cool-down, console user -----

STRS = "list[str]"


class BadRecord(ValueError):
    """A stored record that cannot be read (set aside, reported)."""


class BadAppointment(BadRecord):
    """A stored appointment that cannot be read."""


class BadState(BadRecord):
    """A stored cool-down entry that cannot be read."""


def _read(kind: str, value: Any) -> Any:
    if kind == STR:
        if not isinstance(value, str):
            raise TypeError("not text")
        return value
    if kind == INT:
        return int(value)
    if kind == STRS:
        if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
            raise TypeError("not a list of text")
        return tuple(value)
    return float(value)


_KINDS = {"str": STR, "float": FLOAT, "int": INT, "tuple[str, ...]": STRS}  # annotation -> kind


def table_of(cls: type, required: tuple[str, ...] = (), key: str = "") -> tuple[Field, ...]:
    """The JSON field table of a dataclass of str, float, int and tuple[str, ...] fields, its keys
    the attribute names, so the fields are spelled once (in the class); ``key``: the attribute
    that is the hash field itself (not in the JSON)."""
    table = tuple(
        Field(f.name, f.name, _KINDS.get(str(f.type), ""), required=f.name in required)
        for f in fields(cls)
        if f.name != key
    )
    if not all(f.kind for f in table):
        raise TypeError(f"{cls.__name__}: only str, float, int and tuple[str, ...] fields")
    return table


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JsonCodec(Generic[T]):
    """A record stored as one compact JSON object per hash field (keys sorted: its text is stable,
    so a compare-and-set on the text works). ``key``: the attribute that is the hash field itself."""

    cls: type[T]
    table: tuple[Field, ...]  # suffix = the JSON key
    kind: str  # names it in gw:quarantine and the log
    key: str = ""
    error: type[BadRecord] = BadRecord
    fixed: tuple[tuple[str, Any], ...] = ()  # attributes every value read has (not stored)

    def dump(self, value: T) -> str:
        data = {f.suffix: getattr(value, f.name) for f in self.table}
        return json.dumps(
            {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}, separators=(",", ":"), sort_keys=True
        )

    def load(self, field: str, raw: str) -> T:
        """The record stored at hash field ``field``; raises ``self.error`` when it cannot be read."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            values = dict(self.fixed, **({self.key: field} if self.key else {}))
            for f in self.table:
                if f.suffix in data:
                    values[f.name] = _read(f.kind, data[f.suffix])
                elif f.required:
                    raise KeyError(f.suffix)
            return self.cls(**values)
        except (ValueError, TypeError, KeyError) as exc:
            raise self.error(
                f"{self.cls.__name__.lower()} {field} is malformed ({type(exc).__name__}: {exc})"
            ) from None


SCHEDULED, CALLING, DONE, NO_ANSWER, FAILED, CANCELLED, MISSED = (
    "scheduled",
    "calling",
    "done",
    "no-answer",
    "failed",
    "cancelled",
    "missed",
)
STATUSES = (SCHEDULED, CALLING, DONE, NO_ANSWER, FAILED, CANCELLED, MISSED)


@dataclass(frozen=True)
class Appointment:
    """A callback appointment (agi.callbacks), from the key press to Redis and the logbook."""

    id: str
    caller: str  # E.164
    agent: str  # the interface of the agent who made it (rung first)
    queue: str
    due: float = 0.0  # epoch seconds (UTC) of the agreed local time
    created: float = 0.0
    incident: str = ""  # the incident the key press logged
    agreed: float = 0.0  # when the time was agreed (the press)
    attempts: int = 0
    status: str = SCHEDULED
    outcome: str = ""  # last result: ANSWER, NOANSWER, BUSY, agent-no-answer, banned, ...
    claim: str = ""  # token of the instance placing it
    lease: float = 0.0  # the claim holds until then
    updated: float = 0.0
    by: str = ""  # who made or last changed it

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}")

    @staticmethod
    def new_id(now: float) -> str:
        return f"{int(now):08x}{secrets.token_hex(4)}"

    def dump(self) -> str:
        return APPOINTMENT.dump(self)

    @classmethod
    def load(cls, raw: str) -> Appointment:
        try:
            field = json.loads(raw).get("id", "")
        except (ValueError, AttributeError):
            field = ""
        return APPOINTMENT.load(field if isinstance(field, str) else "", raw)

    def public(self) -> dict[str, Any]:
        """As shown to operators and exported (the claim is a detail of the placer)."""
        return {f.name: getattr(self, f.name) for f in APPOINTMENT.table if f.name not in ("claim", "lease")}


APPOINTMENT: JsonCodec[Appointment] = JsonCodec(
    Appointment,
    (
        Field("id", "id", STR, required=True),
        Field("caller", "caller", STR, required=True),
        Field("agent", "agent", STR, required=True),
        Field("queue", "queue", STR, required=True),
        Field("due", "due", FLOAT),
        Field("created", "created", FLOAT),
        Field("incident", "incident", STR),
        Field("agreed", "agreed", FLOAT),
        Field("attempts", "attempts", INT),
        Field("status", "status", STR),
        Field("outcome", "outcome", STR),
        Field("claim", "claim", STR),
        Field("lease", "lease", FLOAT),
        Field("updated", "updated", FLOAT),
        Field("by", "by", STR),
    ),
    "callback",
    error=BadAppointment,
)


@dataclass(frozen=True)
class Cooldown:
    """One agent's cool-down (agi.aftercare.cooldown); the hash field is the agent's interface."""

    interface: str
    queues: tuple[str, ...]
    since: float
    until: float
    claim: str = ""  # token of the instance ending it
    lease: float = 0.0  # the claim holds until then

    def dump(self) -> str:
        return COOLDOWN.dump(self)

    @classmethod
    def load(cls, interface: str, raw: str) -> Cooldown:
        return COOLDOWN.load(interface, raw)


COOLDOWN: JsonCodec[Cooldown] = JsonCodec(
    Cooldown,
    table_of(Cooldown, ("queues", "since", "until"), key="interface"),
    "cooldown",
    key="interface",
    error=BadState,
)


def cooldown_before_0_2(interface: str, raw: str, due: float | None) -> Cooldown:
    """A cool-down in the layout before 0.2 ({queues, since}; its end kept apart, ``due``)."""
    try:
        old = json.loads(raw)
        return Cooldown(
            interface,
            tuple(str(q) for q in old["queues"]),
            float(old["since"]),
            float(due if due is not None else old["since"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadState(f"cooldown {interface} is malformed ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class User:
    """A console user (agi.actions.users); the hash field is the user name."""

    name: str
    role: str
    gen: int = 0  # random when added, bumped on a password change: ends every session of the user
    created_at: float = 0.0
    created_by: str = ""
    hash: str = ""
    phone: str = ""  # issue 29: the dial string the PBX rings for a listen-in, e.g. PJSIP/1005
    interfaces: tuple[str, ...] = ()  # issue 29: an agent's queue member interfaces (role agent)


USER: JsonCodec[User] = JsonCodec(
    User,
    (
        Field("role", "role", STR, required=True),
        Field("gen", "gen", INT),
        Field("created_at", "at", FLOAT),
        Field("created_by", "by", STR),
        Field("hash", "hash", STR, required=True),
        Field("phone", "phone", STR),
        Field("interfaces", "ifaces", STRS),
    ),
    "user",
    key="name",
)


PREFIX_BAN: JsonCodec[Ban] = JsonCodec(
    Ban,
    (
        Field("until", "until", FLOAT, required=True),
        Field("reason", "reason", STR),
        Field("set_at", "at", FLOAT),
        Field("actor", "by", STR),
    ),
    "prefix-ban",
    fixed=(("source", "prefix"),),
)
PREFIX_ALLOW: JsonCodec[Allow] = JsonCodec(
    Allow, (Field("reason", "reason", STR), Field("set_at", "at", FLOAT), Field("actor", "by", STR)), "prefix-allow"
)


# ---- live calls and recordings (redis_schema.live_calls; issue 28) ----------------------------


@dataclass(frozen=True)
class LiveCall:
    """An agent interface bridged with a caller: from the answer until the after-call window ends.
    Also the value of an open recording (``rid``: its id; ``file``: the file as Grenswacht sees it)."""

    agent: str
    linkedid: str
    caller: str  # E.164 or "anonymous"
    queue: str = ""
    channel: str = ""  # the agent's channel
    started: float = 0.0
    ended: float = 0.0  # 0: still talking
    rid: str = ""  # recording id, "" when not recorded
    file: str = ""
    incident: str = ""  # the incident this call was logged as, "" while not logged
    name: str = ""  # the caller ID name, cleaned (issue 30): copied onto the incident logged from it
    screened: str = ""  # the caller's screening on arrival, "action reason" (issue 28): copied likewise


LIVE_CALL: JsonCodec[LiveCall] = JsonCodec(LiveCall, table_of(LiveCall, ("agent", "linkedid", "caller")), "live-call")


@dataclass(frozen=True)
class Recording:
    """A kept recording: it belongs to an incident (the hash field is the incident id)."""

    incident: str
    linkedid: str
    caller: str
    file: str  # as Grenswacht sees it
    started: float = 0.0
    duration: float = 0.0  # seconds of audio in the file
    sha256: str = ""  # taken when the file was closed
    size: int = 0
    closed: float = 0.0  # when it was closed and hashed
    agent: str = ""


RECORDING: JsonCodec[Recording] = JsonCodec(
    Recording, table_of(Recording, ("linkedid", "caller", "file"), key="incident"), "recording", key="incident"
)


# ---- issue 29: a help request, stored while its call lasts (redis_schema.help_requests) -------


@dataclass(frozen=True)
class HelpRequest:
    """The agent pressed the help key: who, on which call, with which caller. ``call`` is the
    call's linkedid (the hash field); ``agent_channel`` is Asterisk's own name of the channel the
    key was pressed on (the AGI environment), the one a supervisor's listen-in spies on."""

    call: str
    agent_channel: str
    caller_channel: str = ""
    caller: str = ""
    score: int = 0
    incidents: int = 0
    rung: str = ""  # what screening would decide for the caller now: allow, warn, senior, refuse
    agent: str = ""  # the queue member interface, or the agent's device
    queue: str = ""
    started: float = 0.0  # when the call began (best known)
    asked: float = 0.0  # when the help key was pressed
    until: float = 0.0  # dropped after this even if no hang-up removed it


HELP: JsonCodec[HelpRequest] = JsonCodec(
    HelpRequest,
    (
        Field("agent_channel", "chan", STR, required=True),
        Field("caller_channel", "peer", STR),
        Field("caller", "caller", STR),
        Field("score", "score", INT),
        Field("incidents", "n", INT),
        Field("rung", "rung", STR),
        Field("agent", "agent", STR),
        Field("queue", "queue", STR),
        Field("started", "start", FLOAT),
        Field("asked", "at", FLOAT, required=True),
        Field("until", "until", FLOAT, required=True),
    ),
    "help",
    key="call",
)


def help_event(req: HelpRequest) -> dict[str, Any]:
    """A help request as the event stream and the webhook carry it (and, CamelCased, the UserEvent)."""
    fields = {f.name: getattr(req, f.name) for f in HELP.table}
    lasted = round(max(0.0, req.asked - req.started))  # how long the call had lasted at the key press (s)
    return {"type": "help", "id": req.call, "call": req.call, **fields, "lasted": lasted}


# ---- issue 29: an agent's own account of an incident, and their request to ban its caller ----


def account_field(slot: str) -> str:
    """The caller-hash field of an incident's account (the agent's own words)."""
    return f"{slot}.{SUFFIX_OF['account']}"


OPEN_REQUEST, APPROVED, DECLINED = "open", "approved", "declined"


@dataclass(frozen=True)
class BlockRequest:
    """An agent asks a supervisor to ban the caller of one of their incidents (the hash field is ``id``)."""

    id: str
    incident: str
    caller: str
    agent: str  # the agent's console user name
    reason: str
    at: float
    status: str = OPEN_REQUEST  # open | approved | declined
    note: str = ""  # the supervisor's note back to the agent
    decided_by: str = ""
    decided_at: float = 0.0


BLOCK_REQUEST: JsonCodec[BlockRequest] = JsonCodec(
    BlockRequest,
    (
        Field("incident", "inc", STR, required=True),
        Field("caller", "caller", STR, required=True),
        Field("agent", "agent", STR, required=True),
        Field("reason", "reason", STR),
        Field("at", "at", FLOAT, required=True),
        Field("status", "status", STR),
        Field("note", "note", STR),
        Field("decided_by", "by", STR),
        Field("decided_at", "dat", FLOAT),
    ),
    "block-request",
    key="id",
)
