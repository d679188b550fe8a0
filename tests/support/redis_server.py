"""Start a real redis-server on a free loopback port for the tests (and the demo, and the benchmark)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A port something else listens on while the block runs (to see a start refuse it)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


class RedisServer:
    def __init__(
        self,
        port: int | None = None,
        password: str | None = None,
        extra_args: tuple[str, ...] = (),
        pick: Callable[[], int] | None = free_port,
    ):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed; run scripts/setup (apt-get install redis-server)")
        # A port picked here is free when picked, not when redis-server binds it (another xdist
        # worker's connection may take it meanwhile): start() then picks another. A given one is kept.
        self.pick = None if port else pick
        self.port = port or free_port() if self.pick is None else self.pick()
        self.password = password
        self.extra_args = tuple(extra_args)  # e.g. ("--appendonly", "yes", "--appendfsync", "always")
        self.dir = Path(tempfile.mkdtemp(prefix="gw-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        first = self.proc is None  # a restart keeps its port: its clients know that one
        for _ in range(5):
            if self._start_once():
                return self
            if self.pick is None or not first:
                break
            self.port = self.pick()  # the port was taken meanwhile: redis-server exited at once
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _start_once(self) -> bool:
        """Start it; True once it answers, False when it exited (its port taken)."""
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        args += list(self.extra_args)  # later options override the defaults above
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30  # generous: a loaded machine starts several at once
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64):
                        return True
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return False

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does (nothing is flushed)."""
        self.stop(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: Redis stalls (connections stay open, nothing answers)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
