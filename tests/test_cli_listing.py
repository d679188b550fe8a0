"""cli.common.listing: one way for the list commands to print rows, as JSON or as a table."""

from __future__ import annotations

import json

from agi.cli.common import listing

ROWS = [{"name": "anna", "role": "admin"}, {"name": "bob\nx", "role": "agent"}]


def test_json_keeps_the_rows_and_the_table_has_their_keys_as_columns(capsys):
    assert listing(ROWS, True) == 0
    assert json.loads(capsys.readouterr().out) == ROWS
    assert listing(ROWS, False) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "role"] and lines[2].split() == ["anna", "admin"]
    assert lines[3].split() == ["bob\\nx", "agent"]  # a stored line break cannot add a row


def test_no_rows(capsys):
    assert listing([], False) == 0 and capsys.readouterr().out == "(none)\n"
    assert listing([], True) == 0 and json.loads(capsys.readouterr().out) == []
