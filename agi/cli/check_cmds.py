"""`grenswacht check`: is this installation ready to protect calls? One line per check.

The configuration is checked by loading it (a bad one never gets this far). Each further check
is one entry of CHECKS: an async function (store, config) -> Result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agi.cli.common import UsageError, add_command, open_store
from agi.config import ENV_CONFIG, Config
from redis_schema.store import Store


@dataclass(frozen=True)
class Result:
    ok: bool
    text: str


async def redis_reachable(store: Store, config: Config) -> Result:
    return Result(True, f"redis: reachable, Redis {await store.server_version() or '?'}")


async def redis_durability(store: Store, config: Config) -> Result:
    d = await store.durability()
    if d.durable:
        return Result(True, f"redis durability ({d.mode}): {d.detail}")
    return Result(False, f"redis durability ({d.mode}): Redis would lose acknowledged incidents on restart. {d.detail}")


async def journal(store: Store, config: Config) -> Result:
    """The write-ahead journal: where it is, that it can be written, and nothing set aside in it."""
    path = Path(config.storage.journal_path)
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK) \
            or (path.exists() and (not path.is_file() or not os.access(path, os.W_OK))):
        return Result(False, f"journal: {path} cannot be written by this user, so a key press is logged in "
                             "Redis alone (and lost when Redis is down)")
    poison = path.with_name(path.name + ".poison")
    if poison.exists():
        return Result(False, f"journal: {poison} holds entries set aside as unreadable; look at them, then delete it")
    return Result(True, f"journal: {path} can be written")


CHECKS = (redis_reachable, redis_durability, journal)


def show(result: Result) -> Result:
    print(f"{'ok' if result.ok else 'WARNING':<7}  {result.text}")
    return result


async def check_cmd(args, config: Config) -> int:
    source = args.config or os.environ.get(ENV_CONFIG) or "the built-in defaults"
    results = [show(Result(True, f"config: {source} is valid"))]
    # An unreachable Redis ends here: main reports it in one sentence, with exit code 2.
    async with open_store(config) as store:
        for check in CHECKS:
            results.append(show(await check(store, config)))
    warnings = sum(not r.ok for r in results)
    print(f"{len(results)} checks, {warnings} warning(s).")
    if warnings and args.strict:
        raise UsageError(f"{warnings} check(s) gave a warning, and --strict makes that an error.")
    return 0


def register(sub) -> None:
    p = add_command(sub, "check", "check the configuration, Redis and its durability, one line each", check_cmd)
    p.add_argument("--strict", action="store_true", help="exit with code 2 when any check gives a warning")
