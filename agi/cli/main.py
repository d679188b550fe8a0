"""Entry point of the ``grenswacht`` console script.

Every operator mistake (bad config, bad number, unknown id, unreachable Redis) ends with
exit code 2 and one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import sys

from redis.exceptions import RedisError

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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        config = load_config(args.config)
        with asyncio.Runner(loop_factory=event_loop_factory(config.agi.loop)) as runner:
            return runner.run(args.run(args, config)) or 0
    except (UsageError, ConfigError, BadNumber) as exc:
        print(f"grenswacht: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:
        print(f"grenswacht: the store is unreachable ({type(exc).__name__}: {str(exc)[:120]}).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
