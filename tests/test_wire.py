"""Escaping into AGI commands: the one place caller-controlled text meets the protocol."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# Asterisk 22's application argument splitter, main/app.c __ast_app_separate_args(), followed
# line by line: parentheses and square brackets nest (a closing one without an opening one is
# ignored), double quotes toggle, a delimiter splits only outside all three; with remove_chars
# quotes and backslashes are removed and the character after a backslash is taken literally.
# At most arraylen arguments: the last one takes the rest of the string unsplit.
def ast_app_separate_args(data: str, delim: str, remove_chars: bool, arraylen: int) -> list[str]:
    buf = list(data)  # the writable C buffer; past its end reads as NUL

    def at(i):
        return buf[i] if 0 <= i < len(buf) else "\0"

    starts, scan, wasdelim = [], 0, None
    paren = quote = bracket = 0
    while at(scan) != "\0" and len(starts) < arraylen - 1:
        starts.append(scan)  # array[argc] = scan
        while at(scan) != "\0":
            ch = buf[scan]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = paren - 1 if paren else 0
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = bracket - 1 if bracket else 0
            elif ch == '"' and delim != '"':
                quote = 0 if quote else 1
                if remove_chars:  # memmove(scan, scan + 1, ...); scan--
                    del buf[scan]
                    scan -= 1
            elif ch == "\\":
                if remove_chars:  # memmove: the next character is literal, skipped below
                    del buf[scan]
                else:
                    scan += 1
            elif ch == delim and not paren and not quote and not bracket:
                wasdelim = scan
                buf[scan] = "\0"
                scan += 1
                break
            scan += 1
    # "If the last character in the original string was the delimiter, then there is one
    # additional argument."
    if at(scan) != "\0" or (scan > 0 and scan - 1 == wasdelim):
        starts.append(scan)
    text = "".join(buf) + "\0"
    return [text[i : text.index("\0", i)] if i < len(buf) else "" for i in starts]


# MSet: main/pbx_variables.c pbx_builtin_setvar_multiple(): AST_STANDARD_APP_ARGS (',' with
# remove_chars, 99 pairs), then AST_NONSTANDARD_APP_ARGS on each pair ('=', name and value);
# a pair without '=' is ignored with a warning.
def asterisk_mset(data: str) -> list[tuple[str, str]]:
    if not data:
        return []
    pairs = [ast_app_separate_args(p, "=", True, 2) for p in ast_app_separate_args(data, ",", True, 99)]
    return [(p[0], p[1]) for p in pairs if len(p) == 2]


def asterisk_exec_mset(line: str) -> list[tuple[str, str]]:
    """What Asterisk sets for an ``EXEC MSet ...`` AGI command line (res_agi.c handle_exec)."""
    argv = asterisk_parse_args(line)
    assert argv[:2] == ["EXEC", "MSet"] and len(argv) <= 3
    return asterisk_mset(argv[2] if len(argv) == 3 else "")


@pytest.mark.parametrize(
    "data, delim, arraylen, expected",
    [
        ("a,b,c", ",", 99, ["a", "b", "c"]),
        ("a,b,", ",", 99, ["a", "b", ""]),
        ("a,(b,c),d", ",", 99, ["a", "(b,c)", "d"]),
        ("a,[b,c],d", ",", 99, ["a", "[b,c]", "d"]),
        ("A=Jan[sen,B=x", ",", 99, ["A=Jan[sen,B=x"]),
        ("A=x],B=y", ",", 99, ["A=x]", "B=y"]),
        ('a,"b,c",d', ",", 99, ["a", "b,c", "d"]),
        ("a\\,b,c", ",", 99, ["a,b", "c"]),
        ("a,b,c", ",", 2, ["a", "b,c"]),
        ("N=v=w", "=", 2, ["N", "v=w"]),
        ("N=", "=", 2, ["N", ""]),
        ("N", "=", 2, ["N"]),
        ("", ",", 99, []),
    ],
)
def test_the_splitter_port_matches_asterisk_documented_behaviour(data, delim, arraylen, expected):
    assert ast_app_separate_args(data, delim, True, arraylen) == expected


# Caller-controlled text, rich in the characters Asterisk's parsers treat specially.
_HOSTILE = st.lists(
    st.one_of(st.sampled_from("[]"), st.sampled_from('()"\\,=$;{}| \t\n'), st.characters()), max_size=40
).map("".join)


@given(_HOSTILE)
def test_dialplan_safe_removes_argument_separators(value):
    out = wire.dialplan_safe(value)
    assert not set(out) & set(",|()\"'\\${};`=\n\r")
    # Substituted into any application's arguments, it stays exactly one argument.
    assert ast_app_separate_args(f"a,{out},b", ",", True, 99) == ["a", out, "b"]


@given(st.dictionaries(st.sampled_from(["GW_A", "GW_B", "__GW_C", "GW_CID_NAME"]), _HOSTILE, min_size=1))
def test_mset_sets_exactly_our_names_with_the_sanitised_values(values):
    assigned = asterisk_exec_mset(wire.mset(values))
    assert assigned == [(k, wire.dialplan_safe(str(v), 256)) for k, v in values.items()]


def test_a_lone_bracket_cannot_swallow_the_next_variable():
    line = wire.mset({"GW_CID_NAME": "[GW 2] Jan[sen", "GW_SENIOR": "Local/senior@seniors"})
    assert asterisk_exec_mset(line) == [("GW_CID_NAME", "[GW 2] Jansen"), ("GW_SENIOR", "Local/senior@seniors")]
    assert wire.dialplan_safe("a]b[c[d]") == "abc[d]"


def test_mset_refuses_more_pairs_than_asterisk_reads():
    with pytest.raises(ValueError):
        wire.mset({f"GW_{i}": i for i in range(100)})


def test_parse_result_values_and_junk():
    assert wire.result_value(wire.parse_result(b"200 result=1 (+31612345678)\r\n")) == "+31612345678"
    assert wire.result_value(wire.parse_result(b"200 result=0\n")) is None
    assert wire.parse_result(b"garbage\n")["error"] == "AGIBadResult"
    assert wire.parse_result(b"HANGUP\n")["error"] == "AGIResultHangup"


@pytest.mark.parametrize("line", [b"200 result=0\n", b"200 result=1\n", b"200 result=1\r\n", b"200 result=0"])
def test_the_common_results_parse_as_panoramisk_parses_them(line):
    from panoramisk.utils import parse_agi_result

    first = wire.parse_result(line)
    assert first == parse_agi_result(line.decode().strip())
    first["result"] = "changed"  # a caller's copy: the next parse is unaffected
    assert wire.parse_result(line)["result"] == (line[11:12].decode(), "")
