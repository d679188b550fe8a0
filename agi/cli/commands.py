"""The CLI's command table: each command is one async function taking (args, config)."""

from __future__ import annotations

from agi.cli import screening_cmds


def register(sub) -> None:
    screening_cmds.register(sub)
