"""Grenswacht demo: one caller walked up the protocol ladder on a real Asterisk 22.

Starts its own redis-server and Asterisk (from the root scripts/provision-asterisk built), runs
the Grenswacht service, places four calls from the same number and prints what the caller heard
and where each call went, as Asterisk reported it over AMI; then a fifth caller's call ends with a
callback appointment (*7) that the PBX places. Run through `scripts/demo`.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agi import logs  # noqa: E402
from tests.support.asterisk import AmiObserver  # noqa: E402
from tests.support.stack import running_pbx  # noqa: E402

CALLER = "+31 6 1234 5678"
CALLBACK_CALLER = "+31687654321"
NAME = "Jansen"


def prompt_texts(lang: str) -> dict[str, str]:
    rows = csv.reader((REPO / "dialplan/sounds/prompts.tsv").read_text().splitlines(), delimiter="\t")
    return {r[1]: r[2] for r in rows if r and not r[0].startswith("#") and r[0] == lang}


def short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


async def one_call(ami: AmiObserver, n: int, texts: dict[str, str]) -> str:
    ami.reset()
    lid = await ami.originate(
        CALLER, name=NAME, variables={"__GW_TEST_KEYS": "*0", "__GW_TEST_SENIOR_KEYS": "*0", "__GW_TEST_WAIT": "2"}
    )
    action = await ami.wait_for(
        lambda e: e.get("Linkedid") == lid and e.get("Variable") == "GW_ACTION" and e.get("Value"), timeout=30
    )
    reason = await ami.wait_for(
        lambda e: e.get("Linkedid") == lid and e.get("Variable") == "GW_REASON" and e.get("Value"), timeout=30
    )
    score = [e.get("Value") for e in ami.call_events(lid) if e.get("Variable") == "GW_SCORE"][-1]
    print(f"\nCall {n}: {NAME} <{CALLER}> dials the service line")
    print(f"  Grenswacht decides : {action['Value']} ({reason['Value']}, score {score})")
    # Follow the call until the caller's side hangs up.
    await ami.wait_for(
        lambda e: (
            e.get("Linkedid") == lid
            and e.get("Event") == "Hangup"
            and e.get("Channel", "").endswith(";2")
            and "@inbound" in e.get("Channel", "")
        ),
        timeout=60,
    )
    await asyncio.sleep(0.5)
    events = ami.call_events(lid)
    pressed = False
    for e in events:  # in the order Asterisk reported them
        kind, app = e.get("Event"), e.get("Application")
        if kind == "Newexten" and app == "Playback" and "@inbound" in e.get("Channel", ""):
            name = e["AppData"].rsplit("/", 1)[-1]
            print(f'  caller hears       : "{short(texts.get(name, name))}"')
        elif kind == "UserEvent" and e.get("UserEvent") == "GwTestAgentAnswered":
            print(f"  call goes to       : queue 'support', agent {e['Agent']} answers")
        elif kind == "UserEvent" and e.get("UserEvent") == "GwTestSeniorAnswered":
            print(f'  call goes to       : the senior colleague; their display shows "{e["Name"]}"')
        elif kind == "Newexten" and e.get("Context") == "grenswacht-agent-key" and app == "AGI" and not pressed:
            pressed = True
            who = "the senior" if "seniors" in e.get("Channel", "") else "the agent"
            print(f"  {who} presses *0 : the caller is closed politely (they hear:)")
    if pressed:
        inc = await ami.wait_for(
            lambda e: e.get("UserEvent") == "GrenswachtIncident" and e.get("CallLinkedid") == lid, timeout=10
        )
        print(
            f"  logbook            : incident {inc['IncidentId']} ({inc['Category']}) by {inc['Agent']}; "
            f"supervisor notified (AMI UserEvent GrenswachtIncident)"
        )
        try:
            pause = await ami.wait_for(
                lambda e: (
                    e.get("Event") == "QueueMemberPause"
                    and e.get("Paused") == "1"
                    and e.get("Interface") == inc["Agent"]
                ),
                timeout=5,
            )
            print(f"  after-care         : {inc['Agent']} paused ({pause['PausedReason']}), unpaused automatically")
        except TimeoutError:
            pass
    if action["Value"] == "refuse":
        print("  the caller is hung up after the message; a 90-day contact ban is in the logbook")
    return action["Value"]


async def callback_call(pbx, texts: dict[str, str]) -> bool:
    """Another caller keeps shouting: the agent ends with *7 and an agreed time; the PBX calls back."""
    from agi.callbacks import appointments, rules

    ami, deps = pbx.ami, pbx.service.deps
    ami.reset()
    print(f"\nCall 5: {CALLBACK_CALLER} keeps shouting; the agent ends the call with *7 and agrees on 10:30")
    lid = await ami.originate(
        CALLBACK_CALLER, name="De Vries", variables={"__GW_TEST_KEYS": "*7WWW1030" + "W" * 9 + "1" + "W" * 6 + "1"}
    )
    await ami.wait_for(
        lambda e: (
            e.get("Linkedid") == lid
            and e.get("Event") == "Hangup"
            and e.get("Context") == "grenswacht-callback-closing"
        ),
        timeout=40,
    )
    print(f'  caller hears       : "{short(texts["callback-closing"])}" and is hung up')
    await ami.wait_for(
        lambda e: e.get("Linkedid") == lid and e.get("Application") == "AGI" and ",confirm," in e.get("AppData", ""),
        timeout=40,
    )
    await asyncio.sleep(0.5)
    [appt] = await appointments.load_all(deps.store)
    r = rules.Rules.from_config(deps.config.callbacks)
    day = rules.spoken_day(r, deps.clock(), appt.due)
    print(f'  agent keys 1030    : hears "{day} at {r.local(appt.due):%H:%M}", presses 1; appointment {appt.id} stored')
    soon = deps.clock() + 3
    ami.reset()
    await appointments.move(deps.store, r, appt.id, due=soon, now=deps.clock(), by="demo")
    print(
        f"  (for the demo the supervisor moves it to now: grenswacht callbacks move {appt.id} --at "
        f"{r.local(soon):%H:%M:%S})"
    )
    agent = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered", timeout=30)
    print(
        f"  the PBX calls back : agent {agent['Agent']} is rung first and hears the whisper "
        f'"{texts["callback-whisper"]} …, {texts["callback-agreed"]} …"'
    )
    callee = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCallbackAnswered", timeout=40)
    print(f"  then the caller    : {callee['Number']} answers; their display shows {callee['CallerID']}")
    for _ in range(100):
        [appt] = await appointments.load_all(deps.store)
        if appt.status == "done":
            break
        await asyncio.sleep(0.2)
    print(f"  logbook            : appointment {appt.status} after {appt.attempts} attempt(s)")
    return appt.status == "done"


def closing_lines(keep: bool, running: dict[str, str]) -> list[str]:
    """The demo's last lines: what is still running once they are printed, and where (pure)."""
    if keep:
        return [
            "Still running, until Ctrl-C stops them all:",
            *(f"  {name:<12} {where}" for name, where in running.items()),
        ]
    *rest, last = running
    return [
        f"The demo is over: {', '.join(rest)} and {last} stop with it now; nothing it started keeps running.",
        "To look around in the console, run `bash scripts/demo --keep`: it keeps them running until Ctrl-C.",
    ]


