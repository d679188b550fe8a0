"""Entry point of the ``grenswacht`` console script.

Every operator mistake (bad config, bad number, unknown id, unreachable Redis) ends with
exit code 2 and one sentence on stderr, never a traceback. Output cut short by its reader
(``grenswacht audit | head``) ends quietly with exit code 0, as other Unix tools do.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys

from redis.exceptions import AuthenticationError, RedisError, ResponseError

from agi import __version__
from agi.actions import ActionError
from agi.cli import commands
from agi.cli.common import Parser, UsageError
from agi.config import ConfigError, load_config
from agi.numbers import BadNumber


def build_parser() -> Parser:
    parser = Parser(prog="grenswacht", description="Protect agents from abusive callers on Asterisk.")
    parser.add_argument("--config", default=None, help="TOML configuration file (default: $GRENSWACHT_CONFIG)")
    parser.add_argument("--version", action="version", version=f"grenswacht {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    commands.register(sub)
    return parser


def stdout_closed() -> bool:
    """Whether standard output's reader has gone (a pipe or socket with no one reading)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):  # no stdout, or not a real descriptor
        return False


def quiet_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's final flush of what is still
    buffered for the closed pipe does not fail (Python's documented recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        config = load_config(args.config)
        from agi.workers import event_loop_factory  # here: the worker machinery loads the service's parts

        with asyncio.Runner(loop_factory=event_loop_factory(config.agi.loop)) as runner:
            code = runner.run(args.run(args, config)) or 0
        sys.stdout.flush()  # here, so that a closed pipe is seen below and not at exit
        return code
    except (UsageError, ConfigError, BadNumber, ActionError) as exc:
        print(f"grenswacht: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError as exc:
        if stdout_closed():  # the reader stopped reading (| head): not an error
            quiet_stdout()
            return 0
        return failed(exc)
    except (RedisError, OSError) as exc:
        return failed(exc)
    except KeyboardInterrupt:
        return 130


def failed(exc: Exception) -> int:
    """One sentence for a failure outside the command's own checks, naming what to change."""
    print(f"grenswacht: {problem(exc)}.", file=sys.stderr)
    return 2


def problem(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, AuthenticationError) or any(w in text for w in ("NOAUTH", "WRONGPASS", "HELLO must be called")):
        return (
            "Redis refused the login: set GRENSWACHT_REDIS_PASSWORD (or GRENSWACHT_REDIS_PASSWORD_FILE) "
            f"to the password of [redis] url ({type(exc).__name__}: {text})"
        )
    if isinstance(exc, ResponseError) and "DB index is out of range" in text:
        return "Redis has no database with the number at the end of [redis] url (e.g. redis://host:6379/0)"
    if isinstance(exc, RedisError | TimeoutError | ConnectionError):
        return f"the store is unreachable ({type(exc).__name__}: {text})"
    # Anything else the machine refused (a file, a descriptor, a signal): not the store's fault.
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    return f"the command failed{where}: {type(exc).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
