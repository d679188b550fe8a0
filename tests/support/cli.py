"""The `grenswacht` command run inside the test process, as the console script would run it.

Starting the console script costs about a second of processor time (the interpreter and the
imports), and the tests run the CLI hundreds of times; on the 2-core test machine that was a
good share of the whole test command. `run_cli` calls the same entry point (`agi.cli.main.main`)
with its own standard input, output and error and gives back what `subprocess.run(...,
capture_output=True)` would: the exit code, and stdout/stderr read the way a pipe reader in text
mode reads them (UTF-8, universal newlines) or as bytes.

It runs the command in a thread of its own, so that it works from async tests too (the command
runs its own event loop, which cannot start inside a running one), and it fails the test when the
command does not end in time. An exception that escapes `main` is written to stderr as the
interpreter would print it, with exit code 1, so that "no traceback" assertions still see it.

Where the separate process is the point (exit codes seen by a shell, `| head`, signals, resource
limits, `serve` and `web`), the tests still start the real console script (`SCRIPT`).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))

# The standard streams and the environment are the process's; one command at a time changes them.
_lock = threading.Lock()


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stream() -> io.TextIOWrapper:
    # A text stream over bytes, like the pipe a child process writes: `.buffer` works too.
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)


def _read(stream: io.TextIOWrapper, text: bool) -> Any:
    stream.flush()
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    if not text:
        return data
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()  # universal newlines


def run_cli(
    args: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    text: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[Any]:
    """`grenswacht ARGS` in this process: a CompletedProcess with returncode, stdout and stderr."""
    from agi.cli.main import main

    argv = [str(a) for a in args]
    stdout, stderr = _stream(), _stream()
    stdin = io.StringIO(input or "")
    result: list[int] = []

    def command() -> None:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help and its own errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc(file=sys.stderr)
            code = 1
        result.append(code)

    with _lock, _environment(env):
        saved = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        try:
            thread = threading.Thread(target=command, name="grenswacht-cli", daemon=True)
            thread.start()
            thread.join(timeout)
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved
    if thread.is_alive():
        raise subprocess.TimeoutExpired(["grenswacht", *argv], timeout, _read(stdout, text), _read(stderr, text))
    return subprocess.CompletedProcess(["grenswacht", *argv], result[0], _read(stdout, text), _read(stderr, text))
