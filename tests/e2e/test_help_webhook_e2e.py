"""Issue 29 on a real Asterisk 22: a help request (and its end) reaches the webhook as incidents do
(agi/aftercare/notify.py), received by a real HTTP server on this machine."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agi.engine import Incident
from tests.e2e.test_agent_key_e2e import call_and_press, wait_until
from tests.e2e.test_help_e2e import N, help_rows, key_ran

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]


class Hook:
    """A local HTTP server that keeps every JSON body POSTed to it (and answers ``status``)."""

    def __init__(self, status: int = 204) -> None:
        self.posts: queue.Queue[tuple[str, dict]] = queue.Queue()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("Content-Length", "0")), 65536))
                hook.posts.put((self.headers.get("Content-Type", ""), json.loads(body)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    async def next(self, timeout: float = 30) -> tuple[str, dict]:
        return await asyncio.to_thread(self.posts.get, timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooked(e2e):
    """The running service with ``[aftercare] webhook_url`` set to a fresh local server."""
    hook = Hook()
    holder = e2e.deps.settings
    before = holder.current
    holder.swap(before.model_copy(update={"aftercare": before.aftercare.model_copy(update={"webhook_url": hook.url})}))
    yield hook
    holder.swap(before)
    hook.close()


async def test_a_help_request_and_its_end_reach_the_webhook(e2e, ami, hooked):
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 3600, source="cli"))
    lid = await call_and_press(ami, keys="*2")
    ev = await key_ran(ami, lid, "help")
    [req] = await wait_until(lambda: help_rows(e2e))
    kind, got = await hooked.next()
    assert kind == "application/json"
    # Who asked, on which call, the caller and their history, the agent, the queue, how long it lasted.
    assert (got["type"], got["call"], got["agent_channel"]) == ("help", lid, ev["Channel"])
    assert (got["caller"], got["score"], got["incidents"], got["rung"]) == (N, 1, 1, "warn")
    assert got["agent"] == req.agent and got["agent"].startswith("Local/100") and got["queue"] == "support"
    assert got["started"] == req.started and got["asked"] == req.asked
    assert got["lasted"] == round(req.asked - req.started) and 0 <= got["lasted"] < 30
    # The call ends: its end is posted too.
    await ami.action(Action="Hangup", Channel=req.caller_channel)
    _, end = await hooked.next()
    assert (end["type"], end["call"], end["agent"]) == ("help-end", lid, req.agent)
    assert hooked.posts.empty()


async def test_a_webhook_that_fails_does_not_hold_up_the_call_or_the_board(e2e, ami, hooked):
    hooked.close()  # nothing listens there any more: the post fails
    lid = await call_and_press(ami, keys="*2")
    [req] = await wait_until(lambda: help_rows(e2e))
    assert req.call == lid
    await ami.wait_for(lambda e: e.get("Linkedid") == lid and e.get("AppData") == "beep")
    assert not [e for e in ami.call_events(lid) if e.get("Event") == "Hangup"]
