"""Codecs whose field table comes from the dataclass (``records.table_of``): the fields are
spelled once, so a field added to the class is stored without a second list to keep in step."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from redis_schema.records import COOLDOWN, LIVE_CALL, RECORDING, BadRecord, Cooldown, LiveCall, Recording, table_of


def test_every_attribute_but_the_hash_field_is_stored_and_read_back():
    call = LiveCall("PJSIP/1001", "1.1", "+31612345678", "q", "PJSIP/1001-01", 1.5, 2.5, "r", "/f.wav", "i1")
    assert LIVE_CALL.load("", LIVE_CALL.dump(call)) == call
    rec = Recording("i1", "1.1", "+31612345678", "/f.wav", 1.0, 2.0, "ab", 3, 4.0, "PJSIP/1001")
    assert "incident" not in RECORDING.dump(rec)  # the hash field holds it
    assert RECORDING.load("i1", RECORDING.dump(rec)) == rec
    assert {f.name for f in RECORDING.table} == {f.name for f in fields(Recording)} - {"incident"}
    cooldown = Cooldown("PJSIP/1001", ("support", "sales"), 1.0, 2.0, "token", 3.0)
    assert COOLDOWN.dump(cooldown) == (
        '{"claim":"token","lease":3.0,"queues":["support","sales"],"since":1.0,"until":2.0}'
    )  # the stored text as before: a compare-and-set on the old text still matches
    assert COOLDOWN.load("PJSIP/1001", COOLDOWN.dump(cooldown)) == cooldown


def test_a_required_field_missing_is_a_bad_record():
    with pytest.raises(BadRecord):
        LIVE_CALL.load("", '{"agent":"PJSIP/1001","linkedid":"1.1"}')  # no caller
    assert LIVE_CALL.load("", '{"agent":"a","linkedid":"l","caller":"c"}').queue == ""


def test_a_field_of_another_kind_is_refused_when_the_table_is_made():
    @dataclass(frozen=True)
    class Odd:
        name: str
        tags: list[str]  # tuple[str, ...] is the one sequence a table holds

    with pytest.raises(TypeError, match="only str, float, int and tuple"):
        table_of(Odd)
