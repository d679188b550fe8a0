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

from redis.exceptions import RedisError

from agi.actions import ActionError
from agi.cli import commands
from agi.cli.common import Parser, UsageError
from agi.config import ConfigError, load_config
from agi.numbers import BadNumber
from agi.workers import event_loop_factory


def build_parser() -> Parser:
    parser = Parser(prog="grenswacht", description="Protect agents from abusive callers on Asterisk.")
    parser.add_argument("--config", default=None, help="TOML configuration file (default: $GRENSWACHT_CONFIG)")
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
        return unreachable(exc)
    except (RedisError, OSError) as exc:
        return unreachable(exc)
    except KeyboardInterrupt:
        return 130


def unreachable(exc: Exception) -> int:
    print(f"grenswacht: the store is unreachable ({type(exc).__name__}: {str(exc)[:120]}).", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
