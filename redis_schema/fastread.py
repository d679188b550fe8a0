"""A lean, pipelined Redis client for the one read that screening makes per call.

Screening reads one hash per inbound call (``HGETALL gw:c:{NUMBER}``). Through redis-py that
single command costs a pool checkout and return, a retry wrapper, command packing and a parse
per call; :class:`CallerReader` sends it instead over a few long-lived connections, each carrying
any number of requests at once (pipelined: replies come back in the order the requests were sent,
so each reply goes to the oldest request still waiting on that connection). The first request
of an event-loop turn is written at once; the others made in the same turn leave together, in
one write at its end. Packing and parsing are hiredis's.

Used only against a standalone Redis: Sentinel and Cluster keep redis-py, which follows failovers
and slot moves. Every other Redis command still goes through redis-py.

Guarantees (screening fails open on any of the errors raised here):

- Only :class:`redis.exceptions.RedisError` subclasses, ``OSError`` or ``TimeoutError`` are raised
  for Redis trouble; ``asyncio.CancelledError`` always propagates.
- A request whose caller gave up (its timeout cancelled it) keeps its place on the connection:
  its reply is read and thrown away, so no later caller ever gets somebody else's reply.
- Connecting (TCP or unix socket, TLS for ``rediss://``, AUTH, SELECT) has a deadline (2 s); one
  attempt at a time per connection, which concurrent requests share; after a failed attempt,
  the next one is made a short backoff later (``backoff``, 20 ms), not one per call: a request
  that comes meanwhile waits for it if its deadline reaches that far, and otherwise fails at
  once, unless another connection is up: it goes on that one meanwhile (after a Redis restart,
  the first connection back serves every request, and ends the other connections' backoff).
  So once Redis answers again, no request fails for an attempt made while it was away: not in
  a worker process whose own connections have not yet seen it back either.
- At most ``max_in_flight`` requests wait on one connection; beyond that a request fails at once.
- A request may carry a deadline (screening's budget): past it, it fails with the builtin
  ``TimeoutError`` and keeps its place, as above. When the oldest request on a connection has
  waited longer than ``socket_timeout`` (a stalled or half-dead Redis), the connection is dropped
  and all its requests fail. Both are watched by one timer per connection, not one per request.
- A reply larger than ``max_reply_bytes`` drops the connection (every socket read is bounded).
- A lost connection fails all its requests with ``ConnectionError``; the next request reconnects.
- An error reply (e.g. ``WRONGTYPE``) fails that one request with ``ResponseError``.

TLS (``rediss://``) uses the SSL context that redis-py would build from the same URL
(``ssl_cert_reqs``, ``ssl_ca_certs``, ... query parameters).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import RedisSSLContext, SSLConnection, parse_url
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    DataError,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

_MORE = object()  # hiredis: no complete reply buffered yet

Command = tuple[str | int, ...]
# hiredis's stub types the command as a 1-tuple (Tuple[X] for Tuple[X, ...]) and leaves the result untyped.
_pack_command = cast(Callable[[Command], bytes], hiredis.pack_command)


def _pairs(reply: Any) -> dict[str, str]:
    """HGETALL's flat [field, value, field, value, ...] as a dict, as redis-py returns it."""
    if not isinstance(reply, list):
        raise ResponseError(f"unexpected HGETALL reply of type {type(reply).__name__}")
    it = iter(reply)
    return dict(zip(it, it))


