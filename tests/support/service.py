"""The real service as a process (``python -m agi serve``) and screening load against it: what the
fault tests (tests/test_faults.py, tests/test_redis_restart_calls.py, tests/test_instances.py,
tests/test_failover.py) start, load and restart Redis under."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.agi_client import agi_header, run_call
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]


class ServiceProcess:
    def __init__(self, config_path: Path, log_path: Path):
        self.config_path, self.log_path = config_path, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, port: int) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agi", "--config", str(self.config_path), "serve"],
            cwd=REPO,
            stdout=log,
            stderr=log,
            env={**os.environ, "GRENSWACHT_LOG_LEVEL": "INFO"},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the service did not start; see " + str(self.log_path))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("the service did not stop within 15 s of SIGTERM")


def write_config(path: Path, redis_url: str, port: int, state: Path, agi: str = "", more: str = "") -> Path:
    """A config file for one instance: its Redis, its FastAGI port (``agi``: more [agi] lines),
    its journal in ``state`` (``more``: further sections)."""
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n[agi]\nlisten = "127.0.0.1:{port}"\n{agi}'
        f'[storage]\njournal_path = "{state}/journal.jsonl"\n{more}'
    )
    return path


def start_service(tmp_path: Path, redis_url: str, port: int, agi: str = "") -> ServiceProcess:
    """One service in ``tmp_path`` (config, journal in state/, service.log), listening on ``port``."""
    cfg = write_config(tmp_path / "grenswacht.toml", redis_url, port, tmp_path / "state", agi)
    svc = ServiceProcess(cfg, tmp_path / "service.log")
    svc.start(port)
    return svc


async def screen_at(port: int, rate: float, until: asyncio.Event, out: list[tuple[float, str]]) -> None:
    """Screening calls at ``rate`` per second until ``until`` is set; (time answered, GW_REASON) each."""

    async def call(n: int) -> None:
        header = agi_header("screen", uniqueid=f"1763900000.{n}")
        try:
            r = await run_call("127.0.0.1", port, header, timeout=10)
            out.append((time.monotonic(), r.variables.get("GW_REASON", "no-answer")))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            out.append((time.monotonic(), type(exc).__name__))

    calls = []
    started = time.monotonic()
    while not until.is_set():
        calls.append(asyncio.create_task(call(len(calls))))
        await asyncio.sleep(max(0.0, started + len(calls) / rate - time.monotonic()))
    await asyncio.gather(*calls)


@dataclass(frozen=True)
class Restart:
    stopped: float  # wall clock, to compare with the service's log
    back: float  # wall clock: Redis was started again
    back_monotonic: float  # the same moment on the clock of ScreeningLoad.answers


class ScreeningLoad:
    """``screen_at`` running in the background; ``answers`` fills as calls are answered."""

    def __init__(self, port: int, rate: float) -> None:
        self.answers: list[tuple[float, str]] = []
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(screen_at(port, rate, self._stop, self.answers))

    def reasons(self, since: int = 0) -> list[str]:
        return [reason for _, reason in self.answers[since:]]

    async def until(self, what: str, done: Callable[[], bool], timeout: float = 60) -> None:
        """Wait for ``done()``; fails after ``timeout`` s or when the load ended on its own."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline and not self._task.done(), f"still waiting for {what}"
            await asyncio.sleep(0.05)

    async def restart_redis(self, redis: RedisServer, calls_after: int) -> Restart:
        """Stop Redis (SIGTERM) under the load; once 300 calls failed open (every connection has
        tried and failed), start it again on the same port; return once ``calls_after`` more
        calls were answered."""
        stopped = time.time()
        await asyncio.to_thread(redis.stop)
        down = len(self.answers)
        await self.until("the outage to be noticed", lambda: self.reasons(down).count("store-unavailable") >= 300)
        restart = Restart(stopped, time.time(), time.monotonic())
        await asyncio.to_thread(redis.start)
        up = len(self.answers)
        await self.until(f"{calls_after} calls after the restart", lambda: len(self.answers) - up >= calls_after)
        return restart

    async def stop(self) -> None:
        self._stop.set()
        await self._task
