"""Structured logging: one JSON object per line on stderr (structlog)."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure(level: str | None = None, stream=None) -> None:
    level_name = (level or os.environ.get("GRENSWACHT_LOG_LEVEL", "INFO")).upper()
    lvl = getattr(logging, level_name, logging.INFO)
    logging.basicConfig(level=lvl, stream=stream or sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
