"""A hardened FastAGI server on asyncio: one protocol per connection, no streams, a task per request.

Admission, in this order, so that no peer can stall a call and only the PBX may speak:

1. At accept (before anything is read): the peer address must be in ``[agi] peers``, and the
   peer must be under its own limit (``max_per_peer``) and the server under its cap on open
   sockets (derived from the file-descriptor limit, which ``start`` raises to the hard limit).
   Otherwise the socket is closed at once: nothing read, nothing written, one rate-limited
   log line.
2. One deadline per connection, counted from accept: the ``agi_*`` header block must arrive
   within ``header_timeout`` (bounded size, end-of-file handled, ``\\r\\n`` tolerated), and
   is collected without a task; the whole connection (header, route, fallback) must end
   within ``header_timeout + command_timeout``. A fallback does not get a period of its own.
   Both are constant offsets from accept, so connections come due in the order they were
   accepted: each stage is one queue on one loop timer (:class:`_DueQueue`), not a timer per
   connection.
3. With ``[agi] secret`` set, the ``secret`` query parameter of ``agi_network_script``
   must match (constant time), checked as soon as the header block is complete (Asterisk
   writes it at once), before a task or slot: otherwise the connection is closed. With a
   secret, the address alone buys no capacity that a call needs: a connection that has not
   shown the secret is counted in a pool of its own (``max_unauthenticated``) and, when that
   pool or the server is full, the oldest of them is closed to make room, never a newcomer
   refused; ``max_per_peer`` counts only connections that showed the secret. So a local
   process on the PBX's own address (idle sockets, junk, a wrong secret) cannot keep a call
   from its answer. Without a secret, every socket counts from accept (point 1), and any
   local user can fill the PBX's own ``max_per_peer``: its calls then go on unscreened.
4. Only then a slot (``max_connections``), waited for at most ``slot_wait_ms``: a header
   read holds no slot, so idle or slow peers cannot queue the calls behind them. Without a
   slot the route's fail-open fallback answers at once.

A duplicate key or a non-``agi_`` line makes the request untrusted: the route's fallback
answers it. Expected peer failures (hang-up, reset, timeout, junk) are one log line each,
rate-limited (:class:`_Quiet`) and all counted (``on_peer_failure``); only the unexpected gets
a traceback, every time. Every cancellation propagates, except the one the period
queue makes when a connection's period is over: that one ends the request as a logged timeout.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hmac
import ipaddress
import math
import os
import resource
import socket
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, Protocol, TypeVar

from agi import channel_vars as cv
from agi.config import AgiConfig
from agi.fastagi import wire
from agi.logs import get_logger

log = get_logger("grenswacht.fastagi")

# File descriptors kept free of FastAGI sockets for Redis, AMI, the journal and the log.
FD_RESERVE = 256
# The kernel's table of a process's descriptors grows by doubling (256, 512, ... ) when a new
# descriptor does not fit. In a process with threads (libuv's worker pool, asyncio's executor)
# each growth waits for an RCU grace period: accept() blocked the event loop 8-16 ms at 256,
# 512, 1,024, 2,048 and 4,096 open sockets in the storm bench. start() grows the table once, to
# hold this many (or the descriptor limit, if lower): 512 KB of kernel memory per process.
FD_TABLE_PRESIZE = 65_536
# asyncio accepts up to its `backlog` connections in one pass of the event loop: a small batch lets
# calls already in progress run between the accepts of a connection storm. The kernel's queue of
# connections not yet accepted is longer, so a burst is queued rather than dropped (SYN retries).
ACCEPT_BATCH = 64
LISTEN_BACKLOG = 4096
# Bounded waits in stop(): tasks to finish after cancel, the listener to close.
STOP_GRACE_SECONDS = 1.0
# Log lines that a peer can cause at will are rate-limited, so that a flood of junk connections
# cannot flood the log (every one is still counted: the on_peer_failure hook, a Prometheus
# counter in the service). Header-phase lines (refused peers, bad headers, ...): at most one per
# (event, peer) and QUIET_LINES in all per QUIET_WINDOW seconds. A request's lines (timeout,
# untrusted request, unknown route, ...; each with the call's uniqueid): REQUEST_LINES of each
# event per REQUEST_WINDOW. What is held back is reported in one line when its window is over.
QUIET_WINDOW = 60.0
QUIET_LINES = 100
REQUEST_WINDOW = 1.0
REQUEST_LINES = 10
# Result lines received and not yet read by the route: Asterisk sends one per command (and a
# HANGUP notice); more than this is not Asterisk.
MAX_PENDING_LINES = 64


class AgiHangup(Exception):
    """The channel hung up (or Asterisk closed the connection) while a route was running."""


class AgiProtocolError(Exception):
    """The peer sent something that is not AGI."""


class BadRequest(Exception):
    """The AGI header block cannot be trusted (duplicate keys, too large, no route)."""


# What a peer can do to a connection; one log line each, never a traceback.
PEER_FAILURES = (AgiHangup, AgiProtocolError, BadRequest, ConnectionError)


class AgiSession:
    """One FastAGI request: its headers and a command channel back to Asterisk.

    Commands have no timeout of their own: the connection's one deadline bounds them all.
    """

    __slots__ = ("conn", "headers", "waiting_on_peer")

    def __init__(self, headers: Mapping[str, str], conn: _Connection):
        self.headers = headers
        self.conn = conn
        self.waiting_on_peer = False

    @property
    def header_ms(self) -> float:
        """Milliseconds from accept until the header was in (the peer's sending and our queue)."""
        return round((self.conn.header_at - self.conn.accepted) * 1000, 2)

    @property
    def route(self) -> str:
        return route_name(self.headers.get("agi_network_script", ""))

    @property
    def channel(self) -> str:
        return self.headers.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.headers.get("agi_uniqueid", "")

    def arg(self, n: int) -> str:
        return self.headers.get(f"agi_arg_{n}", "")

    async def command(self, line: str) -> dict[str, Any]:
        """Send one command (already escaped by :mod:`wire`) and read its result."""
        if "\n" in line or "\r" in line:
            raise AgiProtocolError("refusing to send a command containing a line break")
        conn = self.conn
        conn.send(line.encode("utf-8") + b"\n")
        self.waiting_on_peer = True
        while True:
            raw = await conn.readline()
            result = wire.parse_result(raw)
            if result.get("status_code") == 100:  # "100 result=0 Trying..."
                continue
            if result.get("error") == "AGIUsageError":  # 520- multi-line usage text
                while not (await conn.readline()).startswith(b"520 "):
                    pass
            if result.get("error") == "AGIResultHangup" and raw.strip() == b"HANGUP":
                # Asynchronous hangup notice; the command's own result follows.
                continue
            self.waiting_on_peer = False
            return result

    async def set_variable(self, name: str, value: object) -> dict[str, Any]:
        return await self.command(wire.set_variable(name, value))

    async def set_variables(self, variables: dict[str, object]) -> dict[str, Any]:
        """All in one command (MSet): each AGI command is a round trip in the call's set-up."""
        return await self.command(wire.mset(variables))

    async def get_variable(self, name: str) -> str | None:
        return wire.result_value(await self.command(wire.get_variable(name)))

    async def get_full_variable(self, expression: str, channel: str | None = None) -> str | None:
        return wire.result_value(await self.command(wire.get_full_variable(expression, channel)))

    async def exec(self, app: str, *args: object) -> dict[str, Any]:
        return await self.command(wire.exec_app(app, *args))


# What the routes are handed (agi.deps.Deps in the service): the server only passes it on, so it
# names no type of the layers above it.
DepsT = TypeVar("DepsT")
DepsT_contra = TypeVar("DepsT_contra", contravariant=True)


class Route(Protocol[DepsT_contra]):
    """A route module: ``handle`` serves a request, ``fallback`` answers one that cannot be trusted."""

    async def handle(self, session: AgiSession, deps: DepsT_contra) -> None: ...

    async def fallback(self, session: AgiSession, deps: DepsT_contra, reason: str) -> None: ...


def route_name(script: str) -> str:
    """``agi://host/screen?x`` arrives as ``screen?x``: the route is the path before ``?``."""
    return script.split("?", 1)[0].strip("/")


def script_secret(script: str) -> str | None:
    """The ``secret`` query parameter of ``screen?secret=...``, as the dialplan wrote it.

    Not percent-decoded (Asterisk passes the text as it is); None when absent or repeated.
    """
    query = script.partition("?")[2]
    found = [value for key, _, value in (p.partition("=") for p in query.split("&")) if key == "secret"]
    return found[0] if len(found) == 1 else None


def find_block_end(buf: bytes | bytearray, start: int, stop: int) -> tuple[int, int] | None:
    """Where the header's blank line is in ``buf[start:stop]``: (its first byte, the byte after
    it), as ``re.search(rb"\r?\n\r?\n", buf[:stop], start)`` would find it; None if it is not
    there. A hostile peer sends a header of one long line: the regular expression is tried at
    every byte of it (2.2 ms of the event loop for one 256 KB read of a 1 MB header); this finds
    each newline with memchr and looks only around it (microseconds)."""
    if buf.find(b"\r", start, stop) < 0:  # as Asterisk writes it: no CR, one search
        i = buf.find(b"\n\n", start, stop)
        return None if i < 0 else (i, i + 2)
    i = buf.find(b"\n", start, stop)
    while i >= 0:
        j = i + 2 if buf[i + 1 : i + 2] == b"\r" else i + 1
        if j < stop and buf[j] == 10:
            return (i - 1 if i > start and buf[i - 1] == 13 else i), j + 1
        i = buf.find(b"\n", i + 1, stop)
    return None


def header_value(block: bytes, key: bytes) -> bytes | None:
    """The value of the first ``key: value`` line of a raw header block (without its blank line),
    as :func:`parse_headers` keeps it: its first occurrence, trailing carriage returns stripped;
    None when no line has that key. With a secret, the script is read this way before the block
    is parsed, so a request with a wrong one costs a search (about 1 µs), not a parse (about 11)."""
    prefix = key + b": "
    if block.startswith(prefix):
        start = len(prefix)
    else:
        line = block.find(b"\n" + prefix)
        if line < 0:
            return None
        start = line + 1 + len(prefix)
    end = block.find(b"\n", start)
    return block[start : len(block) if end < 0 else end].rstrip(b"\r")


def parse_headers(block: bytes) -> tuple[dict[str, str], str | None]:
    """Parse the ``agi_*`` block (without its blank line) in one pass.

    Returns the headers and a problem (None when the block is clean). A line that is not
    ``agi_key: value`` (for instance the tail of a caller ID that carried a newline) or a
    repeated key makes the block untrusted: the route then runs its fail-safe fallback.
    """
    headers: dict[str, str] = {}
    problem = None
    # Decoded once: a newline is never part of a UTF-8 sequence, so this is line by line.
    for line in block.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.rstrip("\r").partition(": ")
        if not sep or not key.startswith("agi_") or not key.isascii():
            problem = problem or "AGI header line is not 'agi_key: value'"
        elif key in headers:
            problem = problem or f"duplicate AGI header {key}"
        else:
            headers[key] = value
    return headers, problem


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("fastagi-fd-limit-not-raised", soft=soft, hard=hard, error=type(exc).__name__)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def presize_fd_table(count: int) -> None:
    """Have the kernel's descriptor table hold ``count`` descriptors now, not grow (and stall the
    loop) as a connection storm opens them: a descriptor duplicated to number ``count - 1`` or
    above (the lowest free one: nothing open is touched), then closed. The table never shrinks."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.close(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(0, count - 1)))
    except OSError as exc:  # no descriptor free at or above it: the table grows as needed
        log.info("fastagi-fd-table-not-presized", count=count, error=type(exc).__name__)
    finally:
        os.close(fd)


if sys.version_info >= (3, 12):

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """The request's first step (its route up to the first wait, the store read sent) runs
        now, in the ``data_received`` that completed the header, not after the loop's next pass
        over every other ready socket."""
        return asyncio.Task(coro, loop=loop, eager_start=True)
else:

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return loop.create_task(coro)


class _DueQueue:
    """Connections that come due in the order they were added: each a fixed ``delay`` after its
    ``accepted`` time, and added in the order of that time (as accepted, or as moved on from an
    earlier queue of the same order). One loop timer serves them all, so a connection costs a
    deque entry, not a timer of its own (under uvloop a timer handle, a libuv timer, a context and
    a bound method each: CPU at every accept, and objects for the collector to walk while an idle
    peer waits out its deadline).

    ``due`` is called with each connection whose time is up, in order; what is finished by then
    it ignores. A connection stays referenced until its time, but small: ``connection_lost``
    drops its transport and a request's end drops its task.
    """

    __slots__ = ("_delay", "_due", "_loop", "_queue", "_timer")

    # A timer may fire up to the loop clock's resolution early (uvloop counts whole milliseconds).
    SLACK = 0.001

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, due: Callable[[_Connection], None]):
        self._loop, self._delay, self._due = loop, delay, due
        self._queue: deque[_Connection] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, conn: _Connection) -> None:
        self._queue.append(conn)
        if self._timer is None:
            self._timer = self._loop.call_at(conn.accepted + self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        queue, delay, limit = self._queue, self._delay, self._loop.time() + self.SLACK
        try:
            while queue and queue[0].accepted + delay <= limit:
                self._due(queue.popleft())
        finally:  # what is left is watched still, even if one call above failed
            if queue and self._timer is None:
                self._timer = self._loop.call_at(queue[0].accepted + delay, self._fire)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()


class _Quiet:
    """Rate-limited log lines of peer failures: in each ``window`` seconds at most ``per_key``
    lines with one key and ``limit`` in all. Every line offered is counted (``count``, with the
    event); those held back are reported in one line, with their number per event, when the
    window is over: by a timer, so a flood that stops is still reported (and at ``flush``).
    A ``count`` that fails does not change how the peer is served: the summary says how many
    were not counted."""

    def __init__(
        self,
        window: float,
        limit: float,
        per_key: int,
        count: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.window, self.limit, self.per_key = window, limit, per_key
        self._count, self._clock = count, clock
        self._start = -math.inf
        self._keys: dict[object, int] = {}
        self._logged = 0
        self._held: dict[str, int] = {}
        self._uncounted = 0
        self._timer: asyncio.TimerHandle | None = None

    def line(self, level: str, event: str, key: object, **fields: object) -> None:
        try:
            self._count(event)
        except Exception:  # a metrics store that fails (e.g. a full /dev/shm): reported in flush
            self._uncounted += 1
        now = self._clock()
        if now - self._start >= self.window:
            self.flush()
            self._start = now
        seen = self._keys.get(key, 0)
        if seen >= self.per_key or self._logged >= self.limit:
            self._held[event] = self._held.get(event, 0) + 1
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self._start + self.window - now, self.flush)
            return
        self._keys[key] = seen + 1
        self._logged += 1
        getattr(log, level)(event, **fields)

    def flush(self) -> None:
        """Report what was held back, and start a new window with the next line."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, uncounted, self._held, self._uncounted = self._held, self._uncounted, {}, 0
        self._keys, self._logged, self._start = {}, 0, -math.inf
        if held:
            log.warning("fastagi-log-lines-held-back", lines=sum(held.values()), events=held, seconds=self.window)
        if uncounted:
            log.warning("fastagi-peer-failures-not-counted", failures=uncounted)


# asyncio's own socket transport keeps bound methods of itself (`_read_ready_cb`, and from
# Python 3.12 `_write_ready`): a reference cycle per connection that only the garbage collector
# frees. Python 3.12 and 3.13 break it in close(), not after abort() or a reset; 3.11 never
# (CPython gh-100348, gh-106503). At 6,000 calls/s that was 26,000 transports in 4 s for the
# collector, and full collections of up to 82 ms: the longest calls of the open-loop bench.
_TRANSPORT_SELF_REFERENCES = ("_read_ready_cb", "_write_ready")


def _unlink_transport(transport: asyncio.BaseTransport) -> None:
    """Break those cycles once the transport is done (``connection_lost``: nothing is read or
    written any more). Other transports (uvloop's) have no such attributes: nothing is done."""
    attributes = getattr(transport, "__dict__", None)
    if attributes:
        for name in _TRANSPORT_SELF_REFERENCES:
            if name in attributes:
                attributes[name] = None


def _again(exc: Exception) -> Exception:
    """A fresh exception like ``exc``: raising one object again and again grows its traceback."""
    return type(exc)(*exc.args)


class _Connection(asyncio.Protocol):
    """One accepted socket, from accept to close: no stream, no task until the header is in.

    The peer is admitted or refused in ``connection_made``, before anything is read. The
    header is collected under its deadline (the server's header queue), so that idle and slow
    peers cost little (CPU, and objects for the garbage collector to walk). Asterisk writes the
    whole block at once, so that is usually the first ``data_received``. A complete block starts
    the request's task (``_serve``); from then on the bytes that arrive are the results of its
    commands, cut into lines here (each at most ``wire.MAX_RESULT_LINE``, at most
    ``MAX_PENDING_LINES`` waiting) and handed to :meth:`readline`.
    """

    __slots__ = (
        "accepted",
        "buf",
        "ended",
        "expired",
        "gone",
        "header_at",
        "lines",
        "peer",
        "server",
        "serving",
        "task",
        "transport",
        "waiter",
    )

    def __init__(self, server: FastAgiServer[Any]):
        self.server = server
        self.peer: str | None = None
        self.transport: asyncio.Transport | None = None  # None again once connection_lost has run
        self.buf = bytearray()
        self.accepted = 0.0
        self.header_at = 0.0
        self.serving = False  # the header is in: a request runs
        self.lines: deque[bytes] | None = None  # from the header on (an idle peer has none)
        self.waiter: asyncio.Future[None] | None = None
        self.gone: Exception | None = None  # why nothing can be sent or received any more
        self.ended: Exception | None = None  # the peer half-closed: nothing more to receive
        self.task: asyncio.Task[None] | None = None  # the request's, once the header is in
        self.expired = False  # its period ran out: the task was cancelled for it

    # The loop hands a stream server's protocol an asyncio.Transport (BaseProtocol says only
    # BaseTransport): annotated as what it is, not checked at every accept.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        try:
            self.peer = self.server._admit(self, transport)
        finally:
            if self.peer is None:
                transport.close()  # refused (or its log line failed): nothing read, nothing written
        if self.peer is None:
            return
        self.accepted = self.server._loop.time()  # type: ignore[union-attr]  # set in start(), before the first accept
        self.server._header_due.add(self)  # type: ignore[union-attr]  # set in start(), before the first accept

    def data_received(self, data: bytes) -> None:
        if self.serving:
            self._result_data(data)
            return
        if not self.buf:
            data = data.lstrip(b"\r\n")  # tolerate leading blank lines
        scanned = max(0, len(self.buf) - 3)
        self.buf += data
        limit = self.server.settings.max_header_bytes
        found = find_block_end(self.buf, scanned, min(len(self.buf), limit))  # past the limit: too large
        if found is None and len(self.buf) <= limit:
            return
        if found is None:
            self._drop("fastagi-bad-header", problem="BadRequest", detail=f"AGI header larger than {limit} bytes")
            return
        block_start, block_end = found
        block, trailing = bytes(self.buf[:block_start]), block_end != len(self.buf)
        self.buf = bytearray()
        if self.server._secret is not None and not self.server._authenticate(self, block):
            return  # checked before the parse: a wrong secret costs no more than it must
        headers, problem = parse_headers(block)
        if trailing:
            problem = problem or "bytes after the AGI header"
        self.serving = True
        self.lines = deque()
        self.header_at = self.server._loop.time()  # type: ignore[union-attr]  # set in start(), before the first accept
        self.server._spawn(self, headers, problem)

    def eof_received(self) -> bool:
        if not self.serving:
            self._drop("fastagi-bad-header", problem="AgiHangup", detail="connection closed in the AGI header")
            return False
        # Half-closed: no more results will come, but what the route sends is still delivered
        # (the transport stays open until the request ends).
        self.ended = self.ended or AgiHangup("connection closed")
        self._wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        # A deadline queue may hold this object a while longer: it keeps nothing of the socket.
        transport, self.transport = self.transport, None
        if transport is not None:
            _unlink_transport(transport)
        peer = self.peer
        if peer is None:
            return
        self._end(AgiHangup("connection closed"))
        self.server._release(self, peer, transport)

    # -- the command phase ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.gone is not None:
            raise _again(self.gone)
        self.transport.write(data)  # type: ignore[union-attr]  # None only after connection_lost, which sets gone

    async def readline(self) -> bytes:
        """The next line the peer sent (with its newline); AgiHangup once it is gone."""
        while not self.lines:
            gone = self.gone or self.ended
            if gone is not None:
                raise _again(gone)
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.lines.popleft()

    def _result_data(self, data: bytes) -> None:
        # Set with `serving`, before the first result byte arrives.
        lines: deque[bytes] = self.lines  # type: ignore[assignment]
        buf = self.buf
        buf += data
        start, problem = 0, None
        while (end := buf.find(b"\n", start)) >= 0:
            if end + 1 - start > wire.MAX_RESULT_LINE:
                problem = "line too long"
                break
            if len(lines) >= MAX_PENDING_LINES:
                problem = "too many lines"
                break
            lines.append(bytes(buf[start : end + 1]))
            start = end + 1
        else:
            if len(buf) - start > wire.MAX_RESULT_LINE:
                problem = "line too long"
        if problem is not None:  # not Asterisk: nothing it sent is handed on
            lines.clear()
            self._end(AgiProtocolError(problem))
            self.transport.abort()  # type: ignore[union-attr]  # data arrives only on an open transport
            return
        if start:
            del buf[:start]
        if lines:
            self._wake()

    def _end(self, exc: Exception) -> None:
        if self.gone is None:
            self.gone = exc
        self.buf = bytearray()
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def header_due(self) -> None:
        """The header deadline: an idle or slow peer is dropped; a running request goes on to the
        period's queue (same order: both count from accept), even when its peer has gone: a
        route still at work holds its slot until the period ends."""
        if not self.serving:
            if self.transport is not None and not self.transport.is_closing():  # not closed or dropped already
                self._drop("fastagi-header-timeout", seconds=self.server.settings.header_timeout)
        elif self.task is not None:  # the request still runs
            self.server._period_due.add(self)  # type: ignore[union-attr]  # set in start(), before the first accept

    def period_due(self) -> None:
        """The connection's period is over: its request is cancelled (``_serve`` says why)."""
        if self.task is not None and not self.task.done():
            self.expired = True
            self.task.cancel()

    def _drop(self, event: str, **fields: object) -> None:
        # First: the socket goes even if the log line fails. Called only while the transport is open.
        self.transport.close()  # type: ignore[union-attr]
        self.server._peer_line(event, self.peer, **fields)


class FastAgiServer(Generic[DepsT]):
    """Serves the routes of an explicit table, handing each request ``deps``; one task per admitted connection."""

    def __init__(
        self,
        routes: Mapping[str, Route[DepsT]],
        deps: DepsT,
        settings: AgiConfig,
        on_peer_failure: Callable[[str], None] = lambda event: None,
    ):
        """``on_peer_failure(event)`` is called for every connection or request that ends in a
        peer failure (the event of its log line, whether that line is written or held back)."""
        self.routes = dict(routes)
        self.deps = deps
        self.settings = settings
        self._networks = tuple(ipaddress.ip_network(p, strict=False) for p in settings.peers)
        self._secret = settings.secret.encode() if settings.secret else None
        self._period = settings.header_timeout + settings.command_timeout
        self._slot_wait = settings.slot_wait_ms / 1000
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._peer_of = functools.lru_cache(maxsize=4096)(self._allowed_peer)
        self.max_open = 1 << 20  # set from the descriptor limit in start()
        self._open: dict[str, int] = {}  # per peer: the connections counted in max_per_peer
        self._conns: set[asyncio.Transport] = set()
        # With a secret: the connections that have not shown it yet, oldest first (what is
        # closed first to make room). Without one, None: every socket counts from accept.
        self._unauthenticated: OrderedDict[_Connection, None] | None = OrderedDict() if self._secret else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._quiet = _Quiet(QUIET_WINDOW, QUIET_LINES, 1, on_peer_failure)
        self._quiet_requests = _Quiet(REQUEST_WINDOW, math.inf, REQUEST_LINES, on_peer_failure)
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._header_due: _DueQueue | None = None  # set in start(), on the running loop
        self._period_due: _DueQueue | None = None

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> tuple[str, int]:
        """Listen on ``host:port``, or on ``sock`` (a listening socket shared by agi.workers)."""
        limit = raise_fd_limit()
        self.max_open = max(64, limit - max(FD_RESERVE, limit // 8))
        presize_fd_table(min(limit, FD_TABLE_PRESIZE))
        loop = self._loop = asyncio.get_running_loop()
        self._header_due = _DueQueue(loop, self.settings.header_timeout, _Connection.header_due)
        self._period_due = _DueQueue(loop, self._period, _Connection.period_due)
        where = {"sock": sock} if sock is not None else {"host": host, "port": port, "reuse_address": True}
        self._server = await loop.create_server(lambda: _Connection(self), backlog=ACCEPT_BATCH, **where)
        for listening in self._server.sockets:
            with listening.dup() as listener:  # a longer kernel queue than one loop pass accepts
                listener.listen(LISTEN_BACKLOG)
        address = self._server.sockets[0].getsockname()
        log.info(
            "fastagi-listening",
            host=address[0],
            port=address[1],
            routes=sorted(self.routes),
            peers=[str(n) for n in self._networks],
            secret=self._secret is not None,
            fd_limit=limit,
            max_open=self.max_open,
            slots=self.settings.max_connections,
            **({"max_unauthenticated": self.settings.max_unauthenticated} if self._secret else {}),
        )
        if self._secret is None:
            log.warning(
                "fastagi-no-secret",
                problem="without an [agi] secret, any local user on a peer address can fill max_per_peer "
                "and make every call go on unscreened (fail-open)",
                fix="set GRENSWACHT_AGI_SECRET(_FILE) and the dialplan's GRENSWACHT_AGI_SECRET "
                "(dialplan/README.md, section 6)",
            )
        return address[0], address[1]

    @property
    def slots_in_use(self) -> int:
        """Requests holding a slot now (read by agi.metrics at its own pace, not per call)."""
        return self.settings.max_connections - self._slots._value

    async def stop(self) -> None:
        """Stop listening, cancel every connection, then wait (bounded): never hangs."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        for transport in list(self._conns):
            transport.abort()
        for queue in (self._header_due, self._period_due):
            if queue is not None:
                queue.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("fastagi-stop-timeout", open=sum(self._open.values()))
        for quiet in (self._quiet, self._quiet_requests):  # last: what the stop itself caused too
            quiet.flush()

    # -- admission at accept -------------------------------------------------------------

    def _allowed_peer(self, host: str) -> str | None:
        """The peer's address as a key (IPv4-mapped IPv6 as IPv4), or None when not allowed."""
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return str(addr) if any(addr in net for net in self._networks) else None

    def _admit(self, conn: _Connection, transport: asyncio.Transport) -> str | None:
        peername = transport.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
        peer = self._peer_of(host)
        if peer is None:
            self._peer_line("fastagi-refused-peer", host)
            return None
        pool = self._unauthenticated
        if pool is not None:  # with a secret: room is made among those who have not shown it
            if len(pool) >= self.settings.max_unauthenticated or len(self._conns) >= self.max_open:
                self._drop_oldest_unauthenticated()
            if len(self._conns) >= self.max_open:  # every one of them has shown the secret
                self._peer_line("fastagi-over-capacity", peer, open=len(self._conns), max_open=self.max_open)
                return None
            pool[conn] = None
            self._conns.add(transport)
            return peer
        total = len(self._conns)
        if total >= self.max_open:
            self._peer_line("fastagi-over-capacity", peer, open=total, max_open=self.max_open)
            return None
        if not self._count_in_peer(peer):
            return None
        self._conns.add(transport)
        return peer

    def _count_in_peer(self, peer: str) -> bool:
        """Count a connection in its peer's ``max_per_peer`` (without a secret from accept, with
        one from the moment it showed it: then it is ``serving``); False (and the line) when full."""
        n = self._open.get(peer, 0)
        if n >= self.settings.max_per_peer:
            self._peer_line("fastagi-peer-over-limit", peer, max_per_peer=self.settings.max_per_peer)
            return False
        self._open[peer] = n + 1
        return True

    def _drop_oldest_unauthenticated(self) -> None:
        """Close the connection that has waited longest without showing the secret. Asterisk
        writes its header at once, so that is an idle, slow or junk peer; a legitimate one would
        need max_unauthenticated newer connections accepted before its header is read."""
        pool = self._unauthenticated
        while pool:
            conn, _ = pool.popitem(last=False)
            transport = conn.transport
            self._conns.discard(transport)
            if transport is not None and not transport.is_closing():  # not closed for a reason of its own
                conn._drop("fastagi-unauthenticated-dropped", max_unauthenticated=self.settings.max_unauthenticated)
                return

    def _authenticate(self, conn: _Connection, block: bytes) -> bool:
        """With a secret, when the header block is complete (``block``, not yet parsed): the right
        secret takes the connection out of the unauthenticated pool into its peer's count; else it
        is closed (and False)."""
        # Called only with a secret (so the pool exists), from data_received (so the connection
        # was admitted, has its peer, and its transport is open).
        self._unauthenticated.pop(conn, None)  # type: ignore[union-attr]
        raw = header_value(block, b"agi_network_script")
        script = "" if raw is None else raw.decode("utf-8", "replace")  # as parse_headers decodes it
        if not self._secret_matches(script):
            conn._drop("fastagi-refused-secret", route=wire.dialplan_safe(route_name(script)))
            return False
        if not self._count_in_peer(conn.peer):  # type: ignore[arg-type]
            conn.transport.close()  # type: ignore[union-attr]
            return False
        return True  # the caller sets conn.serving at once: from now on it counts in its peer

    def _release(self, conn: _Connection, peer: str, transport: asyncio.Transport | None) -> None:
        self._conns.discard(transport)
        if self._unauthenticated is not None and not conn.serving:  # not counted in its peer
            self._unauthenticated.pop(conn, None)
            return
        left = self._open.get(peer, 1) - 1
        if left > 0:
            self._open[peer] = left
        else:
            self._open.pop(peer, None)

    def _spawn(self, conn: _Connection, headers: dict[str, str], problem: str | None) -> None:
        """Start the request's task, with the header already parsed."""
        # From data_received: the loop is set (start()) and the transport open.
        task = _start_task(self._loop, self._serve(AgiSession(headers, conn), problem, conn.transport))  # type: ignore[arg-type]
        if not task.done():  # an eager start may have finished it already
            conn.task = task  # until it ends (_serve): for the deadline queues
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, session: AgiSession, problem: str | None, transport: asyncio.Transport) -> None:
        """One request whose header is in, until its period is over (accept + header_timeout +
        command_timeout): then the period queue cancels this task, and the cancellation that
        was ours alone ends here as a timeout, as ``asyncio.timeout`` would."""
        conn = session.conn
        try:
            await self._dispatch(session, problem)
        except asyncio.CancelledError:
            # Somebody else's cancel (stop()) propagates. current_task() is this task: never None.
            if not conn.expired or asyncio.current_task().uncancel() > 0:  # type: ignore[union-attr]
                raise
            self._request_line(
                "warning", "fastagi-timeout", session, waiting_on_peer=session.waiting_on_peer, seconds=self._period
            )
        except PEER_FAILURES as exc:
            self._request_line("info", "fastagi-peer-gone", session, problem=type(exc).__name__, detail=str(exc))
        except Exception:  # a fallback that failed: the call goes on (AGISTATUS), the log says why
            log.exception("fastagi-failed", route=session.route, channel=session.channel, uniqueid=session.uniqueid)
        finally:
            conn.task = None  # a deadline queue may still hold the connection: not the task
            # A peer that does not read would keep a graceful close (and its socket) open.
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()

    def _peer_line(self, event: str, peer: str | None, **fields: object) -> None:
        """A connection's failure line, before or without a request (rate-limited per peer)."""
        self._quiet.line("warning", event, (event, peer), peer=peer, **fields)

    def _request_line(self, level: str, event: str, session: AgiSession, **fields: object) -> None:
        """A request's failure line, with its route, channel and uniqueid (rate-limited)."""
        self._quiet_requests.line(
            level,
            event,
            event,
            **{"route": session.route, "channel": session.channel, "uniqueid": session.uniqueid, **fields},
        )

    def _secret_matches(self, script: str) -> bool:
        given = script_secret(script)
        # Called only with a secret (from _authenticate).
        return given is not None and hmac.compare_digest(given.encode(), self._secret)  # type: ignore[arg-type]

    async def _dispatch(self, session: AgiSession, problem: str | None) -> None:
        route = self.routes.get(session.route)
        if route is None:
            self._request_line("error", "fastagi-unknown-route", session, route=wire.dialplan_safe(session.route))
            await session.set_variable(cv.RESULT, "error")
            return
        # A fallback is one answer and no store access: it takes no slot, so neither untrusted
        # requests nor a full server can queue the calls behind them.
        if problem is not None:
            self._request_line("warning", "fastagi-untrusted-request", session, problem=problem)
            await route.fallback(session, self.deps, "bad-request")
            return
        if not await self._take_slot():
            self._request_line(
                "warning",
                "fastagi-busy",
                session,
                slots=self.settings.max_connections,
                waited_ms=self.settings.slot_wait_ms,
            )
            await route.fallback(session, self.deps, "busy")
            return
        try:
            await route.handle(session, self.deps)
            return
        except (asyncio.CancelledError, *PEER_FAILURES):
            raise
        except Exception:
            log.exception(
                "fastagi-route-failed", route=session.route, channel=session.channel, uniqueid=session.uniqueid
            )
        finally:
            self._slots.release()
        await route.fallback(session, self.deps, "error")  # within what is left of the deadline

    async def _take_slot(self) -> bool:
        """A slot now if one is free, else within slot_wait_ms; never queued without bound."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without waiting
            return True
        try:
            async with asyncio.timeout(self._slot_wait):
                await self._slots.acquire()
            return True
        except TimeoutError:
            return False
