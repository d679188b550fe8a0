"""Every refusal an operator can see has a Dutch sentence (issue 30: agi.sentences).

The test reads every raise of a Sentence class (ActionError, BadNumber, BadTime, NotFound,
Conflict and their subclasses) in agi/ and console/: its sentence must be a plain string (a
template, never an f-string), have a Dutch sentence in agi.sentences.DUTCH with the same names,
and be given every name it uses. The English text stays exactly what the CLI printed before.
"""

from __future__ import annotations

import ast
import string
from datetime import time
from pathlib import Path

import pytest

import agi.actions.logbook  # noqa: F401  (ErasedNotOnDisk: a subclass defined there)
from agi.actions import ActionError
from agi.callbacks import appointments, rules
from agi.numbers import BadNumber, parse_operator_number, parse_prefix
from agi.sentences import DUTCH, Sentence, Words

ROOT = Path(__file__).resolve().parents[1]


def sentence_classes(own_init: bool = False) -> set[str]:
    """The Sentence classes' names; with ``own_init``, those whose __init__ writes the sentence itself."""
    found, todo = set(), [Sentence]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if not own_init or sub.__init__ is not Sentence.__init__:
                found.add(sub.__name__)
            todo.append(sub)
    return found


def names(template: str) -> set[str]:
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template) if field}


def raises() -> list[tuple[str, ast.Call]]:
    """Every call of a Sentence class in the product code (file:line, call), and every
    ``super().__init__(...)`` in a Sentence class's own body (a subclass's fixed sentence)."""
    classes, calls = sentence_classes() - sentence_classes(own_init=True), []
    for path in sorted([*ROOT.glob("agi/**/*.py"), *ROOT.glob("console/**/*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        inits = {
            id(node)
            for cls in ast.walk(tree)
            if isinstance(cls, ast.ClassDef) and cls.name in sentence_classes(own_init=True)
            for node in ast.walk(cls)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
        }
        # A sentence kept in a module constant (NAME = "...") is read through its name.
        constants = {
            t.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in classes or id(node) in inits:
                    if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in constants:
                        node.args[0] = constants[node.args[0].id]
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def template_of(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def test_the_code_raises_sentences_and_the_walk_finds_them():
    found = raises()
    assert {"ActionError", "BadNumber", "BadTime", "NotFound", "Conflict", "ErasedNotOnDisk"} <= sentence_classes()
    assert len([t for _, c in found if (t := template_of(c))]) >= 70  # the walk reads the code, not nothing


def test_every_raised_sentence_is_a_template_with_a_dutch_sentence_and_its_values():
    problems = []
    for where, call in raises():
        template = template_of(call)
        if template is None:
            if call.args and isinstance(call.args[0], ast.JoinedStr):
                problems.append(f"{where}: an f-string; raise the template with its values as keywords")
            elif call.args:
                problems.append(f"{where}: the sentence is not a plain string")
            continue
        given = {k.arg for k in call.keywords if k.arg}
        if names(template) != given:
            problems.append(f"{where}: {template!r} names {sorted(names(template))}, given {sorted(given)}")
        if template not in DUTCH:
            problems.append(f"{where}: no Dutch sentence for {template!r} (add it to agi.sentences.DUTCH)")
    assert problems == []


def test_every_dutch_sentence_names_the_same_values_and_is_used():
    raised = {t for _, c in raises() if (t := template_of(c))}
    for english, dutch in DUTCH.items():
        assert names(english) == names(dutch), english
        assert dutch and dutch != english, english
    assert set(DUTCH) - raised == set()  # no sentence left over from code that changed


def test_a_sentence_is_english_for_the_cli_and_dutch_for_the_console():
    exc = ActionError("there is no user {name}.", name="anna")
    assert str(exc) == "there is no user anna." == exc.in_language("en")
    assert exc.in_language("nl") == "er is geen gebruiker anna."
    worded = ActionError("the {what} is longer than {limit} characters.", what=Words("note", "notitie"), limit=5)
    assert str(worded) == "the note is longer than 5 characters."
    assert worded.in_language("nl") == "de notitie is langer dan 5 tekens."
    passed = ActionError.again(
        BadNumber("{raw!r} is not a phone number (default region {region}).", raw="x", region="NL")
    )
    assert (
        isinstance(passed, ActionError)
        and passed.in_language("nl") == "'x' is geen telefoonnummer (standaardregio NL)."
    )


def test_the_cli_sentences_are_as_before():
    """The English wording the CLI prints (and its tests check) did not change with the templates."""
    with pytest.raises(BadNumber) as bad:
        parse_operator_number("12ab", "NL")
    assert str(bad.value) == (
        "'12ab' is not a phone number: only digits, a leading + or 00, spaces, dashes, dots and parentheses are allowed."
    )
    with pytest.raises(BadNumber) as bad:
        parse_operator_number("0612", "NL", valid=True)
    assert str(bad.value) == "'0612' is not a valid phone number (default region NL)."
    with pytest.raises(BadNumber) as bad:
        parse_prefix("+")
    assert str(bad.value) == "'+' is not a number prefix (expected + and 2 to 14 digits, e.g. +3185123)."
    with pytest.raises(rules.BadTime) as late:
        raise rules.BadTime(
            "that time is outside the working hours ({opens:%H:%M}-{closes:%H:%M} on working days).",
            opens=time(9),
            closes=time(17),
        )
    assert str(late.value) == "that time is outside the working hours (09:00-17:00 on working days)."
    assert late.value.in_language("nl") == "dat tijdstip valt buiten de werktijden (09:00-17:00 op werkdagen)."
    assert isinstance(appointments.NotFound("no callback appointment with id {id!r}.", id="x"), LookupError)