async def console_step(pbx, keep: bool) -> None:
    """The supervisor console on the demo's Redis: print its address and a demo login."""
    import secrets
    import socket
    import time

    import uvicorn

    from agi.actions import users
    from agi.config import WebConfig
    from console.app import create_app
    from tests.support.redis_server import free_port

    password = secrets.token_urlsafe(9)
    store = pbx.service.deps.store
    await users.add(store, "demo", "admin", password, "demo", time.time())
    with socket.socket() as probe:
        port = 8080 if probe.connect_ex(("127.0.0.1", 8080)) != 0 else free_port()
    config = pbx.service.config.model_copy(update={"web": WebConfig(listen=f"127.0.0.1:{port}", language="en")})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, store), host="127.0.0.1", port=port, log_config=None, lifespan="off", access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    running = {
        "the console": f"http://127.0.0.1:{port}/ (log in as: demo / {password})",
        "Grenswacht": f"FastAGI on {pbx.service.config.agi.listen}",
        "Asterisk 22": f"AMI on 127.0.0.1:{pbx.asterisk.ami_port}",
        "Redis": pbx.redis.url,
    }
    print("\n" + "\n".join(closing_lines(keep, running)))
    try:
        if keep:
            await asyncio.Event().wait()
    finally:
        server.should_exit = True
        await task


async def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="grenswacht-demo-"))
    logs.configure(stream=open(work / "grenswacht.log", "w"))
    settings = {
        "routing": {"senior_destination": "Local/senior@seniors"},
        "prompts": {"language": "en"},
        "aftercare": {"cooldown_seconds": 2},
        "storage": {"journal_path": str(work / "journal.jsonl")},
        "callbacks": {
            "caller_id": "+31201234567",
            "outbound_context": "callback-out",
            "opens": "00:00",
            "closes": "23:59",
            "closed_days": [],
        },
    }
    async with running_pbx(("1001",), settings) as pbx:
        ami, redis = pbx.ami, pbx.redis
        print("Grenswacht demo: Redis, Asterisk 22 and Grenswacht are running on this machine.")
        print("Each call comes from the same number; the agent ends each one with *0 (end and log).")
        texts = prompt_texts("en")
        seen = []
        for n in range(1, 5):
            seen.append(await one_call(ami, n, texts))
            await asyncio.sleep(3)  # let the agent's cool-down run out before the next call
        print("\nWhat the supervisor's tool says now:\n")
        cfg_file = work / "grenswacht.toml"
        cfg_file.write_text(f'[redis]\nurl = "{redis.url}"\n')
        out = subprocess.run(
            [sys.executable, "-m", "agi", "--config", str(cfg_file), "screen", CALLER], capture_output=True, text=True
        )
        print("  $ grenswacht screen '" + CALLER + "'\n  " + (out.stdout or out.stderr).strip())
        print(f"\nThe protocol ladder, as Asterisk reported it: {' -> '.join(seen)}")
        await asyncio.sleep(3)
        called_back = await callback_call(pbx, texts)
        print(f"(the service's own log: {work / 'grenswacht.log'})")
        await console_step(pbx, "--keep" in sys.argv[1:])
        return 0 if seen == ["allow", "warn", "senior", "refuse"] and called_back else 1


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("demo: run as root (Asterisk runs in a chroot).", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # Ctrl-C ends `--keep`: everything was stopped on the way out
        print("\ndemo: stopped.")
        sys.exit(0)
