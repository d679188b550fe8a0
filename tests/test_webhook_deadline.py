"""A webhook's whole exchange is bounded by its timeout, not only each read: a server that sends
its answer a byte at a time (each byte well within the socket timeout) no longer holds the
after-care job for as long as it likes."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from agi.aftercare import notify
from agi.aftercare.notify import WebhookError


@pytest.fixture
def dripping_server():
    """Reads the request, then answers one byte every 0.1 s for up to a minute."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
                if stop.wait(0.1):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()
    thread.join(5)


def test_a_server_that_drips_its_answer_is_given_up_after_the_timeout(dripping_server):
    outcome: list[BaseException | None] = []

    def post() -> None:
        try:
            notify.post_json(dripping_server, {"type": "test"}, timeout=1.0)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=post, daemon=True)
    worker.start()
    worker.join(20)  # before: each byte came within the 1 s socket timeout, so it ran for a minute
    assert not worker.is_alive(), f"still posting after {time.monotonic() - started:.0f} s"
    assert isinstance(outcome[0], WebhookError)


@contextlib.contextmanager
def answering(reply: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A server that reads one request whole (headers, then the JSON body) and sends ``reply``:
    (its URL, the requests it got)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while not request.endswith(b"}") and (chunk := conn.recv(65536)):
                request += chunk
            got.append(request)
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", got
    finally:
        thread.join(5)
        listener.close()


def test_an_answer_that_is_not_http_is_a_webhook_failure():
    """Before, http.client's BadStatusLine escaped post_json as an exception of its own."""
    with answering(b"SSH-2.0-OpenSSH\r\n") as (url, _), pytest.raises(WebhookError, match="BadStatusLine"):
        notify.post_json(url, {"type": "test"}, timeout=5.0)


def test_a_server_that_answers_at_once_is_posted_to():
    with answering(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") as (url, got):
        notify.post_json(url, {"type": "test"}, timeout=5.0)
    assert got[0].startswith(b"POST /hook ") and got[0].endswith(b'{"type": "test"}')
