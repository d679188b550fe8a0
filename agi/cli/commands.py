"""The CLI's command table: each command is one async function taking (args, config)."""

from __future__ import annotations

from agi.cli import admin_cmds, callback_cmds, check_cmds, data_cmds, logbook_cmds, screening_cmds, users_cmds, web_cmds
from agi.cli.common import Subparsers


def register(sub: Subparsers) -> None:
    screening_cmds.register(sub)
    logbook_cmds.register(sub)
    admin_cmds.register(sub)
    data_cmds.register(sub)
    check_cmds.register(sub)
    callback_cmds.register(sub)
    users_cmds.register(sub)
    web_cmds.register(sub)
