from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agi import numbers
from agi.numbers import ANONYMOUS, BadNumber, mask, normalise, parse_operator_number, parse_prefix


@pytest.mark.parametrize("raw", ["0612345678", "+31612345678", "0031612345678", "+31 6 1234 5678", " 06-12345678 "])
def test_one_caller_however_spelled(raw):
    assert normalise(raw, "NL") == "+31612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "anonymous",
        "Restricted",
        "unknown",
        "unavailable",
        "PRIVATE",
        "abc",
        "12",
        '"\nEXEC Dial(SIP/x)',
        "0" * 80,
    ],
)
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


# What a supervisor types must be exact: no letters, no extensions, nothing dropped quietly.


@pytest.mark.parametrize(
    "raw",
    [
        "06123456ab",
        "0612345678x9",
        "0612345678 ext 9",
        "0612345678;ext=9",
        "06-abc",
        "0612345678#",
        "++31612345678",
        "06/12345678",
        "0612\n345678",
        "tel:0612345678",
        "\uff10\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
        "061234567",
        "06123456789",
        "+3161234567",
        "",
        "()",
        "0" * 70,
    ],
)
def test_operator_numbers_are_exact_or_refused(raw):
    with pytest.raises(BadNumber, match="is not a"):
        parse_operator_number(raw)


@pytest.mark.parametrize(
    "raw", ["0612345678", "+31 (0)6 1234 5678", "06.12.34.56.78", "(06) 1234-5678", "0031 6 12345678", " +31612345678 "]
)
def test_operator_numbers_in_common_spellings(raw):
    assert parse_operator_number(raw) == "+31612345678"


def test_possible_but_not_valid_only_where_nothing_is_created():
    # +3161234567 lacks a digit: not in the numbering plan, so a ban or an incident is refused,
    # but a look-up or an erasure of a (spoofed) caller ID like it still works.
    with pytest.raises(BadNumber, match="is not a valid phone number"):
        parse_operator_number("+3161234567")
    assert parse_operator_number("+3161234567", valid=False) == "+3161234567"
    with pytest.raises(BadNumber):
        parse_operator_number("0612345678x9", valid=False)


def _text_with_a_letter():
    return st.tuples(st.text(max_size=20), st.characters(categories=("L",)), st.text(max_size=20)).map("".join)


@given(_text_with_a_letter(), st.booleans())
def test_any_letter_is_refused(raw, valid):
    assume(raw.strip().lower() != ANONYMOUS)
    with pytest.raises(BadNumber):
        parse_operator_number(raw, valid=valid)


EXAMPLES = [
    (region, number)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]
SEPARATORS = st.sampled_from(["", "", " ", "-", ".", "(", ")", " - "])


@st.composite
def spellings(draw):
    """(default region, one way of typing a valid number, its E.164)."""
    region, number = draw(st.sampled_from(EXAMPLES))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = re.sub(r"[^0-9]", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    form = draw(st.sampled_from(["+", "00", "national"]))
    digits = national if form == "national" else e164[1:]
    spaced = "".join(d + draw(SEPARATORS) for d in digits).strip(" -.")
    typed = {"+": "+", "00": "00", "national": ""}[form] + spaced
    default = region if form == "national" else draw(st.sampled_from(EXAMPLES))[0]
    return default, typed, e164


@given(spellings())
def test_every_accepted_spelling_of_a_valid_number_gives_one_e164(case):
    region, typed, e164 = case
    assert parse_operator_number(typed, region) == e164
    assert parse_operator_number(typed, region, valid=False) == e164


# The E.164 quick path must give exactly the parser's answer, for every country code.

_CODES = sorted(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _parser_answer(text: str, region: str) -> str:
    return numbers._normalise.__wrapped__(text, region)


@given(st.sampled_from(_CODES), st.text("0123456789", min_size=1, max_size=14), st.sampled_from(["NL", "BE", "US"]))
def test_the_e164_quick_path_answers_as_the_parser_does(code, national, region):
    text = f"+{code}{national}"
    quick = numbers._already_e164(text)
    assume(quick is not None)
    assert quick == _parser_answer(text, region)
    assert normalise(text, region) == quick


@pytest.mark.parametrize("code", _CODES)
def test_the_e164_quick_path_for_each_country_code(code):
    # Lengths around every country's possible lengths, with and without a leading 1..9 digit.
    for length in range(2, 16 - len(code)):
        for first in "1234567890":
            text = f"+{code}{first}{'7' * (length - 1)}"
            quick = numbers._already_e164(text)
            if quick is not None:
                assert quick == _parser_answer(text, "NL"), text


def test_the_e164_quick_path_takes_the_common_cases_and_leaves_the_rest():
    assert numbers._already_e164("+31612345678") == "+31612345678"
    assert numbers._already_e164("+3161") is None  # not E.164-shaped
    assert numbers._already_e164("+310612345678") is None  # a national prefix: the parser strips it
    assert normalise("+310612345678", "NL") == "+31612345678"
    assert numbers._already_e164("+31 6 1234 5678") is None  # spaces: the parser
    assert numbers._already_e164("+316123456789012") == ANONYMOUS  # too long for the Netherlands
