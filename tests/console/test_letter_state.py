"""Issue 30: the warning letter is worded for the caller's actual state.

A caller already banned was threatened with a ban ("If it happens again, we may bar you"); the
letter now states the ban in force and until when; an expired ban reads as no ban.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agi.engine import Ban, Incident

N = "+31612345678"
THREAT = {"en": "If it happens again, we may bar you", "nl": "Gebeurt het opnieuw, dan kunnen wij u"}
BANNED = {"en": "you are barred from contacting us by telephone until {:%d %B %Y}", "nl": "ontzegd tot {:%d-%m-%Y}"}


@pytest.mark.parametrize("lang", ["en", "nl"])
async def test_letter_threatens_a_ban_only_to_a_caller_not_banned(store, sup, lang):
    now = time.time()
    await store.incidents.add_incident(Incident.new(N, "threat", now - 600, severity=3, source="cli"))
    letter = (await sup.get(f"/letter?n=0612345678&lang={lang}")).text
    assert THREAT[lang] in letter and "until" not in letter and "ontzegd tot" not in letter

    until = now + 30 * 86400
    await store.lists.set_ban(N, Ban(until, "threatened an agent", "manual", now, "sup1"))
    letter = (await sup.get(f"/letter?n=0612345678&lang={lang}")).text
    day = datetime.fromtimestamp(until, ZoneInfo("Europe/Amsterdam"))
    assert BANNED[lang].format(day) in letter and THREAT[lang] not in letter

    await store.lists.set_ban(N, Ban(now - 60, "over", "manual", now - 86400, "sup1"))  # ended: not in force
    letter = (await sup.get(f"/letter?n=0612345678&lang={lang}")).text
    assert THREAT[lang] in letter and BANNED[lang].format(day) not in letter
