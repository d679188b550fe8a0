"""Caller numbers: one identity per caller, whatever way the network spells it.

Every number is normalised to E.164 with the configured default region. Withheld,
empty and unparseable caller IDs are all one identity, :data:`ANONYMOUS`.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from agi.sentences import Sentence

ANONYMOUS = "anonymous"
WITHHELD = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "private", "withheld"})
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
# What an operator may type: digits, one leading +, and separators (00 is digits too).
_TYPED = re.compile(r"\+?[0-9 .()-]+")


class BadNumber(Sentence, ValueError):
    """A number given by an operator (CLI) that is not a phone number."""


def normalise(raw: str | None, region: str = "NL") -> str:
    """Return the E.164 form of a caller ID, or ``anonymous``; never raises."""
    if raw and raw[0] == "+":
        quick = _already_e164(raw)
        if quick is not None:
            return quick
    return _normalise(raw or "", region)


def _already_e164(text: str) -> str | None:
    """The answer for a caller ID that is already E.164, without phonenumbers' general parser;
    None when a rule below does not settle it, and the parser decides.

    For "+", a country code and a national number NSN, ``parse`` then ``format_number(E164)``
    gives back the text itself unless it strips a national prefix or keeps leading zeros; it
    does neither when NSN starts with no zero and the country's national-prefix pattern does
    not match its start. What remains is the possible-length check, against the lengths in
    phonenumbers' own metadata. The default region plays no part once there is a "+". A test
    holds this to the parser's answer for every country code. This is the path for a trunk that
    delivers E.164; a PBX with many distinct callers would otherwise pay the parser (about
    20 µs) per call, since the cache below cannot hold them all.
    """
    if not _E164.match(text):
        return None
    for size in (1, 2, 3):
        country = _COUNTRIES.get(text[1 : 1 + size])
        if country is not None:
            break
    else:
        return None
    prefix, lengths = country
    national = text[1 + size :]
    if national[0] == "0" or (prefix is not None and prefix.match(national)):
        return None
    return text if len(national) in lengths else ANONYMOUS


def _countries() -> dict[str, tuple[re.Pattern[str] | None, frozenset[int]]]:
    """Per country code (as digits): its national-prefix-for-parsing pattern (None: it has none)
    and the national lengths that ``is_possible_number`` accepts (its general description's
    possible lengths and local-only lengths). A code without metadata is left out: the parser
    decides."""
    out = {}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            code, phonenumbers.region_code_for_country_code(code)
        )
        if meta is None:
            continue
        general = meta.general_desc
        if general is None:
            continue
        lengths = frozenset(general.possible_length or ()) | frozenset(general.possible_length_local_only or ())
        if -1 in (general.possible_length or ()):
            lengths = frozenset()
        pattern = meta.national_prefix_for_parsing
        out[str(code)] = (re.compile(pattern) if pattern else None, lengths)
    return out


_COUNTRIES = _countries()


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if _E164.match(e164) else ANONYMOUS


@functools.lru_cache(maxsize=16384)
def _normalise(raw: str, region: str) -> str:
    # Cached: a PBX sees the same caller IDs again and again, and parsing is the costliest
    # pure step of a screening (see docs/benchmarks.md). Lenient on purpose: a caller ID is
    # whatever the network sends.
    text = raw.strip()
    if text.lower() in WITHHELD or len(text) > 64:
        return ANONYMOUS
    parsed = _parse(text, region)
    return _e164(parsed) if parsed is not None and phonenumbers.is_possible_number(parsed) else ANONYMOUS


def parse_operator_number(raw: str, region: str = "NL", *, valid: bool = True) -> str:
    """A number typed by a supervisor, exactly: E.164, or raise BadNumber naming the problem.

    Only digits, an optional leading + (or 00) and the separators people type (spaces, dashes,
    dots, parentheses) are allowed: no letters, no extension, nothing phonenumbers would quietly
    drop. With ``valid`` (for commands that create a record: ban, allow, incidents add) the
    number must be in use according to the numbering plan, so that a missing or extra digit
    is refused instead of landing on somebody else. Without it (look-ups, unban, disallow,
    forget) a *possible* number is enough: a spoofed caller ID that is not in the plan can
    still reach the logbook through the network, and must stay reachable for erasure.
    """
    text = raw.strip()
    if text.lower() == ANONYMOUS:
        return ANONYMOUS
    if len(text) > 64 or not _TYPED.fullmatch(text):
        raise BadNumber(
            "{raw!r} is not a phone number: only digits, a leading + or 00, spaces, dashes, dots and parentheses "
            "are allowed.",
            raw=raw,
        )
    parsed = _parse(text, region)
    check = phonenumbers.is_valid_number if valid else phonenumbers.is_possible_number
    number = _e164(parsed) if parsed is not None and check(parsed) else ANONYMOUS
    if number == ANONYMOUS:
        if valid:
            raise BadNumber("{raw!r} is not a valid phone number (default region {region}).", raw=raw, region=region)
        raise BadNumber("{raw!r} is not a phone number (default region {region}).", raw=raw, region=region)
    return number


def parse_prefix(raw: str) -> str:
    """A number range for prefix entries: '+' and 2 to 14 digits, e.g. +3185123."""
    text = raw.strip().replace(" ", "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+[1-9][0-9]{1,13}", text):
        raise BadNumber("{raw!r} is not a number prefix (expected + and 2 to 14 digits, e.g. +3185123).", raw=raw)
    return text


def mask(number: str, enabled: bool = True) -> str:
    """Mask the middle of a number for logs: +31612345678 -> +316****5678."""
    if not enabled or number == ANONYMOUS:
        return number
    if len(number) < 9:
        return "****"
    return number[:4] + "****" + number[-4:]
