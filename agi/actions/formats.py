"""How the service layer writes a time as text: in the audit trail, and in the CLI's output (agi.cli.common)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float | str | None) -> str:
    """A stored time as UTC text; ``invalid`` for a value no calendar holds (never raises)."""
    if ts is None or ts == "":
        return ""
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "invalid"
