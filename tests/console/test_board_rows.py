"""The live board at scale: today's newest 100 incidents and how many there were today, with a
link to all of them in the logbook. Before, it read and drew up to 500 (most of its 370 ms at
1,000,000 callers) and said nothing of the others."""

from __future__ import annotations

import re
import time

import pytest

from agi.engine import Incident


@pytest.mark.asyncio
async def test_the_board_shows_todays_newest_100_and_counts_them_all(sup, store) -> None:
    now = time.time()
    incidents = [Incident.new(f"+3161{k:07d}", "abuse", now - k / 100, agent="PJSIP/a1") for k in range(130)]
    for inc in incidents:
        await store.incidents.add_incident(inc)
    html = (await sup.get("/")).text
    rows = re.findall(r"/incidents/([0-9a-f]{16})", html.partition('id="live-rows"')[2].partition("</tbody>")[0])
    assert rows == [inc.id for inc in incidents[:100]]  # the newest first
    more = re.search(r'id="today-more">[^<]*?(\d+) / (\d+)', html)
    assert more and more.groups() == ("100", "130")
    assert re.search(r'href="/logbook\?from=\d{4}-\d{2}-\d{2}"', html)
