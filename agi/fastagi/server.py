"""A hardened FastAGI server on asyncio streams.

Each connection: read the ``agi_*`` header block (bounded size, bounded time, end-of-file
handled, ``\\r\\n`` tolerated, duplicate keys refused), look up the route in the explicit
table, run it with an :class:`AgiSession`, close. Nothing a peer sends can stop the server
or hold up another connection; ``CancelledError`` always propagates.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import structlog

from agi import channel_vars as cv
from agi.fastagi import wire

log = structlog.get_logger("grenswacht.fastagi")


class AgiHangup(Exception):
    """The channel hung up (or Asterisk closed the connection) while a route was running."""


class AgiProtocolError(Exception):
    """The peer sent something that is not AGI."""


class BadRequest(Exception):
    """The AGI header block cannot be trusted (duplicate keys, too large, no route)."""


@dataclass
class AgiSession:
    """One FastAGI request: its headers and a command channel back to Asterisk."""

    headers: Mapping[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    command_timeout: float = 10.0

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

    async def command(self, line: str) -> dict:
        """Send one command (already escaped by :mod:`wire`) and read its result."""
        if "\n" in line or "\r" in line:
            raise AgiProtocolError("refusing to send a command containing a line break")
        self.writer.write(line.encode("utf-8") + b"\n")
        async with asyncio.timeout(self.command_timeout):
            await self.writer.drain()
            while True:
                raw = await _readline(self.reader, wire.MAX_RESULT_LINE)
                result = wire.parse_result(raw)
                if result.get("status_code") == 100:      # "100 result=0 Trying..."
                    continue
                if result.get("error") == "AGIUsageError":  # 520- multi-line usage text
                    while not (await _readline(self.reader, wire.MAX_RESULT_LINE)).startswith(b"520 "):
                        pass
                if result.get("error") == "AGIResultHangup" and raw.strip() == b"HANGUP":
                    # Asynchronous hangup notice; the command's own result follows.
                    continue
                return result

    async def set_variable(self, name: str, value: object) -> dict:
        return await self.command(wire.set_variable(name, value))

    async def set_variables(self, variables: dict[str, object]) -> dict:
        """All in one command (MSet): each AGI command is a round trip in the call's set-up."""
        return await self.command(wire.mset(variables))

    async def get_variable(self, name: str) -> str | None:
        return wire.result_value(await self.command(wire.get_variable(name)))

    async def get_full_variable(self, expression: str, channel: str | None = None) -> str | None:
        return wire.result_value(await self.command(wire.get_full_variable(expression, channel)))

    async def exec(self, app: str, *args: object) -> dict:
        return await self.command(wire.exec_app(app, *args))


class Route(Protocol):
    """A route module: ``handle`` serves a request, ``fallback`` answers one that cannot be trusted."""

    async def handle(self, session: AgiSession, deps: Any) -> None: ...

    async def fallback(self, session: AgiSession, deps: Any, reason: str) -> None: ...


def route_name(script: str) -> str:
    """``agi://host/screen?x`` arrives as ``screen?x``: the route is the path before ``?``."""
    return script.split("?", 1)[0].strip("/")


