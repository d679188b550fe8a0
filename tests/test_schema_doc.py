"""SCHEMA.md documents every key template of redis_schema/keys.py, and no key that is gone."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from redis_schema import keys

SCHEMA = Path(keys.__file__).with_name("SCHEMA.md")
ARG = "\x00"  # stands for a template's argument
# Placeholders in the document: <agent>, {NUMBER}, {LINKEDID/SOURCE}, {anonymous}, YYYY-MM-DD, YYYY-MM.
PLACEHOLDER = re.compile(r"<[^>]+>|(?<=\{)[^}]+(?=\})|YYYY-MM(-DD)?")


def templates() -> set[str]:
    """Every key keys.py spells: its "gw:..." constants (not the SCAN patterns and the login key
    prefix) and what its one-argument functions make of an argument ("*" where it stands)."""
    found = {
        value
        for name, value in vars(keys).items()
        if name.isupper() and isinstance(value, str) and value.startswith(keys.PREFIX)
        if not value.endswith(("*", ":"))
    }
    for name, fn in vars(keys).items():
        if inspect.isfunction(fn) and fn.__module__ == keys.__name__ and len(inspect.signature(fn).parameters) == 1:
            for arg in (ARG, keys.WITHHELD_HOME + ARG) if fn is keys.caller else (ARG,):
                made = fn(arg)
                if isinstance(made, str) and made.startswith(keys.PREFIX):
                    found.add(made.replace(ARG, "*"))
    return {PLACEHOLDER.sub("*", key) for key in found}  # as the document's are read


def backticked(text: str) -> set[str]:
    return {PLACEHOLDER.sub("*", key) for key in re.findall(r"`(gw:[^`]+)`", text)}


def test_every_key_template_is_documented():
    made = templates()
    assert {"gw:c:{*}", "gw:w:{*}", "gw:ix:a:*", "gw:{*}:account:*", "gw:incidents"} <= made  # the reading itself works
    assert made - backticked(SCHEMA.read_text(encoding="utf-8")) == set(), (
        "keys.py spells these, SCHEMA.md never names them"
    )


def test_every_key_the_tables_describe_exists():
    """The first column of SCHEMA.md's key tables and its section titles (the prose may name a
    key in passing, or a pattern such as ``gw:agg:d:*``)."""
    text = SCHEMA.read_text(encoding="utf-8")
    cells = re.findall(r"^\| (.*?) \|", text, re.M) + re.findall(r"^#+ .*", text, re.M)
    described = set().union(*(backticked(cell) for cell in cells))
    assert len(described) > 30
    assert described - templates() == set(), "SCHEMA.md describes these, keys.py has no such key"
