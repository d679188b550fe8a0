"""An HTTP exchange bounded as a whole, not only per read: for the webhooks.

``urlopen(timeout=...)`` bounds each socket operation, so a server that sends its answer a byte
at a time, each within the timeout, holds the thread (and the after-care job waiting on it) for
as long as it likes. Here a timer shuts the exchange's sockets down once ``seconds`` have passed
since it began: the read under way fails at once, and the caller sees an ``OSError``.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request
from typing import Any


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._socks:
                _shut(sock)

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self._expired:
                _shut(sock)

    def connection(self, base: type[http.client.HTTPConnection]) -> Any:
        """``base`` whose every connection is watched (a proxy's too: urllib opens them all here)."""
        deadline = self

        class Watched(base):  # type: ignore[valid-type,misc]  # a subclass made per exchange
            def connect(self) -> None:
                super().connect()
                deadline._opened(self.sock)

        return Watched


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._deadline.connection(http.client.HTTPConnection), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        context = getattr(self, "_context", None)  # the handler's own (None: http.client's default)
        return self.do_open(self._deadline.connection(http.client.HTTPSConnection), req, context=context)


def post(req: urllib.request.Request, seconds: float) -> int:
    """Send ``req`` and read its status line and headers within ``seconds`` in all; the status.
    Raises what urlopen raises (``urllib.error.URLError``, ``OSError``, ``ValueError``)."""
    deadline = _Deadline(seconds)
    opener = urllib.request.build_opener(_HTTP(deadline), _HTTPS(deadline))
    deadline._timer.start()
    try:
        with opener.open(req, timeout=seconds) as resp:
            return int(resp.status)
    finally:
        deadline._timer.cancel()
