from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from agi.numbers import ANONYMOUS, BadNumber, mask, normalise, parse_operator_number, parse_prefix


@pytest.mark.parametrize("raw", ["0612345678", "+31612345678", "0031612345678", "+31 6 1234 5678", " 06-12345678 "])
def test_one_caller_however_spelled(raw):
    assert normalise(raw, "NL") == "+31612345678"


@pytest.mark.parametrize("raw", ["", None, "anonymous", "Restricted", "unknown", "unavailable", "PRIVATE", "abc", "12",
                                 '"\nEXEC Dial(SIP/x)', "0" * 80])
def test_withheld_and_unparseable_are_anonymous(raw):
    assert normalise(raw, "NL") == ANONYMOUS


def test_default_region_matters():
    assert normalise("0471123456", "BE") == "+32471123456"


@given(st.text(max_size=80))
def test_normalise_never_raises_and_returns_e164_or_anonymous(raw):
    out = normalise(raw, "NL")
    assert out == ANONYMOUS or (out.startswith("+") and out[1:].isdigit() and 7 <= len(out) <= 16)


def test_mask():
    assert mask("+31612345678") == "+316****5678"
    assert mask("+31612345678", enabled=False) == "+31612345678"
    assert mask(ANONYMOUS) == ANONYMOUS


def test_operator_numbers_and_prefixes_are_checked():
    assert parse_operator_number("0612345678") == "+31612345678"
    assert parse_operator_number("anonymous") == ANONYMOUS
    with pytest.raises(BadNumber, match="not a phone number"):
        parse_operator_number("06-abc")
    assert parse_prefix("003185123") == "+3185123"
    with pytest.raises(BadNumber):
        parse_prefix("+31a")
