"""Structured logging: one JSON object per line on stderr, for our events and everybody else's.

structlog renders our own events; every stdlib ``logging`` record (panoramisk, redis, asyncio,
warnings, anything) goes through structlog's ProcessorFormatter into the same JSON lines. Both
end in the same processors, among them :func:`masker`: phone numbers are masked in every
string of every event, the message included, when ``[numbers] mask_in_logs`` is on, and AMI
or AGI secrets are always blanked. A multi-line message is one line of JSON.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys

import orjson
import structlog

from agi.numbers import ANONYMOUS, mask, normalise

# A phone-number-like run: 8 or more digits, maybe a leading +, single spaces or dashes inside.
# The edges reject what only looks like a number: part of a word or an id, a uniqueid or epoch
# time (1763800000.12), a clock time; a run that is a date is kept as it is.
_NUMBER = re.compile(r"(?<![\w.+-])\+?[0-9](?:[ -]?[0-9])*(?!\w|[.:][0-9])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}-[0-9]{2}-[0-9]{4}")
# An AMI "Secret: x" header (panoramisk logs whole actions), a "secret=x" AGI query parameter,
# a "password=x" anywhere: the value is blanked, mask_in_logs or not.
_SECRET = re.compile(r"(?i)((?:secret|password)['\"]?\s*[:=]\s*['\"]?)[^\s&;,'\"]+")


def masker(enabled: bool = True, region: str = "NL"):
    """A structlog processor: mask numbers (when ``enabled``) and blank secrets in every string."""

    def mask_run(match: re.Match) -> str:
        run = match.group()
        digits = run.replace(" ", "").replace("-", "")
        if len(digits.lstrip("+")) < 8 or _DATE.fullmatch(run):
            return run
        # In E.164 where it reads as a number of the region, so it masks like the service's own.
        e164 = normalise(digits, region) if digits[0] in "+0" else ANONYMOUS
        return mask(e164 if e164 != ANONYMOUS else digits)

    def clean(value):
        if isinstance(value, str):    # (the cheap tests first: this runs for every string logged)
            if "ecret" in value or "ECRET" in value or "assword" in value or "ASSWORD" in value:
                value = _SECRET.sub(r"\1****", value)
            return _NUMBER.sub(mask_run, value) if enabled and len(value) >= 8 and _NUMBER.search(value) else value
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return lambda logger, method_name, event_dict: clean(event_dict)


def _dumps(event: dict, **_: object) -> str:
    """The JSON line, rendered by orjson (a fraction of json.dumps's time per screening line);
    what orjson refuses (an integer beyond 64 bits) goes through json."""
    try:
        return orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(event, default=repr)


def configure(level: str | None = None, stream=None, *, mask: bool = True, region: str = "NL") -> None:
    level_name = (level or os.environ.get("GRENSWACHT_LOG_LEVEL", "INFO")).upper()
    lvl = getattr(logging, level_name, logging.INFO)
    out = stream or sys.stderr
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # The time stamp is ours and never holds a number: added after the masker, which then need
    # not scan it (that was a measurable share of the screening line's cost).
    tail = [structlog.processors.format_exc_info, masker(mask, region), timestamper,
            structlog.processors.JSONRenderer(_dumps)]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        # One write() per line (print() makes two when unbuffered): worker processes share the stream.
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.processors.add_log_level, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail]))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
    panoramisk = logging.getLogger("panoramisk.manager")
    for old in [f for f in panoramisk.filters if isinstance(f, _RetryNoise)]:
        panoramisk.removeFilter(old)
    panoramisk.addFilter(_RetryNoise())


class _RetryNoise(logging.Filter):
    """panoramisk logs each reconnection attempt ("Connection lost", ...) at ERROR, every second
    of an AMI outage; agi.ami.client reports each outage once instead (and a refused login,
    which panoramisk does not report). Its other lines pass."""

    NOISE = ("Connection lost", "Not able to reconnect", "Try to connect again in")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.NOISE))
    logging.captureWarnings(True)
