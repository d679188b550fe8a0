"""The one typed value of a callback appointment, from the key press to Redis and the logbook.

The value and its codec live in redis_schema.records (the storage layer reads and writes it).
"""

from __future__ import annotations

from redis_schema.records import (
    CALLING,
    CANCELLED,
    DONE,
    FAILED,
    MISSED,
    NO_ANSWER,
    SCHEDULED,
    STATUSES,
    Appointment,
    BadAppointment,
)

__all__ = [
    "CALLING",
    "CANCELLED",
    "DONE",
    "FAILED",
    "FINAL",
    "MISSED",
    "NO_ANSWER",
    "OPEN",
    "SCHEDULED",
    "STATUSES",
    "Appointment",
    "BadAppointment",
]

OPEN = (SCHEDULED, CALLING)  # still to be placed, or being placed
FINAL = tuple(s for s in STATUSES if s not in OPEN)
