"""A recordings folder the service cannot use (issue 28): missing, not a folder, read-only, on a full
disk. `grenswacht serve` says so in one line at start and calls go on unrecorded (screened and
logged as ever) until the folder is fixed; `grenswacht check` says the same sentence.

The read-only and full-disk folders are small tmpfs mounts, so these tests run as root (as the
end-to-end suite does, which mounts /proc in Asterisk's chroot)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from structlog.testing import capture_logs

from agi import recordings as recordings_module
from agi.config import RecordingsConfig
from agi.recordings import FolderWatch, fate, folder_problem
from redis_schema.records import LiveCall
from tests.support.agi_client import agi_header, run_call
from tests.support.redis_server import free_port
from tests.test_admin_first_hour import SCRIPT, write_config
from tests.test_check import check, lines

TAIL = ", so no call is recorded (calls are still screened and logged)."


@contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tiny file system of its own at ``where`` (root only; always unmounted after)."""
    if os.geteuid() != 0:
        raise RuntimeError("these tests mount a tmpfs: run them as root, like the end-to-end suite")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def problem(folder: Path) -> str | None:
    return folder_problem(RecordingsConfig(record="flagged", folder=str(folder)))


def test_each_unusable_folder_is_one_sentence_saying_calls_go_on(tmp_path):
    assert problem(tmp_path / "nope") == f"recordings.folder: {tmp_path / 'nope'} does not exist{TAIL}"
    (tmp_path / "file").write_text("x")
    assert problem(tmp_path / "file") == f"recordings.folder: {tmp_path / 'file'} is not a folder{TAIL}"
    assert problem(tmp_path) is None and os.listdir(tmp_path) == ["file"]  # the probe file is gone again
    with tmpfs(tmp_path / "ro", "size=64k,ro") as ro:
        assert problem(ro) == f"recordings.folder: {ro} is on a read-only file system{TAIL}"
    with tmpfs(tmp_path / "full", "size=64k") as full:
        assert problem(full) is None
        fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # fill it up
            while os.write(fd, bytes(4096)):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        assert problem(full) == f"recordings.folder: {full} is on a full disk{TAIL}"
        assert sorted(os.listdir(full)) == ["filler"]
    assert folder_problem(RecordingsConfig(record="off", folder=str(tmp_path / "nope"))) is None  # off: not used


def test_the_watch_logs_a_change_once_and_not_every_sweep(tmp_path):
    watch, settings = FolderWatch(), RecordingsConfig(record="all", folder=str(tmp_path / "rec"))
    with capture_logs() as logs:
        for _ in range(3):
            watch.assess(settings)
        assert not watch.usable
        (tmp_path / "rec").mkdir()
        watch.assess(settings)
        watch.assess(settings)
    assert watch.usable
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("recordings-folder-unusable", "error"),
        ("recordings-folder-usable", "info"),
    ]
    assert logs[0]["problem"] == f"recordings.folder: {tmp_path / 'rec'} does not exist{TAIL}"


def test_a_logged_call_whose_file_never_came_is_settled_after_the_window():
    """Before: such a call waited in gw:rec:open for ever (no file to keep, never deleted)."""
    call = LiveCall("PJSIP/1001", "lid", "+31612345678", 100.0, rid="r", file="/x.wav", ended=200.0, incident="i")
    assert fate(call, 300.0, 600, False) == "wait"  # a shared folder may show it late
    assert fate(call, 801.0, 600, False) == "missing"
    assert fate(call, 801.0, 600, True) == "keep"


