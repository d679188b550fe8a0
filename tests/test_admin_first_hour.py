"""Issue 31: what an administrator meets in the first hour on a real PBX (help texts, messages,
start-up); each test names the item of the issue it holds."""

from __future__ import annotations

import pytest

from agi.cli.main import main


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_callbacks_move_help_says_what_time_is_accepted(capsys):
    """Item 9: the new time must be in the future and inside working hours."""
    text = help_text(capsys, "callbacks", "move")
    assert "must be in the future and inside the working hours" in text
    assert "[callbacks] opens-closes" in text
