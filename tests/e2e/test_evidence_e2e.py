"""Issue 28 on a real Asterisk 22, what test_recordings_e2e leaves out: the incident page of a call
Asterisk really recorded (a threat logged with *9: the console in headless Chromium plays that
file, shows its real length and SHA-256; docs/console/incident-evidence.png is taken from it by
scripts/refresh-screenshots) and its police report; the handover key keeping the recording; the
after-call code's after-care; a warned, recorded caller's "[GW n]" name."""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from agi.actions import logbook, police, users
from tests.console.browser import chromium, console_process, login, shot, wait
from tests.e2e.test_agent_key_e2e import N, incidents, wait_until
from tests.e2e.test_recordings_e2e import recorded, talk  # noqa: F401  (recorded: a fixture)

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

PASSWORD = "a long enough password"
ACCOUNT = "De beller zei: 'Ik weet waar je woont, ik kom je opzoeken.' Daarna hing hij op."


def browse(base: str, iid: str) -> dict:
    """Log in as supervisor anne, open the incident and let the player read the recording's header."""
    with chromium() as driver:
        login(driver, base, "anne", PASSWORD)
        driver.get(f"{base}/incidents/{iid}")
        player = driver.find_element(By.ID, "player")
        # What pressing play does first: the browser asks for the file's header (a range request).
        driver.execute_script("arguments[0].preload = 'metadata'; arguments[0].load();", player)
        wait(driver, 20).until(lambda d: d.execute_script("return arguments[0].readyState >= 1", player))
        duration = driver.execute_script("return arguments[0].duration", player)
        driver.execute_script("arguments[0].currentTime = arguments[0].duration / 2", player)
        wait(driver, 20).until(lambda d: d.execute_script("return !arguments[0].seeking", player))
        seen = {
            "duration": duration,
            "src": player.get_attribute("src"),
            "sha256": driver.find_element(By.ID, "rec-sha256").text,
            "report": driver.find_element(By.ID, "report-button").get_attribute("href"),
            "text": driver.find_element(By.ID, "evidence").text,
        }
        shot(driver, "incident-evidence")
        return seen


