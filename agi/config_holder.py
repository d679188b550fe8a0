"""The running configuration, held in one place.

Every long-lived part (the route dependencies, the logbook, the callback placer) is handed the same
:class:`ConfigHolder` by the composition root (agi.wiring) and reads ``.current`` each time it
needs a setting. A reload (agi.reload, SIGHUP) swaps ``current`` once, and every part sees the new
configuration from its next read; a call in progress keeps the object it already read.
"""

from __future__ import annotations

from agi.config import Config


class ConfigHolder:
    __slots__ = ("current",)

    def __init__(self, config: Config) -> None:
        self.current = config

    def swap(self, config: Config) -> None:
        """Take over ``config``: the one place a reload changes the running configuration."""
        self.current = config
