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
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from agi.numbers import ANONYMOUS, mask, normalise

# A phone-number-like run: 8 or more digits, maybe a leading +, single spaces or dashes inside.
# The edges reject what only looks like a number: part of a word or an id, a uniqueid or epoch
# time (1763800000.12), a clock time; a run that is a date is kept as it is.
_NUMBER = re.compile(r"(?<![\w.+-])\+?[0-9](?:[ -]?[0-9])*(?!\w|[.:][0-9])")
# What every run that gets masked contains: 8 digits, single spaces or dashes between them.
_EIGHT_DIGITS = re.compile(r"[0-9](?:[ -]?[0-9]){7}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}-[0-9]{2}-[0-9]{4}")
# An AMI "Secret: x" header (panoramisk logs whole actions), a "secret=x" AGI query parameter,
# a "password=x" anywhere: the value is blanked, mask_in_logs or not.
_SECRET = re.compile(r"(?i)((?:secret|password)['\"]?\s*[:=]\s*['\"]?)[^\s&;,'\"]+")


Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def masker(enabled: bool = True, region: str = "NL") -> Processor:
    """A structlog processor: mask numbers (when ``enabled``) and blank secrets in every string."""

    def mask_run(match: re.Match[str]) -> str:
        run: str = match.group()
        digits = run.replace(" ", "").replace("-", "")
        if len(digits.lstrip("+")) < 8 or _DATE.fullmatch(run):
            return run
        # In E.164 where it reads as a number of the region, so it masks like the service's own.
        e164 = normalise(digits, region) if digits[0] in "+0" else ANONYMOUS
        return mask(e164 if e164 != ANONYMOUS else digits)

    def clean_str(value: str) -> str:
        # The cheap tests first: this runs for every string logged. Digits, one dot, digits (an
        # Asterisk uniqueid, an epoch time) can hold no secret, and _NUMBER never matches in it:
        # a run before the dot is followed by ".digit", a run after it follows ".".
        head, dot, tail = value.partition(".")
        if dot and head.isdigit() and tail.isdigit() and value.isascii():
            return value
        if "ecret" in value or "ECRET" in value or "assword" in value or "ASSWORD" in value:
            value = _SECRET.sub(r"\1****", value)
        return _NUMBER.sub(mask_run, value) if enabled and len(value) >= 8 and _EIGHT_DIGITS.search(value) else value

    def clean(value: object) -> object:
        if isinstance(value, str):
            return clean_str(value)
        if isinstance(value, dict):
            return clean_event(value)
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    def clean_event(event: MutableMapping[str, Any]) -> dict[str, Any]:
        # A line's values are mostly short strings and numbers: those without a call each.
        out: dict[str, Any] = {}
        for key, value in event.items():
            kind = type(value)
            if kind is str:
                out[key] = clean_str(value) if len(value) >= 8 else value  # "secret=x" has 8
            elif kind is int or kind is float or kind is bool or value is None:
                out[key] = value
            else:
                out[key] = clean(value)
        return out

    return lambda logger, method_name, event_dict: clean_event(event_dict)


def _dumps(event: dict[str, Any], **_: object) -> str:
    """The JSON line, rendered by orjson (a fraction of json.dumps's time per screening line);
    what orjson refuses (an integer beyond 64 bits) goes through json."""
    try:
        return orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(event, default=repr)


def _timestamp(logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``timestamp``: ISO 8601 UTC to the microsecond, as structlog's ``TimeStamper(fmt="iso",
    utc=True)`` writes it, with the part up to the second formatted once per second."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    event_dict["timestamp"] = f"{_second[1]}.{int((now - second) * 1e6):06d}Z"
    return event_dict


_second: list[Any] = [None, ""]


class _Logger:
    """What :func:`get_logger` returns: structlog's lazy proxy builds a new bound logger for
    every line (a tenth of a screening line's cost); this one keeps it for as long as
    structlog's configuration is the same objects (``configure``, a reload's, a test's
    ``capture_logs``), and builds it again when they change."""

    __slots__ = ("_bound", "_config", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._config: dict[str, Any] | None = None
        self._bound: Any = None

    def __getattr__(self, attr: str) -> Any:
        config = structlog.get_config()
        known = self._config
        if (
            known is None
            or config["processors"] is not known["processors"]
            or config["logger_factory"] is not known["logger_factory"]
            or config["wrapper_class"] is not known["wrapper_class"]
            or config["context_class"] is not known["context_class"]
        ):
            self._bound = structlog.get_logger(self._name).bind()
            self._config = config
        return getattr(self._bound, attr)


def get_logger(name: str) -> _Logger:
    """A module's logger; see :class:`_Logger`."""
    return _Logger(name)


def configure(level: str | None = None, stream: TextIO | None = None, *, mask: bool = True, region: str = "NL") -> None:
    level_name = (level or os.environ.get("GRENSWACHT_LOG_LEVEL", "INFO")).upper()
    lvl = getattr(logging, level_name, logging.INFO)
    out = stream or sys.stderr
    # The time stamp is ours and never holds a number: added after the masker, which then need
    # not scan it (that was a measurable share of the screening line's cost).
    tail: list[structlog.typing.Processor] = [
        structlog.processors.format_exc_info,
        masker(mask, region),
        _timestamp,
        structlog.processors.JSONRenderer(_dumps),
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        # One write() per line (print() makes two when unbuffered): worker processes share the stream.
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.processors.add_log_level, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
    panoramisk = logging.getLogger("panoramisk.manager")
    for noise in [f for f in panoramisk.filters if isinstance(f, _RetryNoise)]:
        panoramisk.removeFilter(noise)
    panoramisk.addFilter(_RetryNoise())


class _RetryNoise(logging.Filter):
    """panoramisk logs each reconnection attempt ("Connection lost", ...) at ERROR, every second
    of an AMI outage; agi.ami.client reports each outage once instead (and a refused login,
    which panoramisk does not report). Its other lines pass."""

    NOISE = ("Connection lost", "Not able to reconnect", "Try to connect again in")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.NOISE))

    logging.captureWarnings(True)
