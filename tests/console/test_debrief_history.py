"""Issue 30: a second debrief no longer overwrites the first.

The incident keeps every debrief (time, author, answer, note); the incident page and
`grenswacht incidents show` list them all, oldest first; a retention purge and an erasure remove
the history with the incident.
"""

from __future__ import annotations

import time

from agi.actions import logbook
from agi.engine import Incident
from redis_schema import keys, records
from tests.console.test_console_http import N, incident
from tests.support.cli import run_cli

NOTES = ("first: <b>calm</b>", "second talk", "third, by the CLI")


async def test_every_debrief_is_kept_and_shown_on_the_page_and_in_the_cli(tmp_path, redis_server, sup, store, rdb):
    iid = await incident(store)
    for answer, note in zip(("impulsive", "conscious"), NOTES[:2], strict=True):
        r = await sup.post(f"/incidents/{iid}/debrief", {"answer": answer, "note": note}, page=f"/incidents/{iid}")
        assert r.status_code == 303
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')
    out = run_cli(["--config", str(cfg), "incidents", "debrief", iid, "--note", NOTES[2], "--actor", "sup9"])
    assert out.returncode == 0, out.stderr

    inc = await logbook.get(store, iid)
    history = await logbook.debriefs(store, inc)
    assert [(d.by, d.answer, d.note) for d in history] == [
        ("web:sup1", "impulsive", NOTES[0]),
        ("web:sup1", "conscious", NOTES[1]),
        ("sup9", "conscious", NOTES[2]),  # no answer given: the one in place stays
    ]
    assert all(d.at is not None and d.at <= time.time() for d in history)
    assert [d.at for d in history] == sorted(d.at for d in history)

    page = (await sup.get(f"/incidents/{iid}")).text
    assert page.count('class="debrief"') == 3 and "first: &lt;b&gt;calm&lt;/b&gt;" in page
    assert page.index("first: &lt;b&gt;") < page.index("second talk") < page.index("third, by the CLI")

    shown = run_cli(["--config", str(cfg), "incidents", "show", iid])
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.strip().startswith("debrief ")]
    assert len(lines) == 3 and "by web:sup1: impulsive: first: <b>calm</b>" in lines[0]
    assert "by sup9: conscious: third, by the CLI" in lines[2]

    # The history goes with the incident: a retention purge deletes its field, an erasure the hash.
    assert f"{inc.slot}.dh" in records.incident_field_names(inc.slot)
    assert await rdb.hget(keys.caller(N), f"{inc.slot}.dh") is not None
    await store.erasure.erase_caller(N)
    assert await rdb.exists(keys.caller(N)) == 0


async def test_a_withheld_callers_debrief_history_is_kept_in_its_own_hash(store):
    inc = Incident.new(keys.ANONYMOUS, "abuse", time.time() - 60, source="cli")
    iid, _ = await store.incidents.add_incident(inc)
    for note in NOTES[:2]:
        await logbook.debrief(store, iid, "", note, "sup1", time.time())
    stored = await logbook.get(store, iid)
    assert [d.note for d in await logbook.debriefs(store, stored)] == list(NOTES[:2])
