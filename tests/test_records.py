"""The record codecs (redis_schema.records): each shape made from a field table reads back as the value.

Property tests: any incident goes to the caller hash (through the real Lua write) and back, to a
journal line and back, and to an export row, CSV and JSON, unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agi.aftercare import notify
from agi.aftercare.journal import Entry, Journal, _encode
from agi.engine import Allow, Ban, Incident
from redis_schema import keys, records
from redis_schema.records import Appointment, Cooldown, User
from redis_schema.screening_read import parse_caller

FIXTURE_OK = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
times = st.integers(0, 253_402_300_799_000).map(lambda ms: ms / 1000)  # millisecond precision, as stored
callers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True) | st.just("anonymous")
incidents = st.builds(
    Incident,
    id=st.text("0123456789abcdef", min_size=1, max_size=16),
    at=times,
    category=text.filter(bool),
    severity=st.integers(-(2**31), 2**31),
    agent=text,
    queue=text,
    uniqueid=text,
    linkedid=text,
    note=text,
    source=text,
    actor=text,
    debrief=text,
    debrief_at=st.none() | times,
    debrief_answer=text,
    debrief_by=text,
    caller=callers,
)


def test_every_field_of_the_value_is_in_the_table_once():
    names = [f.name for f in records.INCIDENT]
    assert sorted(names) == sorted(n for n in Incident.__dataclass_fields__ if n != "slot")
    suffixes = [f.suffix for f in records.INCIDENT if f.suffix]
    assert len(set(suffixes)) == len(suffixes)


@given(incidents)
def test_incident_to_hash_fields_and_back(inc):
    raw = {keys.NEXT_INDEX: "3", **records.incident_hash("3", inc)}
    assert parse_caller(inc.caller, raw).incidents == (replace(inc, slot="3"),)


def _undebriefed(inc: Incident) -> Incident:
    return replace(inc, debrief="", debrief_at=None, debrief_answer="", debrief_by="")


@FIXTURE_OK
@given(inc=incidents)
async def test_incident_through_the_lua_write_and_back(store, inc, rdb):
    # A withheld caller's press is stored in a hash of its own (tests/test_store.py covers it).
    assume(inc.caller != keys.ANONYMOUS)
    await rdb.delete(keys.caller(inc.caller))
    assert await store.incidents.add_incident(inc) == (inc.id, True)
    # The Lua arguments made from the table write exactly the fields the table names ...
    raw = await rdb.hgetall(keys.caller(inc.caller))
    assert raw == {keys.NEXT_INDEX: "1", **records.incident_hash("1", _undebriefed(inc))}
    # ... and the debrief, written later, completes the value.
    expected = _undebriefed(inc)
    if inc.debrief_at is not None:
        await store.incidents.set_debrief(
            inc.caller, replace(inc, slot="1"), inc.debrief, inc.debrief_at, inc.debrief_by, inc.debrief_answer
        )
        expected = inc
    assert (await store.screening.load_caller(inc.caller)).incidents == (replace(expected, slot="1"),)


@given(incidents)
def test_incident_to_journal_line_and_back(inc):
    line = json.loads(_encode(Entry.new(inc, True, 1.0).line()))
    assert records.incident_from_json(line["incident"]) == inc


@FIXTURE_OK
@given(inc=incidents)
def test_a_journal_file_reads_back_every_field(tmp_path, inc):
    path = tmp_path / f"journal-{inc.id}.jsonl"
    path.write_bytes(_encode(Entry.new(inc, False, 1.0).line()))
    journal = Journal(path)
    journal.load()
    assert journal.entries[inc.id].incident == inc


def test_a_journal_line_from_before_0_2_still_reads(tmp_path):
    path = tmp_path / "journal.jsonl"
    old = {"incident_id": "0123456789ab", "caller": "+31612345678", "at": 5.5, "category": "abuse", "source": "key"}
    path.write_text(json.dumps(old) + "\n")
    journal = Journal(path)
    journal.load()
    entry = journal.entries["0123456789ab"]
    assert entry.incident == Incident("0123456789ab", 5.5, "abuse", source="key", caller="+31612345678")
    assert entry.pause


def test_a_malformed_journal_incident_is_refused():
    for bad in ({"id": "x", "at": 1, "caller": "+3161"}, {"id": "x", "at": 1, "category": 3, "caller": "+3161"}):
        try:
            records.incident_from_json(bad)
        except (ValueError, TypeError) as exc:
            assert exc
        else:
            raise AssertionError(f"{bad} was read")


@given(incidents)
def test_incident_to_event_webhook_and_ami(inc):
    event = notify.payload(inc)
    carried = {"id", "at", "category", "agent", "queue", "uniqueid", "linkedid", "source", "caller"}
    assert event == {"type": "incident", **{k: getattr(inc, k) for k in carried if getattr(inc, k) != ""}}
    ami = {
        "id": "IncidentId",
        "caller": "Caller",
        "category": "Category",
        "agent": "Agent",
        "queue": "Queue",
        "uniqueid": "CallUniqueid",
        "linkedid": "CallLinkedid",
        "at": "At",
        "source": "Source",
    }
    assert notify.event_fields(inc) == {ami[k]: str(v) for k, v in event.items() if k != "type"}
    assert json.loads(json.dumps(event)) == event  # the webhook body


def _expected_cell(column: str, value):
    if isinstance(value, str):  # numbers are never quoted: -1 is a number, not a formula
        return "'" + value if column != "caller" and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    return "" if value is None else str(value)


@given(st.lists(incidents, max_size=4))
def test_incident_to_export_row_csv_and_json(incs):
    rows = [records.incident_row(i) for i in incs]
    assert [list(r) for r in rows] == [[f.name for f in records.INCIDENT]] * len(incs)
    parsed = list(csv.DictReader(io.StringIO(records.export_csv(rows), newline="")))
    assert [list(p) for p in parsed] == [list(records.EXPORT_COLUMNS)] * len(incs)
    assert parsed == [{c: _expected_cell(c, getattr(i, c)) for c in records.EXPORT_COLUMNS} for i in incs]
    assert json.loads(records.export_json(rows)) == rows


def test_a_formula_in_any_cell_is_neutralised_but_not_the_callers_number():
    inc = Incident("i1", 1.0, "abuse", note='=HYPERLINK("http://x","y")', agent="@a", queue="-1", caller="+3161")
    [row] = list(csv.DictReader(io.StringIO(records.export_csv([records.incident_row(inc)]))))
    assert (row["note"], row["agent"], row["queue"], row["caller"]) == (
        '\'=HYPERLINK("http://x","y")',
        "'@a",
        "'-1",
        "+3161",
    )


bans = st.builds(Ban, until=times, reason=text, source=text, set_at=times, actor=text)
allows = st.builds(Allow, reason=text, set_at=times, actor=text)


@given(bans, allows)
def test_ban_and_allowlist_entry_to_hash_fields_and_back(ban, allow):
    record = parse_caller("+31612345678", {**records.ban_hash(ban), **records.allow_hash(allow)})
    assert (record.ban, record.allow) == (ban, allow)


appointments = st.builds(
    Appointment,
    id=text,
    caller=callers,
    agent=text,
    queue=text,
    due=times,
    created=times,
    incident=text,
    agreed=times,
    attempts=st.integers(0, 1000),
    status=st.sampled_from(records.STATUSES),
    outcome=text,
    claim=text,
    lease=times,
    updated=times,
    by=text,
)
cooldowns = st.builds(Cooldown, interface=text, queues=st.lists(text, max_size=4).map(tuple), since=times, until=times)
users_ = st.builds(User, name=text, role=text, gen=st.integers(0, 10**6), created_at=times, created_by=text, hash=text)


@given(appointments)
def test_appointment_to_json_and_back(appt):
    assert Appointment.load(appt.dump()) == appt
    assert json.loads(appt.dump()) == dataclasses.asdict(appt)  # the layout stored before: same text


@given(cooldowns)
def test_cooldown_to_json_and_back(state):
    assert Cooldown.load(state.interface, state.dump()) == state


@given(users_)
def test_user_to_json_and_back(user):
    assert records.USER.load(user.name, records.USER.dump(user)) == user


def test_stored_text_of_before_reads_and_malformed_is_refused():
    old_user = '{"role": "admin", "gen": 3, "at": 1.5, "by": "test", "hash": "h"}'  # json.dumps' default layout
    assert records.USER.load("ann", old_user) == User("ann", "admin", 3, 1.5, "test", "h")
    assert records.USER.load("ann", '{"role": "admin", "hash": "h"}') == User("ann", "admin", hash="h")
    for codec, bad in (
        (records.USER, '{"hash": "h"}'),
        (records.USER, "[1]"),
        (records.COOLDOWN, '{"queues": [1], "since": 1, "until": 2}'),
        (records.APPOINTMENT, '{"id": "a", "caller": "+31", "agent": "x", "queue": "q", "status": "lost"}'),
    ):
        try:
            codec.load("x", bad)
        except records.BadRecord:
            continue
        raise AssertionError(f"{bad} was read")


async def test_users_leave_the_store_typed_and_a_malformed_one_is_set_aside(store, rdb):
    ann = User("ann", "admin", 2, 1.5, "test", "argon2-hash")
    await store.users.put(ann.name, ann)
    await rdb.hset(keys.USERS, "bob", "{not json")
    assert await store.users.all() == {"ann": ann}
    assert list((await rdb.hgetall(keys.QUARANTINE)).values()) == ["{not json"]
    assert (await store.users.get("ann"), await store.users.get("bob"), await store.users.get("carol")) == (
        ann,
        None,
        None,
    )


@given(bans.map(lambda b: dataclasses.replace(b, source="prefix")), allows)
def test_prefix_ban_and_allow_to_json_and_back(ban, allow):
    assert records.PREFIX_BAN.load("+3120", records.PREFIX_BAN.dump(ban)) == ban
    assert records.PREFIX_ALLOW.load("+3120", records.PREFIX_ALLOW.dump(allow)) == allow


async def test_prefix_lists_stored_before_still_read(store, rdb):
    await rdb.hset(keys.PREFIX_BANS, "+3190", json.dumps({"until": 9.5, "reason": "r", "at": 1, "by": "sup"}))
    await rdb.hset(keys.PREFIX_ALLOWS, "+3180", json.dumps({"reason": "care", "at": 2, "by": "sup"}))
    bans, allows = await store.screening.load_prefixes()
    assert bans == {"+3190": Ban(until=9.5, reason="r", source="prefix", set_at=1.0, actor="sup")}
    assert allows == {"+3180": Allow(reason="care", set_at=2.0, actor="sup")}
