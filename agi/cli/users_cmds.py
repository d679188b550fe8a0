"""Console accounts: `users add|list|passwd|remove`."""

from __future__ import annotations

import argparse
import sys
import time

from agi.actions import names, totp, users
from agi.cli.common import (
    Subparsers,
    UsageError,
    actor,
    add_command,
    add_group,
    emit_json,
    iso,
    listing,
    open_store,
    table,
)
from agi.config import Config


def read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise UsageError("give the password on standard input with --password-stdin (never on the command line).")
    password = sys.stdin.readline(users.MAX_PASSWORD + 2).rstrip("\r\n")
    if not password:
        raise UsageError("no password on standard input.")
    return password


async def add_cmd(args: argparse.Namespace, config: Config) -> int:
    password = read_password(args)
    async with open_store(config) as store:
        user = await users.add(
            store,
            args.name,
            args.role,
            password,
            actor(args),
            time.time(),
            phone=args.phone or "",
            interfaces=args.interface or [],
        )
    print(f"{user.name}: added as {user.role}")
    return 0


async def list_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "phone": u.phone,
                "interfaces": " ".join(u.interfaces),
                "created": iso(u.created_at),
                "by": u.created_by,
            }
            for u in await users.list_users(store)
        ]
    return listing(rows, args.json)


async def passwd_cmd(args: argparse.Namespace, config: Config) -> int:
    password = read_password(args)
    async with open_store(config) as store:
        await users.passwd(store, args.name, password, actor(args), time.time())
    print(f"{args.name}: password changed; their sessions have ended")
    return 0


async def phone_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        user = await users.set_phone(store, args.name, args.phone, actor(args), time.time())
    print(f"{user.name}: phone {user.phone or 'none'}")
    return 0


async def remove_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        await users.remove(store, args.name, actor(args), time.time())
    print(f"{args.name}: removed")
    return 0


async def unlock_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        lifted = await users.unlock(store, args.name, actor(args), time.time())
    print(f"{args.name}: " + ("lockout lifted" if lifted else "no failed logins recorded; nothing to lift"))
    return 0


async def totp_reset_cmd(args: argparse.Namespace, config: Config) -> int:
    """Issue 30: remove a user's TOTP second factor (a lost phone); their sessions end."""
    async with open_store(config) as store:
        await totp.reset(store, args.name, actor(args), time.time())
    print(f"{args.name}: second factor removed; they log in with the password alone (and may enrol again)")
    return 0


async def agent_name_cmd(args: argparse.Namespace, config: Config) -> int:
    """`agents name IFACE NAME`, and `agents unname IFACE` (no name)."""
    async with open_store(config) as store:
        if args.name is None:
            await names.unname_agent(store, args.interface, actor(args), time.time())
        else:
            await names.name_agent(store, args.interface, args.name, actor(args), time.time())
    print(
        f"{args.interface.strip()}: "
        + ("name removed" if args.name is None else f"shown as {' '.join(args.name.split())}")
    )
    return 0


async def agent_names_cmd(args: argparse.Namespace, config: Config) -> int:
    async with open_store(config) as store:
        found = sorted((await names.agent_names(store)).items())
    if args.json:
        emit_json([{"interface": i, "name": n} for i, n in found])
    else:
        table(("interface", "name"), found)
    return 0


def register(sub: Subparsers) -> None:
    usub = add_group(sub, "users", "web console accounts")
    p = add_command(usub, "add", "add a console user", add_cmd)
    p.add_argument("name")
    p.add_argument("--role", choices=users.ROLES, required=True)
    p.add_argument("--phone", help="the dial string a listen-in rings, e.g. PJSIP/1005")
    p.add_argument(
        "--interface", action="append", help="an agent's queue member interface, e.g. PJSIP/1001 (repeatable)"
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--actor")
    add_command(usub, "list", "list console users", list_cmd, json_output=True)
    p = add_command(usub, "passwd", "set a user's password (ends their sessions)", passwd_cmd)
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--actor")
    p = add_command(usub, "phone", "set (or with '' clear) the phone a user's listen-in rings", phone_cmd)
    p.add_argument("name")
    p.add_argument("phone")
    p.add_argument("--actor")
    p = add_command(usub, "remove", "remove a console user", remove_cmd)
    p.add_argument("name")
    p.add_argument("--actor")
    p = add_command(usub, "unlock", "lift a login lockout of an account (or of an address)", unlock_cmd)
    p.add_argument("name", help="a user name, or an IP address (an IPv6 address stands for its /64)")
    p.add_argument("--actor")
    p = add_command(usub, "totp-reset", "remove a user's TOTP second factor (ends their sessions)", totp_reset_cmd)
    p.add_argument("name")
    p.add_argument("--actor")
    # Issue 30: agents' display names (shown wherever the console, the CLI and the police report show an agent).
    asub = add_group(sub, "agents", "agents' display names, by interface")
    p = add_command(
        asub, "name", "show an agent interface under a name, e.g. PJSIP/1003 'Anne de Vries'", agent_name_cmd
    )
    p.add_argument("interface")
    p.add_argument("name")
    p.add_argument("--actor")
    add_command(asub, "list", "list the agents' names", agent_names_cmd, json_output=True)
    p = add_command(asub, "unname", "remove an agent interface's name", agent_name_cmd)
    p.add_argument("interface")
    p.set_defaults(name=None)
    p.add_argument("--actor")
