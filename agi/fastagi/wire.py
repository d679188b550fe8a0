"""The AGI wire protocol: the one place where values are escaped into commands.

Asterisk splits an AGI command line on blanks, groups words in double quotes and honours
backslash escapes; a newline ends the command. A caller-controlled value therefore must be
quoted, have ``\\`` and ``"`` escaped, and lose every control character (a newline would
start a new command, e.g. ``EXEC Dial(...)``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from panoramisk.utils import parse_agi_result

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters that would change the meaning of a value once the dialplan substitutes it
# into an application's arguments: argument separators, quotes, function parentheses,
# "=" (MSet's own separator) and "$" (without it, "[" and "{" start no expression).
# Square brackets are kept only in pairs (see dialplan_safe).
_DIALPLAN_UNSAFE = re.compile(r"[,|()\"'\\${};`=\x00-\x1f\x7f]")

MAX_RESULT_LINE = 8192
MSET_MAX_PAIRS = 99  # pbx_builtin_setvar_multiple: AST_APP_ARG(pair)[99]


def quote(value: object) -> str:
    """Quote one argument for an AGI command; safe for any input."""
    text = _CONTROL.sub(" ", str(value))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=1024)  # our own names: a handful, checked once each
def variable_name(name: str) -> str:
    """Variable names are ours, never the caller's; refuse anything unexpected loudly."""
    if not _NAME.match(name):
        raise ValueError(f"not a safe channel variable name: {name!r}")
    return name


def set_variable(name: str, value: object) -> str:
    return f"SET VARIABLE {variable_name(name)} {quote(value)}"


def get_variable(name: str) -> str:
    return f"GET VARIABLE {variable_name(name)}"


def get_full_variable(expression: str, channel: str | None = None) -> str:
    if channel is None:
        return f"GET FULL VARIABLE {quote(expression)}"
    return f"GET FULL VARIABLE {quote(expression)} {quote(channel)}"


def exec_app(app: str, *args: object) -> str:
    if not _NAME.match(app):
        raise ValueError(f"not a safe application name: {app!r}")
    return f"EXEC {app} {quote(','.join(str(a) for a in args))}"


def mset(variables: dict[str, object]) -> str:
    """Set several channel variables in one round trip (Asterisk's MSet application).

    MSet splits its argument on commas, so every value is reduced to dialplan-safe text
    first; names are ours and checked like any variable name. MSet reads at most 99 pairs
    (the 99th would take the rest unsplit), so more is a programming error.
    """
    if len(variables) > MSET_MAX_PAIRS:
        raise ValueError(f"MSet takes at most {MSET_MAX_PAIRS} variables, not {len(variables)}")
    pairs = ",".join(f"{variable_name(k)}={_mset_value(str(v))}" for k, v in variables.items())
    return f"EXEC MSet {quote(pairs)}"


@functools.lru_cache(maxsize=4096)  # most values repeat from call to call (allow, clean, 0, a path)
def _mset_value(value: str) -> str:
    return dialplan_safe(value, 256)


def dialplan_safe(value: str, limit: int = 64) -> str:
    """A value that the dialplan may substitute into an application argument as it is.

    Asterisk's argument splitter (main/app.c ``__ast_app_separate_args``) does not split on a
    comma inside square brackets, so a lone ``[`` (a caller named ``Jan[sen``) would swallow the
    arguments after it. Brackets that pair up are kept (``[GW 2] Jansen``), the others dropped.
    """
    return _paired_brackets(_DIALPLAN_UNSAFE.sub("", value).strip()[:limit]).strip()


def _paired_brackets(text: str) -> str:
    if "[" not in text and "]" not in text:
        return text
    unpaired, open_at = set(), []
    for i, ch in enumerate(text):
        if ch == "[":
            open_at.append(i)
        elif ch == "]":
            if open_at:
                open_at.pop()
            else:
                unpaired.add(i)
    unpaired.update(open_at)
    return "".join(ch for i, ch in enumerate(text) if i not in unpaired)


# The answers to nearly every command we send (MSet, SET VARIABLE), as panoramisk parses them.
_COMMON_RESULTS = {
    b"200 result=" + code: {"status_code": 200, "result": (code.decode(), ""), "msg": ""} for code in (b"0", b"1")
}


def parse_result(line: bytes) -> dict[str, Any]:
    """Parse one AGI result line with panoramisk's parser; tolerate CRLF and junk."""
    common = _COMMON_RESULTS.get(line.rstrip(b"\r\n"))
    if common is not None:
        return dict(common)
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    if not text or not (text[0].isdigit() or text == "HANGUP"):
        return {"error": "AGIBadResult", "msg": text[:200]}
    try:
        parsed: dict[str, Any] = parse_agi_result(text)  # panoramisk is untyped
        return parsed
    except (ValueError, TypeError, AttributeError):
        return {"error": "AGIBadResult", "msg": text[:200]}


def result_value(result: dict[str, Any]) -> str | None:
    """The value in ``200 result=1 (value)``; None when the variable is unset or on error."""
    if "error" in result or result.get("status_code") != 200:
        return None
    code: str
    data: str
    code, data = result.get("result", ("", ""))
    if code != "1":
        return None
    return data
