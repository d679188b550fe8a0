"""Background jobs of the after-care path, started by the service."""

from __future__ import annotations


def start(deps) -> list:
    return []
