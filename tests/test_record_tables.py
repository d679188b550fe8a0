"""Codecs whose field table comes from the dataclass (``records.table_of``): the fields are
spelled once, so a field added to the class is stored without a second list to keep in step."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from redis_schema.records import LIVE_CALL, RECORDING, BadRecord, LiveCall, Recording, table_of


def test_every_attribute_but_the_hash_field_is_stored_and_read_back():
    call = LiveCall("PJSIP/1001", "1.1", "+31612345678", "q", "PJSIP/1001-01", 1.5, 2.5, "r", "/f.wav", "i1")
    assert LIVE_CALL.load("", LIVE_CALL.dump(call)) == call
    rec = Recording("i1", "1.1", "+31612345678", "/f.wav", 1.0, 2.0, "ab", 3, 4.0, "PJSIP/1001")
    assert "incident" not in RECORDING.dump(rec)  # the hash field holds it
    assert RECORDING.load("i1", RECORDING.dump(rec)) == rec
    assert {f.name for f in RECORDING.table} == {f.name for f in fields(Recording)} - {"incident"}


def test_a_required_field_missing_is_a_bad_record():
    with pytest.raises(BadRecord):
        LIVE_CALL.load("", '{"agent":"PJSIP/1001","linkedid":"1.1"}')  # no caller
    assert LIVE_CALL.load("", '{"agent":"a","linkedid":"l","caller":"c"}').queue == ""


def test_a_field_of_another_kind_is_refused_when_the_table_is_made():
    @dataclass(frozen=True)
    class Odd:
        name: str
        tags: list[str]

    with pytest.raises(TypeError, match="only str, float and int"):
        table_of(Odd)
