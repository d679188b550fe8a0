from __future__ import annotations

import json

from agi.aftercare.journal import Journal

N = "+31612345678"


def entry(iid="aaaa", linkedid="call-1"):
    return {"caller": N, "incident_id": iid, "category": "abuse", "at": 100.0, "severity": 1, "agent": "PJSIP/1",
            "queue": "q", "uniqueid": "u", "linkedid": linkedid, "note": "", "source": "key", "actor": "PJSIP/1"}


async def test_replay_stores_once_and_empties_the_journal(tmp_path, store):
    j = Journal(tmp_path / "j.jsonl")
    await j.append(entry())
    await j.append(entry())                 # the same call journaled twice
    assert j.pending() == 2
    assert await j.replay(store) == 2
    assert j.pending() == 0
    [inc] = (await store.load_caller(N)).incidents
    assert (inc.id, inc.linkedid, inc.agent) == ("aaaa", "call-1", "PJSIP/1")
    # Replaying again after the incident is in Redis adds nothing.
    await j.append(entry())
    await j.replay(store)
    assert len((await store.load_caller(N)).incidents) == 1


async def test_unreadable_lines_are_kept_not_dropped(tmp_path, store):
    path = tmp_path / "j.jsonl"
    path.write_text("{not json\n" + json.dumps(entry("bbbb", "call-2")) + "\n")
    j = Journal(path)
    assert await j.replay(store) == 1
    assert path.read_text() == "{not json\n"


async def test_failed_replay_keeps_the_entry(tmp_path, config):
    from agi.service import build_store
    from tests.conftest import make_config

    down = build_store(make_config("redis://127.0.0.1:1/0"))
    j = Journal(tmp_path / "j.jsonl")
    await j.append(entry())
    assert await j.replay(down) == 0
    assert j.pending() == 1
    await down.close()
