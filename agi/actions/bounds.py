"""Bounds on what a supervisor types: who they are, reasons and notes, and how wide a range is.

One place for the CLI and the console (both call the actions that call these), so both refuse
the same input with the same sentence. Every check is pure and runs before anything is written.
"""

from __future__ import annotations

import re

import phonenumbers

from agi.actions.errors import ActionError
from agi.sentences import Words

MAX_ACTOR = 64  # characters of a name in the audit trail and on a record ("set by")
MAX_REASON = 300  # one line: a ban's or an allowlist entry's reason (the console's field holds as much)
MAX_NOTE = 2000  # an incident's note or a debrief: several lines
MAX_ACCOUNT = 4000  # the agent's account of an incident ("what was said, exactly")
NOTE = Words("note", "notitie")


def actor_name(raw: str) -> str:
    """Who made a change: a name of printable characters on one line (no control characters)."""
    name = raw.strip()
    if not name or len(name) > MAX_ACTOR or not name.isprintable():
        raise ActionError(
            "the actor {raw!r} is not a name (1 to {most} printable characters, no line breaks or control characters).",
            raw=raw[:MAX_ACTOR],
            most=MAX_ACTOR,
        )
    return name


def reason_text(raw: str) -> str:
    """A reason: one line of at most MAX_REASON characters."""
    text = raw.strip()
    if len(text) > MAX_REASON:
        raise ActionError("the reason is longer than {limit} characters.", limit=MAX_REASON)
    if not text.isprintable():
        raise ActionError("the reason must be one line without control characters.")
    return text


def note_text(raw: str, limit: int = MAX_NOTE, what: Words = NOTE) -> str:
    """A note: at most ``limit`` characters; line breaks and tabs are kept, other control characters refused."""
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ActionError("the {what} is longer than {limit} characters.", what=what, limit=limit)
    if not text.replace("\n", "").replace("\t", "").isprintable():
        raise ActionError("the {what} must not contain control characters other than line breaks and tabs.", what=what)
    return text


def country_code_length(digits: str) -> int:
    """Digits of the country code a range's digits start with (country codes are prefix-free);
    3 when they start with none (too short for one, or unassigned)."""
    for size in (1, 2, 3):
        if len(digits) >= size and int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return size
    return 3


def wide_range(prefix: str, min_digits: int) -> int | None:
    """Pure: the digits after the country code of a range like +31 that is too wide to ban or
    allowlist without confirmation; None when it is narrow enough.

    Too wide: fewer than ``min_digits`` digits after the country code ([numbers] min_prefix_digits).
    """
    digits = prefix.lstrip("+")
    after = len(digits) - country_code_length(digits)
    if after >= min_digits:
        return None
    return max(after, 0)


def cursor(raw: str, member: re.Pattern[str], where: Words, max_time: float) -> tuple[float, str] | None:
    """A place in a list newest first, as the console's "next" links carry it ("<time>_<member>");
    "" is the top. ``where`` names the list in the sentence that refuses anything else."""
    if not raw:
        return None
    at, _, name = raw.partition("_")
    try:
        when = float(at)
    except ValueError:
        when = float("nan")
    if not (0 <= when < max_time and member.fullmatch(name)):
        raise ActionError("{raw!r} is not a position in {where}.", raw=raw[:60], where=where)
    return when, name
