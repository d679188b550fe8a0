"""Escaping into AGI commands: the one place caller-controlled text meets the protocol."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from agi.fastagi import wire

# Asterisk's own splitting of an AGI command line (res_agi.c parse_args), for checking.
def asterisk_parse_args(line: str) -> list[str]:
    argv, cur, quoted, escaped, in_word = [], "", False, False, False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            in_word = True
            continue
        if ch in " \t" and not quoted and not escaped:
            if in_word:
                argv.append(cur)
                cur, in_word = "", False
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        cur += ch
        in_word, escaped = True, False
    if in_word:
        argv.append(cur)
    return argv


@given(st.text(max_size=200))
def test_set_variable_round_trips_through_asterisk_parsing(value):
    line = wire.set_variable("GW_CID_NAME", value)
    assert "\n" not in line and "\r" not in line
    argv = asterisk_parse_args(line)
    assert argv[:3] == ["SET", "VARIABLE", "GW_CID_NAME"]
    assert len(argv) == 4
    assert argv[3] == re.sub(r"[\x00-\x1f\x7f]", " ", value)


def test_injection_attempt_stays_one_argument():
    hostile = 'Jansen"\nEXEC Dial(PJSIP/evil)\\'
    line = wire.set_variable("GW_CID_NAME", hostile)
    assert line == 'SET VARIABLE GW_CID_NAME "Jansen\\" EXEC Dial(PJSIP/evil)\\\\"'
    assert asterisk_parse_args(line)[3] == 'Jansen" EXEC Dial(PJSIP/evil)\\'


@pytest.mark.parametrize("name", ["GW X", "GW\nEXEC", 'A"', ""])
def test_variable_names_are_never_caller_controlled(name):
    with pytest.raises(ValueError):
        wire.set_variable(name, "x")


@given(st.text(max_size=100))
def test_dialplan_safe_removes_argument_separators(value):
    out = wire.dialplan_safe(value)
    assert not set(out) & set(',|()"\'\\${};`=\n\r')


@given(st.dictionaries(st.sampled_from(["GW_A", "GW_B", "__GW_C"]), st.text(max_size=40), min_size=1))
def test_mset_is_one_argument_and_splits_back_into_the_same_names(values):
    line = wire.mset(values)
    argv = asterisk_parse_args(line)
    assert argv[:2] == ["EXEC", "MSet"] and len(argv) <= 3
    pairs = (argv[2] if len(argv) == 3 else "").split(",")
    assert [p.split("=", 1)[0] for p in pairs] == list(values)


def test_parse_result_values_and_junk():
    assert wire.result_value(wire.parse_result(b"200 result=1 (+31612345678)\r\n")) == "+31612345678"
    assert wire.result_value(wire.parse_result(b"200 result=0\n")) is None
    assert wire.parse_result(b"garbage\n")["error"] == "AGIBadResult"
    assert wire.parse_result(b"HANGUP\n")["error"] == "AGIResultHangup"
