"""The agent's account, the "reported" mark, the threat deadline and the police report (issue 28)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import wave
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi.actions import ActionError, logbook, police
from redis_schema.records import LiveCall

SCRIPT = str(Path(sys.executable).with_name("grenswacht"))
N = "+31612345678"
ORG = {"name": "Gemeente Ĳsselmonde", "address": "Coöperatieweg 1, 3011 AB Rotterdam", "contact": "J. de Vrieë"}


def test_two_working_days():
    zone = "Europe/Amsterdam"
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=ZoneInfo(zone)).timestamp()
    deadline = datetime.fromtimestamp(police.report_deadline(friday, zone), ZoneInfo(zone))
    assert (deadline.date().isoformat(), deadline.hour) == ("2026-12-08", 23)  # Monday, Tuesday
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo(zone)).timestamp()
    assert datetime.fromtimestamp(police.report_deadline(monday, zone), ZoneInfo(zone)).day == 9


@pytest.mark.asyncio
async def test_account_is_bounded_and_audited(store, config):
    now = time.time()
    iid = await logbook.add(store, config, N, "threat", "", now - 60, "sup", now)
    with pytest.raises(ActionError, match="longer than 4000"):
        await logbook.set_account(store, iid, "x" * 4001, "sup", now)
    with pytest.raises(ActionError, match="no incident"):
        await logbook.set_account(store, "0123456789abcdef", "said", "sup", now)
    await logbook.set_account(store, iid, "Ik weet waar je woont.\nIk maak je af.", "sup", now)
    inc = await logbook.get(store, iid)
    assert inc.account == "Ik weet waar je woont.\nIk maak je af." and inc.account_by == "sup"
    [entry] = [e for e in await store.streams.audit_entries() if e["action"] == "incident-account"]
    assert entry["incident"] == iid and "woont" not in str(entry)  # the words stay out of the trail


@pytest.mark.asyncio
async def test_threats_wait_on_the_board_until_reported(store, config):
    now = time.time()
    threat = await logbook.add(store, config, N, "threat", "", now - 3600, "sup", now)
    await logbook.add(store, config, N, "abuse", "", now - 1800, "sup", now)
    [waiting] = await police.unreported_threats(store, config, now)
    assert waiting.incident.id == threat and waiting.deadline > now and not waiting.overdue
    with pytest.raises(ActionError, match="reference"):
        await police.mark_reported(store, threat, now, "", "sup", now)
    await police.mark_reported(store, threat, now, "PL0900-2026123456", "sup", now)
    assert await police.unreported_threats(store, config, now) == []
    assert (await logbook.get(store, threat)).reported_ref == "PL0900-2026123456"


def _wav(path: Path, seconds: float = 1.0) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))


@pytest.mark.asyncio
async def test_the_report_holds_every_field_and_its_manifest_matches(store, config, tmp_path):
    from agi import recordings

    cfg = config.model_copy(
        update={
            "organisation": config.organisation.model_copy(update=ORG),
            "recordings": config.recordings.model_copy(update={"record": "all", "folder": str(tmp_path)}),
        }
    )
    now = time.time()
    first = await logbook.add(store, cfg, N, "abuse", "", now - 86_400 * 3, "sup", now)
    iid = await logbook.add(store, cfg, N, "threat", "", now - 120, "sup", now)
    await logbook.set_account(store, iid, "Hij zei: ‘ik sta morgen bij je deur’.", "sup", now)
    await logbook.debrief(store, iid, "conscious", "stayed calm", "teamlead", now)
    # Its recording, as the recordings job keeps it.
    wav = tmp_path / "call.wav"
    _wav(wav, 2.0)
    call = LiveCall("PJSIP/1001", "lid-7", N, started=now - 150, ended=now - 100, rid="r", file=str(wav), incident=iid)
    await store.live.start(call, 600)
    assert await recordings.sweep(store, cfg, now) == (1, 0)

    data = await police.report(store, cfg, iid, "teamlead", now)
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(z.namelist()) == ["MANIFEST.sha256", "recording.wav", "report.pdf"]
    sums = dict(line.split("  ")[::-1] for line in z.read("MANIFEST.sha256").decode().splitlines())
    assert set(sums) == {"report.pdf", "recording.wav"}
    for name, digest in sums.items():
        assert hashlib.sha256(z.read(name)).hexdigest() == digest
    assert z.read("recording.wav") == wav.read_bytes()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(z.read("report.pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    rec = await store.live.recording(iid)
    assert rec is not None
    for field in (
        *ORG.values(),  # the organisation, with its diacritics, never an agent's address
        iid,
        "threat",
        N,
        first,  # an earlier incident of the caller
        "ik sta morgen bij je deur",
        "stayed calm",
        "conscious",
        rec.sha256,
        "Registration code of the police",
        "Written down by",
        "screening of the caller on arrival: warn",
        "answered; recording started",
        "incident logged as threat",
        "call ended",
    ):
        assert field in text, field
    actions = [e["action"] for e in await store.streams.audit_entries()]
    assert "incident-report" in actions
    # The logbook export lists the kept recording with its incident.
    pieces = [p async for p in logbook.export_stream(store, logbook.Filters(), "sup", now, "json", UTC)]
    exported = {i["id"]: i for i in json.loads("".join(pieces))}
    assert exported[iid]["recording"]["sha256"] == rec.sha256 and "recording" not in exported[first]


def test_cli_report_and_recording(tmp_path, redis_server, store):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[organisation]\nname = "Org"\n')

    def gw(*args):
        return subprocess.run([SCRIPT, "--config", str(cfg), *args], capture_output=True, text=True, timeout=60)

    for args in (
        ("incidents", "report", "0123456789abcdef", "--out", str(tmp_path / "r.zip")),
        ("incidents", "recording", "0123456789abcdef", "--out", str(tmp_path / "r.wav")),
        ("incidents", "account", "nonsense", "--text", "x"),
    ):
        out = gw(*args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr and not (tmp_path / "r.zip").exists()
    iid = gw("incidents", "add", "0612345678", "--category", "threat").stdout.strip()
    assert gw("incidents", "account", iid, "--text", "dreigde").returncode == 0
    assert gw("incidents", "reported", iid, "--ref", "PL-1").returncode == 0
    out = gw("incidents", "report", iid, "--out", str(tmp_path / "r.zip"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.zip").stat().st_mode & 0o777 == 0o600
    assert zipfile.ZipFile(tmp_path / "r.zip").namelist() == ["report.pdf", "MANIFEST.sha256"]
    out = gw("incidents", "recording", iid, "--out", str(tmp_path / "r.wav"))
    assert out.returncode == 2 and "has no recording" in out.stderr
