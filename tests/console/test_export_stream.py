"""Issue 30: exports a spreadsheet reads as the supervisor means it, of the whole filtered result.

An empty cell stays empty (it was a lone '), times are ISO 8601 in the configured zone (they were
epoch floats), the CSV starts with a UTF-8 BOM, and the console's download holds every incident
the filters match, streamed, not only the page on screen; `grenswacht export` gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agi.actions import logbook
from agi.engine import Incident
from redis_schema import records
from tests.console.test_export_parity import cli_export

N = "+31612345678"
AT = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC).timestamp()  # 13:00 in Amsterdam (the default zone)
BOM = b"\xef\xbb\xbf"


def rows_of(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(BOM)
    return list(csv.DictReader(io.StringIO(data[len(BOM) :].decode(), newline="")))


async def test_csv_bytes_empty_cells_empty_local_times_and_a_bom(tmp_path, redis_server, store, sup):
    inc = Incident.new(N, "abuse", AT, severity=2, source="cli", note="")
    await store.incidents.add_incident(inc)
    [stored] = (await store.screening.load_caller(N)).incidents
    await store.incidents.set_debrief(N, stored, "talked", AT + 3600.5, "sup1", "")

    from_cli = cli_export(tmp_path, redis_server.url, "csv")
    from_console = (await sup.get("/logbook.csv")).content
    assert from_cli == from_console
    header = ",".join(records.EXPORT_COLUMNS).encode()
    assert from_cli == (
        BOM
        + header
        + b"\r\n"
        # id, caller, at, category, severity, agent, queue, uniqueid, linkedid, note, source, actor,
        # debrief, debrief_at, debrief_answer, debrief_by, account, account_by, reported_at, reported_ref,
        # caller_name (issue 30), screened (issue 28)
        + f"{inc.id},{N},2026-01-15T13:00:00+01:00,abuse,2,,,,,,cli,,talked,2026-01-15T14:00:00+01:00,,sup1,,,,,,\r\n".encode()
    )


async def test_json_export_has_local_times_and_matches_the_cli(tmp_path, redis_server, store, sup):
    await store.incidents.add_incident(Incident.new(N, "abuse", AT, severity=2, source="cli"))
    console_rows = json.loads((await sup.get("/logbook.json")).content)
    assert console_rows == json.loads(cli_export(tmp_path, redis_server.url, "json"))["incidents"]
    assert console_rows[0]["at"] == "2026-01-15T13:00:00+01:00" and console_rows[0]["debrief_at"] is None


async def test_the_download_holds_the_whole_filtered_result_not_the_page(
    tmp_path, redis_server, store, sup, monkeypatch
):
    monkeypatch.setattr(logbook, "EXPORT_BATCH", 7)  # many batches, and a filter that matches across them
    now = time.time()
    ids = {}
    for k in range(130):  # the logbook page shows 50
        inc = Incident.new(f"+316123{k:05d}", "threat" if k % 3 == 0 else "abuse", now - 3600 + k, source="cli")
        await store.incidents.add_incident(inc)
        ids[inc.id] = inc
    page = (await sup.get("/logbook?category=threat&page=2")).text
    assert 'href="/logbook.csv?category=threat"' in page  # the link asks for the filter, not the page
    r = await sup.get("/logbook.csv?category=threat")
    assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="logbook.csv"'
    rows = rows_of(r.content)
    want = sorted((i for i in ids.values() if i.category == "threat"), key=lambda i: -i.at)
    assert [x["id"] for x in rows] == [i.id for i in want] and len(rows) == 44

    every = rows_of((await sup.get("/logbook.csv")).content)
    assert len(every) == 130 and {x["id"] for x in every} == set(ids)
    assert rows_of(cli_export(tmp_path, redis_server.url, "csv")) == every
    assert len(json.loads((await sup.get("/logbook.json?category=threat")).content)) == 44
    entry = (await store.streams.audit_entries())[-1]
    assert (entry["action"], entry["format"], entry["category"]) == ("export", "json", "threat")


def test_streamed_json_pieces_are_the_whole_file_to_the_byte():
    zone = ZoneInfo("Europe/Amsterdam")
    rows = [records.incident_row(Incident.new(N, "abuse", AT + k, note=f'n{k}\n"q"')) for k in range(5)]
    for batches in ([], [rows], [rows[:2], [], rows[2:]]):
        empty, pieces = True, []
        for batch in batches:
            pieces.append(records.export_json_rows(batch, zone, empty))
            empty = empty and not batch
        pieces.append(records.export_json_end(empty))
        flat = [r for b in batches for r in b]
        assert "".join(pieces) == records.export_json([records.export_row(r, zone) for r in flat])