async def _readline(reader: asyncio.StreamReader, limit: int) -> bytes:
    """One line, at most ``limit`` bytes; end-of-file raises AgiHangup."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise AgiHangup("connection closed") from exc
    except asyncio.LimitOverrunError as exc:
        raise AgiProtocolError("line too long") from exc
    if len(line) > limit:
        raise AgiProtocolError("line too long")
    return line


_BLOCK_END = re.compile(rb"\r?\n\r?\n")


async def read_headers(reader: asyncio.StreamReader, max_bytes: int) -> tuple[dict[str, str], str | None]:
    """Read the ``agi_*`` block up to the blank line. Caller must bound it in time.

    Asterisk writes the whole block at once, so it is read in chunks (usually one) rather
    than line by line, and parsed in one pass. Returns the headers and a problem (None when
    the block is clean). A line that is not ``agi_key: value`` (for instance the tail of a
    caller ID that carried a newline), a repeated key, or bytes after the blank line make the
    block untrusted: the route then runs its fail-safe fallback.
    """
    buf = b""
    while True:
        stripped = buf.lstrip(b"\r\n")            # tolerate leading blank lines
        m = _BLOCK_END.search(stripped)
        if m:
            break
        if len(buf) > max_bytes:
            raise BadRequest(f"AGI header larger than {max_bytes} bytes")
        chunk = await reader.read(max_bytes + 2 - len(buf))
        if not chunk:
            raise AgiHangup("connection closed in the AGI header")
        buf += chunk
    if m.end() > max_bytes:
        raise BadRequest(f"AGI header larger than {max_bytes} bytes")
    headers: dict[str, str] = {}
    problem = None if m.end() == len(stripped) else "bytes after the AGI header"
    for raw in stripped[:m.start()].split(b"\n"):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        key, sep, value = text.partition(": ")
        if not sep or not key.startswith("agi_") or not key.isascii():
            problem = problem or "AGI header line is not 'agi_key: value'"
        elif key in headers:
            problem = problem or f"duplicate AGI header {key}"
        else:
            headers[key] = value
    return headers, problem


class FastAgiServer:
    """Serves the routes of an explicit table; one task per connection."""

    def __init__(self, routes: Mapping[str, Route], deps: object, *, max_header_bytes: int = 16384,
                 header_timeout: float = 5.0, command_timeout: float = 10.0, max_connections: int = 1000):
        self.routes = dict(routes)
        self.deps = deps
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port, limit=self.max_header_bytes + 2,
                                                  reuse_address=True, backlog=1024)
        sock = self._server.sockets[0].getsockname()
        log.info("fastagi-listening", host=sock[0], port=sock[1], routes=sorted(self.routes))
        return sock[0], sock[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with self._slots:
                await self.handle(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.perf_counter()
        peer = writer.get_extra_info("peername")
        session: AgiSession | None = None
        try:
            try:
                async with asyncio.timeout(self.header_timeout):
                    headers, problem = await read_headers(reader, self.max_header_bytes)
            except (AgiHangup, TimeoutError, AgiProtocolError, BadRequest) as exc:
                log.warning("fastagi-bad-header", peer=str(peer), problem=type(exc).__name__, detail=str(exc))
                return
            session = AgiSession(headers, reader, writer, self.command_timeout)
            route = self.routes.get(session.route)
            if route is None:
                log.error("fastagi-unknown-route", route=wire.dialplan_safe(session.route),
                          channel=session.channel, uniqueid=session.uniqueid)
                await session.set_variable(cv.RESULT, "error")
                return
            if problem is not None:
                log.warning("fastagi-untrusted-request", route=session.route, channel=session.channel,
                            uniqueid=session.uniqueid, problem=problem)
                await route.fallback(session, self.deps, "bad-request")
                return
            await route.handle(session, self.deps)
        except asyncio.CancelledError:
            raise
        except (AgiHangup, ConnectionError) as exc:
            log.info("fastagi-peer-gone", route=session.route if session else None,
                     channel=session.channel if session else None,
                     uniqueid=session.uniqueid if session else None, detail=str(exc))
        except Exception:
            log.exception("fastagi-route-failed", route=session.route if session else None,
                          channel=session.channel if session else None,
                          uniqueid=session.uniqueid if session else None)
            route = self.routes.get(session.route) if session else None
            if route is not None:
                try:
                    await route.fallback(session, self.deps, "error")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the peer is most likely gone; nothing more to do
                    log.info("fastagi-fallback-failed", route=session.route, uniqueid=session.uniqueid,
                             detail=type(exc).__name__)
        finally:
            log.debug("fastagi-closed", ms=round((time.perf_counter() - started) * 1000, 2))
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
