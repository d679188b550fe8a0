"""Issue 29 on a real Asterisk 22: listen in on any live call of a queue, from the console's board.

The call did not ask for help: the board lists it from Grenswacht's own record of the answered
leg (``store.live``), and "Listen" (HTTP, as a supervisor with a phone) rings the supervisor's
endpoint into ChanSpy on the agent's channel of that record.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By

from agi.actions import users
from console.app import create_app
from tests.conftest import make_config
from tests.console.browser import chromium, console_process, login, shot, wait
from tests.console.conftest import Client
from tests.e2e.test_agent_key_e2e import wait_until
from tests.e2e.test_help_e2e import channels

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

PASSWORD = "a long enough password"
PHONE = "Local/1005@supervisors"
ANSWERED = "inbound-recorded"  # the inbound route with the answered-leg Gosub (tests/support/asterisk.py)


async def talking(e2e, lid: str):
    """The call ``lid`` as the board's live calls hold it, once the agent has answered."""

    async def found():
        return [c for c in await e2e.deps.store.live.talking(time.time()) if c.linkedid == lid]

    [call] = await wait_until(found)
    return call


@pytest_asyncio.fixture(loop_scope="session")
async def console(e2e, asterisk, redis_server):
    """The console in this process, with AMI (the listen-in's Originate), and a supervisor with a phone."""
    config = make_config(
        redis_server.url,
        ami={"address": f"127.0.0.1:{asterisk.ami_port}", "username": asterisk.ami_user, "secret": asterisk.ami_secret},
        web={"secret": "s" * 40},
    )
    await users.add(e2e.deps.store, "sup", "supervisor", PASSWORD, "test", time.time(), phone=PHONE)
    app = create_app(config, e2e.deps.store)
    client = Client(app)
    assert (await client.login("sup", PASSWORD)).status_code == 303
    yield client
    await client.http.aclose()
    if app.state.console._ami is not None:
        await app.state.console._ami.close()


async def act(client: Client, call, mode: str):
    return await client.post(f"/live/{call.linkedid}/{mode}", {"agent": call.agent})


async def test_listen_on_a_call_that_did_not_ask_for_help(e2e, ami, console):
    lid = await ami.originate("0612345678", context=ANSWERED)
    call = await talking(e2e, lid)
    assert call.queue == "support" and call.channel.startswith("Local/100")
    board = (await console.get("/")).text
    assert f'action="/live/{lid}/listen"' in board and f'value="{call.agent}"' in board
    assert await e2e.deps.store.help.active(time.time()) == []  # nobody asked for help

    resp = await act(console, call, "listen")
    assert (resp.status_code, resp.headers["location"]) == (303, "/?ringing=listen")
    await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestSupervisorAnswered")
    start = await ami.wait_for(lambda e: e.get("Event") == "ChanSpyStart")
    assert start["SpyeeChannel"] == call.channel and start["SpyerChannel"].startswith(PHONE)
    [spy] = [c for c in await channels(ami) if c["Application"] == "ChanSpy"]
    assert spy["ApplicationData"] == f"{call.channel},qEb"
    assert not {c["Channel"]: c for c in await channels(ami)}[spy["Channel"]].get(
        "BridgeId"
    )  # the caller hears nothing
    [entry] = [e for e in await e2e.deps.store.streams.audit_entries() if e["action"] == "listen"]
    assert (entry["actor"], entry["call"], entry["agent"], entry["phone"]) == ("web:sup", lid, call.agent, PHONE)


async def test_take_over_a_live_call_asks_asterisk_for_the_caller(e2e, ami, console):
    lid = await ami.originate("0612345678", context=ANSWERED)
    call = await talking(e2e, lid)

    async def bridged_caller():
        """The caller's channel, once the agent's leg is in a bridge with it: the answered route
        runs as the agent answers, a moment before Asterisk bridges the two."""
        by_name = {c["Channel"]: c for c in await channels(ami)}
        bridge = by_name.get(call.channel, {}).get("BridgeId")
        return [n for n, c in by_name.items() if bridge and c.get("BridgeId") == bridge and n != call.channel]

    [caller] = await wait_until(bridged_caller)
    assert (await act(console, call, "takeover")).status_code == 303
    await ami.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("Channel") == call.channel)

    async def caller_with_supervisor():
        by_name = {c["Channel"]: c for c in await channels(ami)}
        bridge = by_name.get(caller, {}).get("BridgeId")
        together = {n for n, c in by_name.items() if bridge and c.get("BridgeId") == bridge}
        return len(together) == 2 and any(n.startswith(PHONE) for n in together)

    assert await wait_until(caller_with_supervisor)


async def test_a_live_call_that_has_ended_says_so_and_leaves_the_list(e2e, ami, console):
    lid = await ami.originate("0612345678", context=ANSWERED)
    call = await talking(e2e, lid)
    await ami.action(Action="Hangup", Channel=call.channel)

    async def gone():
        return not [c for c in await e2e.deps.store.live.talking(time.time()) if c.linkedid == lid]

    assert await wait_until(gone)
    resp = await act(console, call, "listen")
    assert resp.status_code == 409 and "dit gesprek is beëindigd" in resp.text
    # The browser cannot name another channel: an agent and call that do not go together are "ended" too.
    other = await talking(e2e, await ami.originate("0687654321", context=ANSWERED))
    resp = await console.post(f"/live/{lid}/listen", {"agent": other.agent})
    assert resp.status_code == 409 and "dit gesprek is beëindigd" in resp.text
    assert not [e for e in await e2e.deps.store.streams.audit_entries() if e["action"] == "listen"]


async def test_the_live_calls_list_updates_on_the_open_board(e2e, ami, redis_server, tmp_path):
    await users.add(e2e.deps.store, "sup", "supervisor", PASSWORD, "test", time.time(), phone=PHONE)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        await asyncio.to_thread(login, driver, base, "sup", PASSWORD)
        assert await asyncio.to_thread(lambda: driver.find_elements(By.CSS_SELECTOR, ".live-call")) == []
        await asyncio.to_thread(
            wait(driver, 10).until, lambda d: "on" in d.find_element(By.ID, "live-dot").get_attribute("class")
        )
        lid = await ami.originate("0612345678", context=ANSWERED)
        call = await talking(e2e, lid)

        def row() -> str:
            wait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'.live-call[data-call="{lid}"]'))
            return driver.find_element(By.ID, "live-calls").text

        text = await asyncio.to_thread(row)
        assert "support" in text and call.agent in text and "+31612345678" in text
        await asyncio.to_thread(shot, driver, "board-live-calls")
        await ami.action(Action="Hangup", Channel=call.channel)
        await asyncio.to_thread(wait(driver, 20).until, lambda d: not d.find_elements(By.CSS_SELECTOR, ".live-call"))
        assert not re.search(re.escape(lid), driver.find_element(By.ID, "live-calls").get_attribute("innerHTML"))