class _Connection(asyncio.Protocol):
    """One pipelined connection: requests in send order, each a future, answered in that order."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[_Connection], None],
        *,
        max_in_flight: int,
        socket_timeout: float,
        max_reply_bytes: int,
    ) -> None:
        self.loop = loop
        self.on_lost = on_lost
        self.max_in_flight = max_in_flight
        self.socket_timeout = socket_timeout
        self.max_reply_bytes = max_reply_bytes
        self.reader = hiredis.Reader(replyError=ResponseError, encoding="utf-8", notEnoughData=_MORE)
        self.pending: deque[tuple[asyncio.Future[Any], float, float]] = deque()  # (future, sent at, deadline)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = math.inf
        self.unparsed = 0  # bytes received since the last complete reply (an upper bound)
        self.outbox: list[bytes] = []  # commands not yet written
        self.in_turn = False  # a command went out in this loop turn: the next ones wait for its end

    # ---- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's: it writes

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        answered = False
        while True:
            try:
                reply = reader.gets()
            except UnicodeDecodeError as exc:  # hiredis consumed the whole reply before it complained
                reply = DataError(f"Redis sent a reply that is not UTF-8: {exc}")
            except Exception as exc:  # hiredis.ProtocolError: the stream cannot be trusted
                self.abort(ConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is _MORE:
                break
            answered = True
            if not self.pending:
                self.abort(ConnectionError("Redis sent a reply that nobody asked for"))
                return
            future = self.pending.popleft()[0]
            if future.done():  # its caller gave up or its deadline passed: discard
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        if answered:  # what is left is part of this one read (asyncio reads at most 256 KiB at a time)
            self.unparsed = len(data)
        else:
            self.unparsed += len(data)
            if self.unparsed > self.max_reply_bytes:
                self.abort(ConnectionError(f"Redis reply larger than {self.max_reply_bytes} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"Connection to Redis lost: {exc}" if exc else "Connection to Redis closed by the server"
        self._fail_all(ConnectionError(reason))

    # ---- requests --------------------------------------------------------------------------
    def send(self, command: bytes, deadline: float = math.inf) -> asyncio.Future[Any]:
        """Queue one packed command; its future gets the decoded reply, or TimeoutError at
        ``deadline`` (loop time)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionError("Connection to Redis is closed")
        if len(self.pending) >= self.max_in_flight:
            raise ConnectionError(f"{self.max_in_flight} Redis requests already waiting on this connection")
        future = self.loop.create_future()
        now = self.loop.time()
        self.pending.append((future, now, deadline))
        if self.in_turn:  # the rest of this loop turn's requests go out together at its end
            self.outbox.append(command)
        else:  # the turn's first at once: it does not wait for the loop's other work
            self.transport.write(command)
            self.in_turn = True
            self.loop.call_soon(self._flush)
        due = min(deadline, now + self.socket_timeout)
        if due < self.timer_at:  # with one budget for all, only a first request arms it
            self._arm(due)
        return future

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.timer_at = self.loop.call_at(when, self._check), when

    def _flush(self) -> None:
        self.in_turn = False
        transport = self.transport  # set: send() wrote on it before it scheduled this
        if self.outbox and not self.closed and transport is not None and not transport.is_closing():
            transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def _check(self) -> None:
        """The one timer per connection: fail the requests whose deadline passed, and drop the
        connection when its oldest request waited longer than ``socket_timeout``."""
        self.timer, self.timer_at = None, math.inf
        if not self.pending or self.closed:
            return
        now = self.loop.time()
        due = self.pending[0][1] + self.socket_timeout
        if now >= due:
            self.abort(RedisTimeoutError(f"Redis did not answer within {self.socket_timeout:g} s"))
            return
        for future, _, deadline in self.pending:
            if future.done():
                continue
            if deadline <= now:
                future.set_exception(TimeoutError("Redis did not answer within the request's deadline"))
            elif deadline < due:
                due = deadline
        self._arm(due)

    def abort(self, exc: RedisError) -> None:
        """Drop the connection at once and fail every request waiting on it with ``exc``."""
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows, but the requests fail now
        self._fail_all(exc)

    def _fail_all(self, exc: RedisError) -> None:
        first = not self.closed
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer, self.timer_at = None, math.inf
        while self.pending:
            future = self.pending.popleft()[0]
            if not future.done():
                future.set_exception(exc)
        if first:
            self.on_lost(self)


