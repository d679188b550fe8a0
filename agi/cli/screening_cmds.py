"""`grenswacht serve` and `grenswacht screen`."""

from __future__ import annotations

import time

from agi.cli.common import add_command, emit_json, iso, number_arg, open_store
from agi.config import Config
from agi.prefixes import PrefixCache
from agi.screening import screen


async def serve(args, config: Config) -> int:
    from agi import logs
    from agi.service import Service

    logs.configure()
    await Service(config).run()
    return 0


async def screen_cmd(args, config: Config) -> int:
    number = number_arg(args.number, config)
    async with open_store(config) as store:
        prefixes = PrefixCache()
        prefixes.replace(*await store.load_prefixes())
        result = await screen(config, store, prefixes, number, args.did, time.time(), None)
    d = result.decision
    out = {"caller": number, "did": args.did, "protocol": result.protocol, "action": d.action.value,
           "reason": d.reason.value, "score": d.score, "incidents": d.incidents,
           "ban_until": iso(d.ban_until) or None, "would_set_ban_until": iso(d.new_ban.until) if d.new_ban else None}
    if args.json:
        emit_json(out)
    else:
        print(f"{number}: {d.action.value} ({d.reason.value}); score {d.score} from {d.incidents} incident(s) "
              f"in the window of protocol '{result.protocol}'"
              + (f"; banned until {iso(d.ban_until)}" if d.ban_until else ""))
    return 0


def register(sub) -> None:
    add_command(sub, "serve", "run the FastAGI service", serve)
    p = add_command(sub, "screen", "show what would happen to a caller now, and why", screen_cmd, json_output=True)
    p.add_argument("number")
    p.add_argument("--did", help="the dialled number (selects the protocol)")
