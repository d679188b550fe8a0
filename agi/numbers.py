"""Caller numbers: one identity per caller, whatever way the network spells it.

Every number is normalised to E.164 with the configured default region. Withheld,
empty and unparseable caller IDs are all one identity, :data:`ANONYMOUS`.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

ANONYMOUS = "anonymous"
WITHHELD = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "private", "withheld"})
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")


class BadNumber(ValueError):
    """A number given by an operator (CLI) that is not a phone number."""


def normalise(raw: str | None, region: str = "NL") -> str:
    """Return the E.164 form of a caller ID, or ``anonymous``; never raises."""
    return _normalise(raw or "", region)


@functools.lru_cache(maxsize=16384)
def _normalise(raw: str, region: str) -> str:
    # Cached: a PBX sees the same caller IDs again and again, and parsing is the costliest
    # pure step of a screening (see docs/benchmarks.md).
    text = raw.strip()
    if text.lower() in WITHHELD or len(text) > 64:
        return ANONYMOUS
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ANONYMOUS
    if not phonenumbers.is_possible_number(parsed):
        return ANONYMOUS
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if _E164.match(e164) else ANONYMOUS


def parse_operator_number(raw: str, region: str = "NL") -> str:
    """Normalise a number typed by a supervisor; raise BadNumber naming the problem."""
    number = normalise(raw, region)
    if number == ANONYMOUS and raw.strip().lower() != ANONYMOUS:
        raise BadNumber(f"{raw!r} is not a phone number (default region {region}).")
    return number


def parse_prefix(raw: str) -> str:
    """A number range for prefix entries: '+' and 2 to 14 digits, e.g. +3185123."""
    text = raw.strip().replace(" ", "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+[1-9][0-9]{1,13}", text):
        raise BadNumber(f"{raw!r} is not a number prefix (expected + and 2 to 14 digits, e.g. +3185123).")
    return text


def mask(number: str, enabled: bool = True) -> str:
    """Mask the middle of a number for logs: +31612345678 -> +316****5678."""
    if not enabled or number == ANONYMOUS:
        return number
    if len(number) < 9:
        return "****"
    return number[:4] + "****" + number[-4:]
