"""Bans, allowlist and written warnings: `ban`, `unban`, `allow`, `disallow`, `bans`, `warnings`."""

from __future__ import annotations

import time

from agi.cli.common import UsageError, actor, add_command, add_group, emit_json, iso, number_arg, open_store, table
from agi.cli.logbook_cmds import load_prefixes
from agi.config import Config
from agi.engine import DAY, Action, Allow, Ban, decide, rung_at_least
from agi.numbers import parse_prefix


MAX_BAN_DAYS = 3650


def target(args, config: Config, *, valid: bool = True) -> tuple[str, str]:
    """('number', +316...) or ('prefix', +3185...)."""
    if args.prefix:
        return "prefix", parse_prefix(args.number)
    return "number", number_arg(args.number, config, valid=valid)


async def ban_cmd(args, config: Config) -> int:
    kind, value = target(args, config)
    days = args.days if args.days is not None else config.protocol_for(None)[1].ban_days or 90
    if not 1 <= days <= MAX_BAN_DAYS:
        raise UsageError(f"--days must be a whole number from 1 to {MAX_BAN_DAYS} (ten years).")
    now, who = time.time(), actor(args)
    until = now + days * DAY
    async with open_store(config) as store:
        if kind == "prefix":
            await store.set_prefix("ban", value, {"until": until, "reason": args.reason or "", "at": now, "by": who})
        else:
            await store.set_ban(value, Ban(until=until, reason=args.reason or "", source="manual", set_at=now, actor=who))
        await store.audit(who, "ban", now, **{kind: value, "until": iso(until), "reason": args.reason})
    print(f"{value}: banned until {iso(until)}")
    return 0


async def _clear(args, config: Config, what: str, action: str, missing: str, done: str) -> int:
    """unban / disallow: remove a number's or a range's entry, and say so in the audit trail."""
    kind, value = target(args, config, valid=False)   # also lifts what screening set on a spoofed number
    async with open_store(config) as store:
        removed = await (store.clear_prefix(what, value) if kind == "prefix"
                         else store.clear_ban(value) if what == "ban" else store.clear_allow(value))
        if not removed:
            raise UsageError(f"{value} {missing}.")
        await store.audit(actor(args), action, time.time(), **{kind: value})
    print(f"{value}: {done}")
    return 0


async def unban_cmd(args, config: Config) -> int:
    return await _clear(args, config, "ban", "unban", "has no ban", "ban lifted")


async def allow_cmd(args, config: Config) -> int:
    kind, value = target(args, config)
    now, who = time.time(), actor(args)
    async with open_store(config) as store:
        if kind == "prefix":
            await store.set_prefix("allow", value, {"reason": args.reason or "", "at": now, "by": who})
        else:
            await store.set_allow(value, Allow(reason=args.reason or "", set_at=now, actor=who))
        await store.audit(who, "allow", now, **{kind: value, "reason": args.reason})
    print(f"{value}: on the allowlist")
    return 0


async def disallow_cmd(args, config: Config) -> int:
    return await _clear(args, config, "allow", "disallow", "is not on the allowlist", "off the allowlist")


async def bans_cmd(args, config: Config) -> int:
    now = time.time()
    rows = []
    async with open_store(config) as store:
        numbers = [n async for n in store.all_callers()]
        for number, rec in (await store.load_callers(numbers)).items():
            if rec.ban is not None and rec.ban.until > now:
                rows.append({"target": number, "kind": "number", "until": iso(rec.ban.until), "source": rec.ban.source,
                             "reason": rec.ban.reason, "by": rec.ban.actor})
        bans, _ = await store.load_prefixes()
        for prefix, ban in bans.items():
            if ban.until > now:
                rows.append({"target": prefix, "kind": "prefix", "until": iso(ban.until), "source": "prefix",
                             "reason": ban.reason, "by": ban.actor})
    rows.sort(key=lambda r: r["until"])
    if args.json:
        emit_json(rows)
    else:
        table(("target", "kind", "until", "source", "reason", "by"), [tuple(r.values()) for r in rows])
    return 0


async def due_warnings(store, config: Config, now: float) -> list[dict]:
    """Callers at or above the written-warning rung with no warning recorded."""
    _, protocol = config.protocol_for(None)
    prefixes = await load_prefixes(store)
    numbers = [n async for n in store.all_callers()]
    out = []
    for number, rec in sorted((await store.load_callers(numbers)).items()):
        if rec.warning_sent_at is not None or not rec.incidents:
            continue
        pban, pallow = prefixes.lookup(number)
        d = decide(rec, protocol, now, prefix_ban=pban, prefix_allow=pallow)
        if d.action is not Action.ALLOW and rung_at_least(d.action, protocol.written_warning_at):
            out.append({"caller": number, "action": d.action.value, "score": d.score, "incidents": d.incidents,
                        "last_incident": iso(rec.incidents[-1].at)})
    return out


async def warnings_list(args, config: Config) -> int:
    async with open_store(config) as store:
        rows = await due_warnings(store, config, time.time())
    if args.json:
        emit_json(rows)
    else:
        table(("caller", "action", "score", "incidents", "last_incident"), [tuple(r.values()) for r in rows])
    return 0


async def warnings_sent(args, config: Config) -> int:
    number = number_arg(args.number, config)
    now, who = time.time(), actor(args)
    async with open_store(config) as store:
        await store.mark_warning_sent(number, now, who)
        await store.audit(who, "warning-sent", now, number=number)
    print(f"{number}: written warning recorded")
    return 0


def register(sub) -> None:
    for name, help, run in (("ban", "set a contact ban (screening refuses the caller)", ban_cmd),
                            ("unban", "lift a ban", unban_cmd),
                            ("allow", "put on the allowlist (screening always lets the caller through)", allow_cmd),
                            ("disallow", "take off the allowlist", disallow_cmd)):
        p = add_command(sub, name, help, run)
        p.add_argument("number", help="a phone number, or with --prefix a number range like +3185123")
        p.add_argument("--prefix", action="store_true", help="NUMBER is a range: every number starting with it")
        p.add_argument("--actor")
        if name in ("ban", "allow"):
            p.add_argument("--reason")
        if name == "ban":
            p.add_argument("--days", type=int,
                           help=f"length of the ban, 1 to {MAX_BAN_DAYS} (default: the protocol's ban_days)")
    add_command(sub, "bans", "active bans, numbers and ranges", bans_cmd, json_output=True)
    wsub = add_group(sub, "warnings", "callers due a written warning (and `warnings sent NUMBER`)", warnings_list)
    add_command(wsub, "list", "callers due a written warning", warnings_list, json_output=True)
    p = add_command(wsub, "sent", "record that a written warning was sent", warnings_sent)
    p.add_argument("number")
    p.add_argument("--actor")
