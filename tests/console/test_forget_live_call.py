"""A caller erased from the console while on a call: the board's live panel and help rows drop
the call at once (no wait for its end), and the board renders without it."""

from __future__ import annotations

import time

from agi.actions import help as help_actions
from redis_schema.records import HelpRequest, LiveCall

N, OTHER = "+31612345678", "+31687654321"
A1, A2 = "PJSIP/1001", "PJSIP/1002"


async def test_erasing_a_caller_on_a_call_takes_the_call_off_the_board(app, admin, sup, store):
    now = time.time()
    await store.live.start(LiveCall(A1, "L1", N, "support", f"{A1}-01", now - 30), 600)
    await store.live.start(LiveCall(A2, "L2", OTHER, "support", f"{A2}-01", now - 20), 600)
    await store.help.add(HelpRequest("L1", f"{A1}-01", caller=N, agent=A1, queue="support", asked=now, until=now + 600))
    board = (await sup.get("/board/panels")).text
    assert 'action="/live/L1/listen"' in board and 'action="/live/L2/listen"' in board
    r = await admin.post("/admin/erase", {"number": "0612345678", "confirm": N}, page="/admin")
    assert r.status_code == 303
    panels = await sup.get("/board/panels")
    assert panels.status_code == 200
    assert 'action="/live/L1/listen"' not in panels.text and 'action="/live/L2/listen"' in panels.text
    assert "612345678" not in panels.text and "612345678" not in (await sup.get("/")).text
    assert await help_actions.active(store, time.time()) == []
    assert await store.live.talking_on(A1, "L1") is None  # listening in on it: "this call has ended."