class _Slot:
    """One of the reader's connections, reconnected on demand (one attempt at a time)."""

    def __init__(self, reader: CallerReader) -> None:
        self.reader = reader
        self.conn: _Connection | None = None
        self.attempt: asyncio.Task[_Connection] | None = None
        self.retry_at = 0.0
        self.last_error: BaseException | None = None

    async def connection(self, deadline: float = math.inf) -> _Connection:
        """The connection, connecting first if needed; ``deadline`` (loop time): how long the
        caller can wait, so whether it can wait for an attempt the backoff has put off."""
        conn = self.conn
        if conn is not None:
            return conn
        attempt = self.reconnect(deadline)
        if attempt is None:
            raise ConnectionError(f"Redis unreachable, retrying shortly: {self.last_error}")
        try:
            return await asyncio.shield(attempt)  # a caller's timeout does not end the shared attempt
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this caller was cancelled
            raise ConnectionError("Redis reader closed") from None  # the attempt was, by close()

    def reconnect(self, deadline: float = math.inf) -> asyncio.Task[_Connection] | None:
        """The connect attempt under way, or a new one: at once, or when the backoff after a
        failed one ends. None when that is after ``deadline`` (loop time)."""
        if self.attempt is None:
            loop = asyncio.get_running_loop()
            if self.retry_at > deadline:
                return None
            self.attempt = loop.create_task(self._connect(max(0.0, self.retry_at - loop.time())))
            self.attempt.add_done_callback(self._attempt_done)
        return self.attempt

    def _attempt_done(self, attempt: asyncio.Task[_Connection]) -> None:
        self.attempt = None
        if attempt.cancelled():
            return
        exc = attempt.exception()  # also marks it retrieved when no caller waited for it
        if exc is not None:
            self.last_error = exc
            self.retry_at = asyncio.get_running_loop().time() + self.reader.backoff

    def _lost(self, conn: _Connection) -> None:
        if self.conn is conn:
            self.conn = None

    async def _connect(self, delay: float = 0.0) -> _Connection:
        r = self.reader
        loop = asyncio.get_running_loop()
        if delay:
            await asyncio.sleep(delay)  # the rest of the backoff after a failed attempt
        conn: _Connection | None = None
        replies: list[asyncio.Future[Any]] = []

        def factory() -> _Connection:
            nonlocal conn
            conn = _Connection(
                loop,
                self._lost,
                max_in_flight=r.max_in_flight,
                socket_timeout=r.socket_timeout,
                max_reply_bytes=r.max_reply_bytes,
            )
            return conn

        try:
            async with asyncio.timeout(r.connect_timeout):
                if r.path is not None:
                    await loop.create_unix_connection(factory, r.path)
                else:
                    ssl = r.ssl.get() if r.ssl is not None else None
                    await loop.create_connection(
                        factory, r.host, r.port, ssl=ssl, server_hostname=r.host if ssl else None
                    )
                assert conn is not None
                replies = [conn.send(_pack_command(command)) for command in r.handshake]
                for reply in replies:
                    try:
                        await reply
                    except ResponseError as exc:
                        if reply is replies[0] and r.authenticates:
                            raise AuthenticationError(f"Redis refused the credentials: {exc}") from None
                        raise
        except BaseException as exc:
            if conn is not None:
                for reply in replies:  # nobody awaits these any more
                    if not reply.cancel() and not reply.cancelled():
                        reply.exception()  # (marks a failed one as seen)
                conn.abort(ConnectionError("connect attempt ended"))
            if isinstance(exc, TimeoutError) and not isinstance(exc, RedisError):
                raise RedisTimeoutError(f"Connecting to Redis took more than {r.connect_timeout:g} s") from None
            if isinstance(exc, OSError):
                raise ConnectionError(f"Cannot connect to Redis at {r.where}: {exc}") from None
            raise
        if conn.closed:
            raise ConnectionError(f"Redis at {r.where} closed the connection while it was set up")
        self.conn = conn
        for slot in r._slots:  # Redis is back: no other connection waits out a backoff now
            slot.retry_at = 0.0
        return conn

    def close(self) -> None:
        if self.attempt is not None:
            self.attempt.cancel()
        if self.conn is not None:
            self.conn.abort(ConnectionError("Redis reader closed"))
            self.conn = None


