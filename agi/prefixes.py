"""Prefix (number range) bans and allowlist entries, cached in memory for screening.

Supervisors change them rarely; screening must not pay a Redis read for them on every
call, so the service refreshes this cache every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from agi.engine import Allow, Ban

_T = TypeVar("_T")


@dataclass
class PrefixCache:
    bans: dict[str, Ban] = field(default_factory=dict)
    allows: dict[str, Allow] = field(default_factory=dict)

    def replace(self, bans: dict[str, Ban], allows: dict[str, Allow]) -> None:
        self.bans, self.allows = bans, allows

    def lookup(self, number: str) -> tuple[Ban | None, Allow | None]:
        """Longest matching prefix of each kind."""
        return _longest(self.bans, number), _longest(self.allows, number)


def _longest(table: dict[str, _T], number: str) -> _T | None:
    if not table:
        return None
    for end in range(len(number), 1, -1):
        hit = table.get(number[:end])
        if hit is not None:
            return hit
    return None