async def test_the_incident_page_plays_the_call_asterisk_recorded(recorded, ami, tmp_path, redis_server):  # noqa: F811
    e2e = recorded
    store = e2e.deps.store
    lid = await talk(ami, ANSWER_AFTER="2", WAIT="5", KEYS="*9")  # hold music, 5 s of talk, then *9
    [inc] = await wait_until(lambda: incidents(e2e), timeout=40)
    assert (inc.linkedid, inc.category) == (lid, "threat")
    rec = await wait_until(lambda: store.live.recording(inc.id), timeout=40)
    data = Path(rec.file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == rec.sha256 and 3.0 <= rec.duration <= 8.0, rec
    now = time.time()
    await users.add(store, "anne", "supervisor", PASSWORD, "setup", now)
    await logbook.set_account(store, inc.id, ACCOUNT, "web:anne", now)

    with console_process(tmp_path, redis_server.url) as base:
        seen = await asyncio.to_thread(browse, base, inc.id)

    assert seen["src"].endswith(f"/incidents/{inc.id}/recording.wav")
    assert abs(seen["duration"] - rec.duration) < 0.25, (seen["duration"], rec.duration)  # the real file
    assert seen["sha256"] == rec.sha256  # the real SHA-256, in full
    assert f"{rec.duration:.1f} s" in seen["text"] and seen["report"].endswith(f"/incidents/{inc.id}/report.zip")
    plays = [e for e in await store.streams.audit_entries() if e["action"] == "recording-play"]
    assert plays and all(e["actor"] == "web:anne" for e in plays)

    # The police report of this real call: the very file Asterisk wrote, the sums, the timeline.
    z = zipfile.ZipFile(io.BytesIO(await police.report(store, e2e.deps.config, inc.id, "web:anne", time.time())))
    assert z.read("recording.wav") == data
    for row in z.read("MANIFEST.sha256").decode().splitlines():
        digest, name = row.split("  ")
        assert hashlib.sha256(z.read(name)).hexdigest() == digest
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(z.read("report.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.split())
    for field in (inc.id, N, rec.sha256, "Ik weet waar je woont", "screening of the caller on arrival: allow"):
        assert field in text, field
    for row in (f"agent {inc.agent} answered; recording started", "key press: incident logged as threat", "call ended"):
        assert row in text, row


async def test_a_warned_recorded_caller_reaches_the_agent_with_the_history_name(recorded, ami):  # noqa: F811
    """[recordings] on and help.history_rungs "warn" (the default): the warning-recorded prompt, and
    the agent still sees "[GW 1] Jansen" (before, the recorded branch dropped the name)."""
    from agi.engine import Incident

    e2e = recorded
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 60, source="cli"))
    lid = await ami.originate("0612345678", context="inbound-recorded")  # a caller who waits on the line
    ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered", timeout=60)
    assert ev["Name"] == "[GW 1] Jansen", ev
    assert any(
        e.get("Linkedid") == lid and e.get("Application") == "Playback" and "warning-recorded" in e.get("AppData", "")
        for e in ami.events
    )


async def test_the_handover_key_keeps_the_recording_too(recorded, ami):  # noqa: F811
    """Issue 28: kept when the call is logged with *0, *9, *7, *8 or an after-call code (*8 here)."""
    e2e = recorded
    lid = await talk(ami, WAIT="4", KEYS="*8")
    await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestSeniorAnswered", timeout=40)  # the caller moved on
    [inc] = await wait_until(lambda: incidents(e2e), timeout=40)
    assert (inc.linkedid, inc.source) == (lid, "handover")
    rec = await wait_until(lambda: e2e.deps.store.live.recording(inc.id), timeout=40)
    assert Path(rec.file).exists() and rec.duration >= 2.5 and rec.linkedid == lid


async def test_an_after_call_code_cools_the_agent_down_and_tells_the_supervisor(recorded, ami):  # noqa: F811
    """*00 after the caller hung up: the same after-care as *0 (cool-down pause, the supervisor's event)."""
    e2e = recorded
    lid = await talk(ami, TALK="3")
    ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered", timeout=40)
    agent = f"Local/{ev['Agent']}@agents/n"

    async def ended():
        call = await e2e.deps.store.live.current(agent)
        return call is not None and call.linkedid == lid and call.ended

    await wait_until(ended, timeout=40)
    ami.reset()
    await ami.action(
        Action="Originate", Channel="Local/*00@agent-phone", Application="Wait", Data="5",
        CallerID=ev["Agent"], Async="true",
    )  # fmt: skip
    done = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAfterCall", timeout=30)
    assert done["Result"] == "logged", done
    told = await ami.wait_for(
        lambda e: e.get("UserEvent") == "GrenswachtIncident" and e.get("IncidentId") == done["Logged"], timeout=30
    )
    assert told["Agent"] == agent and told["Category"] == "abuse"
    paused = await ami.wait_for(
        lambda e: e.get("Event") == "QueueMemberPause" and e.get("Interface") == agent and e.get("Paused") == "1",
        timeout=30,
    )
    assert paused["Queue"] in ("support", "sales")  # the cool-down: paused in the agent's queues


async def test_a_caller_recorded_for_their_history_is_told_on_the_senior_rung_too(recorded, ami):  # noqa: F811
    """record = "flagged": a senior-rung caller who reaches an agent (no senior set) is recorded; before,
    only the warn rung's prompt said so, this caller heard nothing about it."""
    from agi.engine import Incident
    from tests.e2e.test_screening_e2e import played

    e2e = recorded
    holder = e2e.deps.settings
    before = holder.current
    holder.swap(
        before.model_copy(
            update={
                "recordings": before.recordings.model_copy(update={"record": "flagged"}),
                "routing": before.routing.model_copy(update={"senior_destination": ""}),
            }
        )
    )
    try:
        for ago in (120, 60):
            await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - ago, source="cli"))
        lid = await ami.originate("0612345678", context="inbound-recorded")
        ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered", timeout=60)
        assert played(ami, lid)[:2] == ["grenswacht/nl/recorded", "grenswacht/nl/senior"]
        agent = f"Local/{ev['Agent']}@agents/n"
        call = await wait_until(lambda: e2e.deps.store.live.current(agent), timeout=20)
        assert call.linkedid == lid and call.file  # and it is recorded
    finally:
        holder.swap(before)