class CallerReader:
    """``HGETALL`` over a few pipelined connections (round-robin), for the screening read.

    Connects lazily: nothing is opened until the first request.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        ssl: RedisSSLContext | None = None,
        connections: int = 2,
        max_in_flight: int = 4096,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        backoff: float = 0.02,
        max_reply_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if connections < 1 or max_in_flight < 1:
            raise ValueError("connections and max_in_flight must be at least 1")
        self.host, self.port, self.path, self.ssl = host, port, path, ssl
        self.where = path or f"{host}:{port}"
        self.max_in_flight = max_in_flight
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.max_reply_bytes = max_reply_bytes
        handshake: list[Command] = []
        if username:
            handshake.append(("AUTH", username, password or ""))
        elif password is not None:
            handshake.append(("AUTH", password))
        self.authenticates = bool(handshake)
        if db:
            handshake.append(("SELECT", db))
        self.handshake = handshake
        self._slots = [_Slot(self) for _ in range(connections)]
        self._next = itertools.cycle(self._slots).__next__
        self.closed = False

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, **options: Any) -> CallerReader:
        """From the service's Redis URL, read as redis-py reads it (``password``: as ``connect()`` takes it;
        a password in the URL wins, as in redis-py's ``from_url``, and so do ``socket_timeout`` and
        ``socket_connect_timeout`` query parameters over the defaults and ``options``)."""
        kwargs: dict[str, Any] = {"password": password}
        kwargs.update(parse_url(url))
        for name, option in (("socket_timeout", "socket_timeout"), ("socket_connect_timeout", "connect_timeout")):
            if kwargs.get(name) is not None:
                options[option] = float(kwargs[name])
        ssl_context = None  # redis-py's own, with its defaults; built on the first connect, as redis-py does
        if url.startswith("rediss://"):
            ssl_context = SSLConnection(**{k: v for k, v in kwargs.items() if k.startswith("ssl_")}).ssl_context
        return cls(
            host=kwargs.get("host") or "localhost",
            port=int(kwargs.get("port") or 6379),
            path=kwargs.get("path"),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            db=int(kwargs.get("db") or 0),
            ssl=ssl_context,
            **options,
        )

    async def hgetall(self, key: str, budget: float | None = None) -> dict[str, str]:
        """The hash at ``key`` (``{}`` when there is none), decoded as redis-py's decode_responses=True.

        With ``budget`` (seconds), the builtin ``TimeoutError`` once it is spent, connecting included.
        """
        if self.closed:
            raise ConnectionError("Redis reader closed")
        slot = self._next()
        deadline = math.inf if budget is None else asyncio.get_running_loop().time() + budget
        conn = slot.conn
        if conn is None:  # rare: a first request, or after a loss (a Redis restart loses them all)
            conn = self._live()
            if conn is None:
                async with asyncio.timeout_at(None if budget is None else deadline):
                    conn = await slot.connection(deadline)
            else:  # another connection is back already: use it while this one reconnects
                slot.reconnect()
        return _pairs(await conn.send(_pack_command(("HGETALL", key)), deadline))

    def _live(self) -> _Connection | None:
        """A connection that is up, if any."""
        for slot in self._slots:
            if slot.conn is not None and not slot.conn.closed:
                return slot.conn
        return None

    async def close(self) -> None:
        """Close every connection; requests still waiting fail with ConnectionError."""
        self.closed = True
        for slot in self._slots:
            slot.close()
        await asyncio.sleep(0)  # let the transports finish closing
