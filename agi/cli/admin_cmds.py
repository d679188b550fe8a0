"""Bans, allowlist and written warnings: `ban`, `unban`, `allow`, `disallow`, `bans`, `warnings`."""

from __future__ import annotations

import argparse
import sys
import time

from agi.actions import lists, names
from agi.actions.bounds import MAX_REASON
from agi.actions.lists import MAX_BAN_DAYS, Target
from agi.cli.common import (
    Subparsers,
    actor,
    add_command,
    add_group,
    emit_json,
    iso,
    listing,
    number_arg,
    open_store,
    table,
)
from agi.config import Config
from agi.numbers import parse_prefix


def target(args: argparse.Namespace, config: Config, *, valid: bool = True) -> Target:
    """A number, or with --prefix a number range like +3185123."""
    if args.prefix:
        return Target("prefix", parse_prefix(args.number))
    return Target("number", number_arg(args.number, config, valid=valid))


def wide_ok(t: Target, args: argparse.Namespace, config: Config) -> bool:
    """A range as wide as a country only with --yes (refused here, in the CLI's words); whether it was given."""
    lists.checked_range(
        t, config.numbers.min_prefix_digits, args.yes, ask="repeat with --yes if you mean the whole range"
    )
    return bool(args.yes)


async def ban_cmd(args: argparse.Namespace, config: Config) -> int:
    t = target(args, config)
    days, who, sure = lists.ban_days(config, args.days, "--days"), actor(args), wide_ok(t, args, config)
    digits = config.numbers.min_prefix_digits
    async with open_store(config) as store:
        until = await lists.ban(store, lists.Change(t, args.reason or "", who, time.time(), sure, digits), days)
    print(f"{t.value}: banned until {iso(until)}")
    return 0


async def unban_cmd(args: argparse.Namespace, config: Config) -> int:
    t = target(args, config, valid=False)  # also lifts what screening set on a spoofed number
    async with open_store(config) as store:
        await lists.unban(store, t, actor(args), time.time())
    print(f"{t.value}: ban lifted")
    return 0


async def allow_cmd(args: argparse.Namespace, config: Config) -> int:
    t = target(args, config)
    who, sure, digits = actor(args), wide_ok(t, args, config), config.numbers.min_prefix_digits
    async with open_store(config) as store:
        await lists.allow(store, lists.Change(t, args.reason or "", who, time.time(), sure, digits))
    print(f"{t.value}: on the allowlist")
    return 0


async def disallow_cmd(args: argparse.Namespace, config: Config) -> int:
    t = target(args, config, valid=False)
    async with open_store(config) as store:
        await lists.disallow(store, t, actor(args), time.time())
    print(f"{t.value}: off the allowlist")
    return 0


async def bans_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        if args.rebuild_index:
            found = await store.lists.rebuild_list_indexes()
            print(f"indexed: {found[0]} ban(s), {found[1]} allowlist entry(ies)", file=sys.stderr)
        bans = await lists.active_bans(store, time.time())
        known = await names.caller_names(store, [b.target for b in bans if b.kind == "number"])
    rows = [
        {
            "target": b.target,
            "kind": b.kind,
            "until": iso(b.until),
            "source": b.source,
            "reason": b.reason,
            "by": b.actor,
            "name": known.get(b.target, "") if b.kind == "number" else "",  # issue 30: the caller's name
        }
        for b in bans
    ]
    if args.json:
        emit_json(rows)
    else:
        table(("target", "kind", "until", "source", "reason", "by", "name"), [tuple(r.values()) for r in rows])
    return 0


async def warnings_list(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        due = await lists.due_warnings(store, config, time.time())
        known = await names.caller_names(store, [w.caller for w in due])
    rows = [
        {
            "caller": w.caller,
            "action": w.action,
            "score": w.score,
            "incidents": w.incidents,
            "last_incident": iso(w.last_incident),
            "name": known.get(w.caller, ""),  # issue 30: the caller's name
        }
        for w in due
    ]
    return listing(rows, args.json)


async def warnings_sent(args: argparse.Namespace, config: Config) -> int:
    number = number_arg(args.number, config)
    async with open_store(config) as store:
        await lists.mark_warning_sent(store, number, actor(args), time.time())
    print(f"{number}: written warning recorded")
    return 0


def register(sub: Subparsers) -> None:
    for name, help, run in (
        ("ban", "set a contact ban (screening refuses the caller)", ban_cmd),
        ("unban", "lift a ban", unban_cmd),
        ("allow", "put on the allowlist (screening always lets the caller through)", allow_cmd),
        ("disallow", "take off the allowlist", disallow_cmd),
    ):
        p = add_command(sub, name, help, run)
        p.add_argument("number", help="a phone number, or with --prefix a number range like +3185123")
        p.add_argument("--prefix", action="store_true", help="NUMBER is a range: every number starting with it")
        p.add_argument("--actor")
        if name in ("ban", "allow"):
            p.add_argument("--reason", help=f"one line, at most {MAX_REASON} characters")
            p.add_argument(
                "--yes",
                action="store_true",
                help="confirm a range as wide as a country ([numbers] min_prefix_digits after the country code)",
            )
        if name == "ban":
            p.add_argument(
                "--days", type=int, help=f"length of the ban, 1 to {MAX_BAN_DAYS} (default: the protocol's ban_days)"
            )
    p = add_command(sub, "bans", "active bans, numbers and ranges", bans_cmd, json_output=True)
    p.add_argument(
        "--rebuild-index",
        action="store_true",
        help="first index every caller's ban and allowlist entry (once, after upgrading from 0.2)",
    )
    wsub = add_group(sub, "warnings", "callers due a written warning (and `warnings sent NUMBER`)", warnings_list)
    add_command(wsub, "list", "callers due a written warning", warnings_list, json_output=True)
    p = add_command(wsub, "sent", "record that a written warning was sent", warnings_sent)
    p.add_argument("number")
    p.add_argument("--actor")
