"""Worker processes on one listening port: ``[agi] workers = N``.

With N > 1 the parent binds ``[agi] listen`` once and starts N workers (``python -m
agi.workers``, fresh interpreters, so no event loop or Redis connection is ever forked). Each
worker is a full :class:`agi.service.Service` with its own event loop (``[agi] event_loop``)
that accepts on the inherited socket: the kernel's accept queue is shared, so a
worker that dies leaves its waiting connections to the others.

- **Journals.** The write-ahead journal has one writer, so worker K keeps its own file,
  ``<journal_path>.wK``; K is the worker's slot, stable across restarts, so a restarted worker
  replays its own file. Before any worker starts, the parent folds every journal no worker of
  this run will open (the plain ``<journal_path>`` of a single-process run, ``.wK`` with K >= N
  of a larger run) into ``.w0``, so nothing acknowledged is left behind when N changes.
- **Restarts.** A worker that dies is started again in its slot (one log line, backoff 0.5 s
  doubling to 30 s while it keeps dying within ``MIN_UPTIME`` of its start). A worker that
  cannot be started at all counts as an early death. At the ``MAX_FAILURES``-th early death in
  a row of one slot (5: five starts, five deaths) the parent stops the rest and exits 1.
- **Nothing transient ends the parent.** Its loops survive an ``OSError`` (``InterruptedError``
  included) from a sleep, a wait, a poll, a signal sent, a start or a log line: one
  ``workers-parent-trouble`` line at the first and then at most one every
  ``TROUBLE_LOG_SECONDS`` with the count so far, and the loop goes on (seen: errno 514,
  ERESTARTNOHAND, out of ``time.sleep`` in a parent started without a terminal). Only a stop
  signal or a slot's repeated early deaths stop the workers. ``Parent(sleep=...)`` replaces
  the one sleep every loop waits with (how the tests make it fail).
- **Signals.** SIGTERM/SIGINT: every worker gets SIGTERM (a graceful, bounded stop); any left
  after ``STOP_SECONDS`` is killed. SIGHUP is passed on to every worker. A worker gets SIGTERM
  if the parent dies (``PR_SET_PDEATHSIG``).
- **Metrics.** ``PROMETHEUS_MULTIPROC_DIR`` is set to a fresh private (0700) directory before
  any worker starts and removed at exit. ``parent_http`` is the hook for an HTTP server in the
  parent (``/metrics`` over that directory, ``/healthz``).

The background jobs run in every worker; each is safe with several instances (see README).
N = 1 is today's single process (``grenswacht serve`` runs the Service itself).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from agi import reload
from agi.config import Config, ConfigError, load_config
from agi.logs import get_logger

log = get_logger("grenswacht.workers")

LISTEN_BACKLOG = 4096
MIN_UPTIME = 10.0  # a worker that dies sooner than this after its start counts as failing
MAX_FAILURES = 5  # early deaths in a row (per slot) before the parent gives up
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STOP_SECONDS = 30.0  # SIGTERM to SIGKILL (a Service's stop is bounded well below this)
TICK = 0.1
KILL_WAIT_SECONDS = 10.0  # after SIGKILL, for the kernel to end it
TROUBLE_LOG_SECONDS = 60.0  # at most one workers-parent-trouble line per this long (with a count)

# The hook for an HTTP server in the parent (/metrics over PROMETHEUS_MULTIPROC_DIR, /healthz):
# called once the workers are started, with the configuration and the metrics directory; it
# returns a callable that stops it (or None). None here: agi.wiring.parent_http is used.
ParentHttp = Callable[[Config, str], "Callable[[], None] | None"]
parent_http: ParentHttp | None = None


def journal_of(journal_path: str, workers: int, index: int) -> str:
    """The journal of worker ``index``: the configured path itself with a single process."""
    return journal_path if workers == 1 else f"{journal_path}.w{index}"


def worker_config(config: Config, index: int) -> Config:
    path = journal_of(config.storage.journal_path, config.agi.workers, index)
    return config.model_copy(update={"storage": config.storage.model_copy(update={"journal_path": path})})


def orphan_journals(journal_path: str, workers: int) -> list[Path]:
    """Journals on disk that no worker of an N-worker run opens."""
    base = Path(journal_path)
    live = {Path(journal_of(journal_path, workers, k)) for k in range(workers)}
    if not base.parent.is_dir():
        return []
    workers_files = [p for p in base.parent.glob(base.name + ".w*") if p.name[len(base.name) + 2 :].isdigit()]
    return [p for p in [base, *sorted(workers_files)] if p not in live and p.is_file()]


def adopt_orphan_journals(journal_path: str, workers: int) -> int:
    """Fold the orphan journals into the first worker's (append, fsync, then remove); returns how many.

    Run before any worker starts: the journal is single-writer. Its lines are self-contained
    (JSON lines folded on load), so appending one file to another keeps every entry; a crash
    between the append and the removal only repeats lines, which folding absorbs.
    """
    target = Path(journal_of(journal_path, workers, 0))
    adopted = 0
    for orphan in orphan_journals(journal_path, workers):
        try:
            adopted += _append(orphan, target)
            orphan.unlink()
        except OSError as exc:  # left where it is (and tried again at the next start); the service runs on
            log.error(
                "journal-not-adopted",
                orphan=str(orphan),
                into=str(target),
                error=type(exc).__name__,
                detail=exc.strerror,
            )
    return adopted


def _append(orphan: Path, target: Path) -> int:
    """Append one journal's lines to another (fsynced); 1 when there was something to append."""
    data = orphan.read_bytes()
    if not data.strip():
        return 0
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(target):
            data = b"\n" + data
        os.write(fd, data if data.endswith(b"\n") else data + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("journal-adopted", orphan=str(orphan), into=str(target), bytes=len(data))
    return 1


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def listen_socket(listen: str, host: str, port: int) -> socket.socket:
    """The one listening socket, bound by the parent (OSError as binding raises it)."""
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


def _parent_death_signal() -> Callable[[], None] | None:
    """preexec_fn: the worker gets SIGTERM when the parent dies (Linux); None elsewhere."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        # Ignored until the worker's Service installs its reload handler (an ignored signal stays
        # ignored across exec): a SIGHUP while a worker starts must not end it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    return preexec


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _mark_dead(pid: int) -> None:
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # prometheus_client does not annotate it


@dataclass
class Slot:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0  # early deaths in a row
    restart_at: float | None = 0.0  # when to (re)start; None while running


class Parent:
    """Starts, watches and stops the workers; ``run`` returns the exit status.

    ``sleep`` is the one way any of its loops waits (``time.sleep`` unless a test gives another).
    """

    def __init__(
        self,
        config: Config,
        config_path: str | None,
        *,
        http: ParentHttp | None = None,
        min_uptime: float = MIN_UPTIME,
        max_failures: int = MAX_FAILURES,
        stop_seconds: float = STOP_SECONDS,
        sleep: Callable[[float], None] | None = None,
    ):
        self.config, self.config_path, self.http = config, config_path, http
        self.min_uptime, self.max_failures, self.stop_seconds = min_uptime, max_failures, stop_seconds
        self.sleep: Callable[[float], None] = sleep or time.sleep
        self.slots = [Slot(k) for k in range(config.agi.workers)]
        self._stop = False
        self._hup = False
        self._stop_http: Callable[[], None] | None = None
        self.metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR while running
        self.good_config: str | None = None  # the workers' copy of the last file that loaded
        self._idle = threading.Event()  # never set: the fallback wait of _pause
        self.troubles = 0  # transient OSErrors the loops survived
        self._trouble_logged_at: float | None = None
        self._troubles_logged = 0

    def run(self) -> int:
        host, port = self.config.agi.host_port
        sock = listen_socket(self.config.agi.listen, host, port)
        self.metrics_dir = metrics_dir = tempfile.mkdtemp(prefix="grenswacht-metrics-")  # 0700
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        self._keep_good_config(metrics_dir)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            adopt_orphan_journals(self.config.storage.journal_path, len(self.slots))
            log.info("workers-starting", workers=len(self.slots), listen=self.config.agi.listen, pid=os.getpid())
            return self._watch(sock, metrics_dir)
        finally:
            self._stop_all()
            if self._stop_http is not None:
                self._stop_http()
            for s, handler in previous.items():
                signal.signal(s, handler)
            sock.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def _keep_good_config(self, run_dir: str) -> None:
        """Workers read a private copy of the last file that loaded, never the file itself.

        A worker restarted while the file on disk is broken (a reload already refused it) must
        start on the running configuration, not exit and take the service down with it.
        """
        source = reload.config_path(self.config_path)
        self.good_config = None
        if source is not None:
            self.good_config = os.path.join(run_dir, "config.toml")
            self._copy_config(source)

    def _copy_config(self, source: str) -> None:
        assert self.good_config is not None
        with open(source, "rb") as fh:
            data = fh.read()
        staged = self.good_config + ".new"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(staged, self.good_config)

    def _reload(self) -> None:
        """SIGHUP: validate the file here; only a good one is passed on to the workers."""
        source = reload.config_path(self.config_path)
        if source is None:
            log.error("config-reload-refused", problem="the service was started without a config file")
            return
        try:
            load_config(source)
            self._copy_config(source)
        except Exception as exc:  # ConfigError, OSError, and whatever else a file can raise (bad UTF-8: ValueError)
            problem = str(exc)[:200] if isinstance(exc, ConfigError | OSError) else f"{type(exc).__name__}: {exc}"[:200]
            log.error("config-reload-refused", path=source, problem=problem, kept="the running configuration")
            return
        self._signal_all(signal.SIGHUP)
        log.info("workers-reload", workers=len(self.slots))

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            self._hup = True
        else:
            self._stop = True

    def _trouble(self, operation: str, exc: OSError) -> None:
        """A transient OSError one of the loops survived: counted; logged at the first and then
        at most once every TROUBLE_LOG_SECONDS (with the count), never a line per tick."""
        self.troubles += 1
        now = time.monotonic()
        if self._trouble_logged_at is not None and now - self._trouble_logged_at < TROUBLE_LOG_SECONDS:
            return
        self._trouble_logged_at = now
        try:
            log.warning(
                "workers-parent-trouble",
                operation=operation,
                error=type(exc).__name__,
                errno=exc.errno,
                detail=str(exc)[:160],
                count=self.troubles,
                since_last_line=self.troubles - self._troubles_logged,
                kept="watching the workers",
            )
        except (OSError, ValueError):  # the log stream itself is broken: there is no one to tell
            return
        self._troubles_logged = self.troubles

    def _pause(self, seconds: float) -> None:
        """The loops' one wait: an OSError out of the sleep (e.g. errno 514) is survived, and the
        rest of the pause is waited on a lock instead (a sleep that keeps failing must not make
        the loop spin)."""
        until = time.monotonic() + seconds
        try:
            self.sleep(seconds)
        except OSError as exc:  # InterruptedError included
            self._trouble("sleep", exc)
            self._idle.wait(max(0.0, until - time.monotonic()))

    def _watch(self, sock: socket.socket, metrics_dir: str) -> int:
        announced = False
        while not self._stop:
            try:
                if not self._tick(sock):
                    return 1
                if not announced:
                    announced = True
                    reload.notify("READY=1")  # the port is bound: calls queue until a worker accepts
                    if self.http is not None:
                        self._stop_http = self.http(self.config, metrics_dir)
                if self._hup:
                    self._hup = False
                    self._reload()
            except OSError as exc:  # a poll, a signal or a log line failed: the next tick tries again
                self._trouble("watch", exc)
            self._pause(TICK)
        self._say("info", "workers-stopping", workers=len(self.slots), troubles=self.troubles)
        reload.notify("STOPPING=1")
        return 0

    def _tick(self, sock: socket.socket) -> bool:
        """Restart what died and start what is due; False when a slot keeps dying (give up)."""
        now = time.monotonic()
        for slot in self.slots:
            going = True
            if slot.proc is not None and slot.proc.poll() is not None:
                going = self._died(slot, now)
            if going and slot.restart_at is not None and now >= slot.restart_at:
                going = self._spawn(slot, sock)
            if not going:
                self._say(
                    "error",
                    "workers-keep-dying",
                    worker=slot.index,
                    deaths=slot.failures,
                    within_seconds=self.min_uptime,
                )
                return False
        return True

    def _spawn(self, slot: Slot, sock: socket.socket) -> bool:
        """Start the slot's worker; a start that fails counts as an early death (False: give up)."""
        cmd = [sys.executable, "-m", "agi.workers", "--index", str(slot.index), "--fd", str(sock.fileno())]
        if self.good_config:
            cmd += ["--config", self.good_config]
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}  # systemd hears from the parent only
        slot.started = time.monotonic()
        try:
            slot.proc = subprocess.Popen(cmd, pass_fds=(sock.fileno(),), env=env, preexec_fn=_parent_death_signal())
        except (OSError, subprocess.SubprocessError) as exc:
            return self._failed(slot, slot.started, error=type(exc).__name__, detail=str(exc)[:160])
        slot.restart_at = None
        self._say("info", "worker-started", worker=slot.index, pid=slot.proc.pid)
        return True

    def _died(self, slot: Slot, now: float) -> bool:
        """Schedule the slot's restart; False when it keeps dying (give up)."""
        assert slot.proc is not None and slot.proc.returncode is not None
        code, pid = slot.proc.returncode, slot.proc.pid
        slot.proc = None
        self._forget_metrics(pid)
        how: dict[str, object] = {"signal": _signal_name(-code)} if code < 0 else {"exit_code": code}
        return self._failed(slot, now, pid=pid, **how)

    def _failed(self, slot: Slot, now: float, **how: object) -> bool:
        """A death (or a failed start): schedule the restart, or False at the max_failures-th early one."""
        slot.failures = slot.failures + 1 if now - slot.started < self.min_uptime else 1
        if slot.failures >= self.max_failures:
            slot.restart_at = None
            self._say("error", "worker-died", worker=slot.index, restart_in_s=None, **how)
            return False
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.failures - 1))
        slot.restart_at = now + delay
        self._say("error", "worker-died", worker=slot.index, restart_in_s=delay, **how)
        return True

    def _forget_metrics(self, pid: int) -> None:
        try:
            _mark_dead(pid)
        except OSError as exc:  # its metrics files stay; the restart must not be lost
            self._trouble("metrics", exc)

    def _say(self, level: str, event: str, **fields: object) -> None:
        """A line from the loops; a broken log stream is a trouble, not the parent's end."""
        try:
            getattr(log, level)(event, **fields)
        except OSError as exc:
            self._trouble("log", exc)

    def _send(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass  # gone already
        except OSError as exc:
            self._trouble("signal", exc)

    def _signal_all(self, sig: int) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                self._send(slot.proc, sig)

    def _wait_gone(self, proc: subprocess.Popen[bytes], deadline: float) -> bool:
        """Until the process has exited (reaped) or the deadline; a failed sleep is survived."""
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                return False
            self._pause(min(TICK, max(0.0, deadline - time.monotonic())))
        return True

    def _stop_all(self) -> None:
        """SIGTERM to every worker, SIGKILL to any still there after stop_seconds."""
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_seconds
        for slot in self.slots:
            if slot.proc is None:
                continue
            if not self._wait_gone(slot.proc, deadline):
                self._say(
                    "error", "worker-stop-timeout", worker=slot.index, pid=slot.proc.pid, seconds=self.stop_seconds
                )
                self._send(slot.proc, signal.SIGKILL)
                self._wait_gone(slot.proc, time.monotonic() + KILL_WAIT_SECONDS)
            self._forget_metrics(slot.proc.pid)
        self._say("info", "workers-stopped", workers=len(self.slots), troubles=self.troubles)


def run_parent(config: Config, config_path: str | None) -> int:
    """``grenswacht serve`` with ``[agi] workers`` > 1 (blocks until a stop signal).

    The parent's HTTP server is ``parent_http`` when set, else agi.metrics' (imported here, after
    nothing in the parent has needed prometheus_client's per-process values).
    """
    http = parent_http
    if http is None:
        from agi import wiring

        http = wiring.parent_http
    return Parent(config, config_path, http=http).run()


def worker_main(argv: list[str] | None = None) -> int:
    """One worker: ``python -m agi.workers --index K --fd FD [--config PATH]`` (started by the parent)."""
    from agi import logs

    ap = argparse.ArgumentParser(prog="agi.workers")
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    try:
        config = worker_config(load_config(args.config), args.index)
    except ConfigError as exc:
        print(f"grenswacht worker {args.index}: {exc}", file=sys.stderr)
        return 2
    logs.configure(mask=config.numbers.mask_in_logs, region=config.numbers.default_region)
    structlog.contextvars.bind_contextvars(worker=args.index)
    # Until the Service installs its own SIGHUP handler (config reload), a SIGHUP must not end a worker.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)

    from agi.service import Service

    factory = event_loop_factory(config.agi.loop)
    log.info("worker-loop", loop="uvloop" if factory is not None else "asyncio", pid=os.getpid())
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(Service(config, sock=sock, config_path=args.config).run())
    return 0


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for a loop name (``AgiConfig.loop``): None (asyncio's own loop) for
    "asyncio", and for "uvloop" when uvloop is not installed (the service says so when it starts)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(worker_main())
