"""The bans page with more than 1,000 bans: every ban on some page, exactly once, and the exact count.

Before, the page loaded the first 1,000 bans (soonest end first) and no more: a 1,001st ban
could only be found on its caller's page, and the page said nothing of how many there were.
"""

from __future__ import annotations

import re
import time

import pytest

from agi.engine import DAY, Allow, Ban

BANS = 1_050
ALLOWS = 230


def shown_numbers(html: str, section: str) -> list[str]:
    """The numbers of one list (bans: before the allowlist's heading; allows: after it)."""
    bans, _, allows = html.partition('id="allows-count"')
    return re.findall(r'/caller\?n=%2B(31[0-9]+)"', bans if section == "bans" else allows)


@pytest.mark.asyncio
async def test_every_ban_is_on_exactly_one_page_with_the_exact_count(sup, store) -> None:
    now = time.time()
    for k in range(BANS):  # the later k, the later the ban ends
        await store.lists.set_ban(f"+316{k:08d}", Ban(until=now + DAY + k * 60, reason="r", set_at=now, actor="t"))
    await store.lists.set_prefix_ban("+3185999", Ban(until=now + 2 * DAY, reason="spam", set_at=now, actor="t"))

    first = (await sup.get("/bans")).text
    assert "Numbers banned: 1050" in first or "Geblokkeerde nummers: 1050" in first
    assert "+3185999" in first  # the range, on the first page
    seen: list[str] = []
    page, html = 1, first
    while True:
        seen += shown_numbers(html, "bans")
        following = re.search(r"href=\"/bans\?apage=1&(?:amp;)?page=(\d+)\">[^<]*→", html)
        if not following:
            break
        assert int(following.group(1)) == page + 1
        page += 1
        html = (await sup.get(f"/bans?page={page}")).text
    assert page == 11
    assert seen == [f"316{k:08d}" for k in range(BANS)]  # each once, soonest end first
    assert "+3185999" not in html  # the range only on the first page

    assert shown_numbers((await sup.get("/bans?page=999")).text, "bans") == seen[1000:]  # the last page
    assert shown_numbers((await sup.get("/bans?page=x")).text, "bans") == seen[:100]


@pytest.mark.asyncio
async def test_the_allowlist_is_paged_too_newest_first(sup, store) -> None:
    now = time.time()
    for k in range(ALLOWS):
        await store.lists.set_allow(f"+317{k:08d}", Allow(reason="r", set_at=now + k, actor="t"))
    first = (await sup.get("/bans")).text
    assert "Numbers allowlisted: 230" in first or "Nummers op de uitzonderingslijst: 230" in first
    seen = [n for p in (1, 2, 3) for n in shown_numbers((await sup.get(f"/bans?apage={p}")).text, "allows")]
    assert seen == [f"317{k:08d}" for k in reversed(range(ALLOWS))]