class Serve:
    """`grenswacht serve` as a process; its JSON log lines read as they come."""

    def __init__(self, cfg: Path):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GRENSWACHT_")}
        self.proc = subprocess.Popen(
            [SCRIPT, "--config", str(cfg), "serve"], stderr=subprocess.PIPE, text=True, env=environ
        )
        self.events: list[dict] = []
        self._lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self._lines.put(json.loads(line))
            except ValueError:
                self._lines.put({"event": "not-json", "line": line})
        self._lines.put(None)

    def wait_for(self, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = self._lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if event is None:
                raise AssertionError(f"serve ended before {name}: {self.events[-5:]}")
            self.events.append(event)
            if event["event"] == name:
                return event

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def answered(port: int, uniqueid: str) -> dict[str, str]:
    """The answered-leg Gosub's request, as Asterisk sends it when agent 1001 answers."""
    header = agi_header("answered", uniqueid=uniqueid, channel="Local/1001@agents-0001;1", args=("start", "support"))
    vars_ = {"MEMBERINTERFACE": "Local/1001@agents/n", "GW_CALLER": "+31612345678"}
    return asyncio.run(run_call("127.0.0.1", port, header, channel_vars=vars_)).variables


def test_serve_with_a_missing_folder_says_so_once_and_calls_go_on_until_it_is_made(tmp_path, redis_server):
    # The session's Redis: what an earlier test of this worker left (a ban of the test caller) goes.
    with redis.Redis.from_url(redis_server.url) as r:
        r.flushdb()
    folder, port = tmp_path / "rec", free_port()
    rec = f'[agi]\nlisten = "127.0.0.1:{port}"\n[recordings]\nrecord = "all"\nfolder = "{folder}"\n'
    serve = Serve(write_config(tmp_path, redis_server.url, rec))
    try:
        line = serve.wait_for("recordings-folder-unusable")
        assert (line["level"], line["problem"]) == ("error", f"recordings.folder: {folder} does not exist{TAIL}")
        serve.wait_for("grenswacht-started")
        # The call path: the caller is screened, the agent's answer is remembered, nothing recorded.
        screened = asyncio.run(run_call("127.0.0.1", port, agi_header("screen", args=("0201234567",))))
        assert screened.variables["GW_ACTION"] == "allow"
        assert answered(port, "1763800000.1")["GW_REC_FILE"] == ""
        folder.mkdir()
        serve.wait_for("recordings-folder-usable", timeout=30)
        assert answered(port, "1763800000.2")["GW_REC_FILE"].startswith(f"{folder}/1763800000.2-")
    finally:
        serve.stop()
    assert [e["event"] for e in serve.events].count("recordings-folder-unusable") == 1


def test_check_says_the_same_sentence(tmp_path, redis_server):
    with tmpfs(tmp_path / "ro", "size=64k,ro") as ro:
        out = check(tmp_path, redis_server.url, extra=f'[recordings]\nrecord = "all"\nfolder = "{ro}"\n')
    assert out.returncode == 0, out.stderr
    assert f"WARNING  recordings.folder: {ro} is on a read-only file system{TAIL}" in lines(out)
    out = check(tmp_path, redis_server.url, extra=f'[recordings]\nrecord = "all"\nfolder = "{tmp_path}"\n')
    assert f"ok       recordings: all, in {tmp_path}" in lines(out)


def as_nobody(folder: Path) -> str | None:
    """folder_problem as the service's own user would see it (uid 65534 in a forked child)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, answer, leave without running anything of pytest's
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, json.dumps(problem(folder)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    return json.loads(text)


def test_a_folder_of_another_user_is_named_as_such(tmp_path):
    """The service runs as its own user: a folder Asterisk's user keeps to itself (0700), or one
    under a folder closed to the service, is not "missing"."""
    if os.geteuid() != 0:
        raise RuntimeError("this test drops root to another user: run it as root, like the end-to-end suite")
    import tempfile

    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        shared.chmod(0o755)
        (shared / "rec").mkdir(mode=0o700)  # root's, as Asterisk's folder would be asterisk's
        uid = f"(uid {65534})"
        assert (
            as_nobody(shared / "rec")
            == f"recordings.folder: {shared / 'rec'} cannot be read and written by this service's user {uid}{TAIL}"
        )
        assert (
            as_nobody(tmp_path / "rec")
            == f"recordings.folder: {tmp_path / 'rec'} cannot be reached by this service's user {uid}{TAIL}"
        )
        (shared / "rec").chmod(0o777)
        assert as_nobody(shared / "rec") is None
    finally:
        shutil.rmtree(shared)


def test_the_state_has_changed_when_its_line_is_written(tmp_path, monkeypatch):
    """assess() runs in a thread: a call that follows the 'usable' line (an operator who just made
    the folder, a test waiting for the line) must find it usable. Before, the line came first and
    the state a moment later, and such a call could still go unrecorded."""
    watch, folder = FolderWatch(), tmp_path / "rec"
    settings = RecordingsConfig(record="all", folder=str(folder))
    seen: list[tuple[str, bool]] = []

    class Spy:
        def info(self, event: str, **fields: object) -> None:
            seen.append((event, watch.usable))

        error = info

    monkeypatch.setattr(recordings_module, "log", Spy())
    watch.assess(settings)
    folder.mkdir()
    watch.assess(settings)
    watch.assess(settings)  # no change: no line
    assert seen == [("recordings-folder-unusable", False), ("recordings-folder-usable", True)]
