"""The console's evidence for the police (issue 28): the player, the report button, the account and
the "reported" mark; over HTTP, and in headless Chromium with screenshots."""

from __future__ import annotations

import io
import time
import wave
import zipfile

import pytest
from selenium.webdriver.common.by import By

from agi.actions import logbook, users
from redis_schema.records import Recording
from tests.console.browser import chromium, console_process, login, shot

pytestmark = pytest.mark.asyncio
N = "+31612345678"


async def threat_with_recording(store, config, folder) -> tuple[str, bytes]:
    now = time.time()
    iid = await logbook.add(store, config, N, "threat", "shouted", now - 300, "setup", now)
    path = folder / "call.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 125)
    data = path.read_bytes()
    await store.live.kept.put(
        iid, Recording(iid, "lid-1", N, str(path), now - 320, 2.0, "ab" * 32, len(data), now - 290, "PJSIP/anna")
    )
    return iid, data


async def test_only_a_logged_in_supervisor_hears_it_in_ranges_and_every_play_is_audited(
    anon, sup, store, web_config, tmp_path
):
    iid, data = await threat_with_recording(store, web_config, tmp_path)
    for path in ("recording.wav", "report.zip"):
        r = await anon.get(f"/incidents/{iid}/{path}")
        assert r.status_code == 303 and r.headers["location"] == "/login"
    page = (await sup.get(f"/incidents/{iid}")).text
    assert f'src="/incidents/{iid}/recording.wav"' in page and f'href="/incidents/{iid}/report.zip"' in page
    r = await sup.get(f"/incidents/{iid}/recording.wav", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = await sup.get(f"/incidents/{iid}/recording.wav?download=1")
    assert r.status_code == 200 and r.content == data and "attachment" in r.headers["content-disposition"]
    plays = [e for e in await store.streams.audit_entries() if e["action"].startswith("recording-")]
    assert [(e["action"], e["actor"], e.get("range", "")) for e in plays] == [
        ("recording-play", "web:sup1", "bytes=100-199"),
        ("recording-download", "web:sup1", ""),
    ]
    r = await sup.get(f"/incidents/{iid}/report.zip")
    assert r.status_code == 200 and "report.pdf" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(
        e["action"] == "incident-report" and e["actor"] == "web:sup1" for e in await store.streams.audit_entries()
    )
    assert (await sup.get("/incidents/0123456789abcdef/recording.wav")).status_code == 404


async def test_account_and_reported_through_the_forms(sup, store, web_config, tmp_path):
    iid, _ = await threat_with_recording(store, web_config, tmp_path)
    due = f'threat-due"><a href="/incidents/{iid}"'
    assert due in (await sup.get("/")).text  # a threat not yet reported, with its deadline
    r = await sup.post(f"/incidents/{iid}/evidence/account", {"account": "x" * 4001}, page=f"/incidents/{iid}")
    assert r.status_code == 400 and "longer than 4000" in r.text
    r = await sup.post(f"/incidents/{iid}/evidence/account", {"account": "Ik maak je af."}, page=f"/incidents/{iid}")
    assert r.status_code == 303
    r = await sup.post(f"/incidents/{iid}/evidence/reported", {"reference": "PL-77"}, page=f"/incidents/{iid}")
    assert r.status_code == 303
    inc = await logbook.get(store, iid)
    assert (inc.account, inc.reported_ref) == ("Ik maak je af.", "PL-77")
    assert due not in (await sup.get("/")).text  # reported: off that list


async def test_the_player_and_the_report_button_in_a_browser(tmp_path, redis_server, store, web_config):
    await users.add(store, "anne", "supervisor", "a long enough password", "setup", time.time())
    iid, data = await threat_with_recording(store, web_config, tmp_path)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        driver.get(f"{base}/incidents/{iid}/recording.wav")  # no session: the login page
        assert driver.current_url.endswith("/login")
        login(driver, base, "anne", "a long enough password")
        shot(driver, "board-threats")
        assert driver.find_elements(By.CSS_SELECTOR, f'.threat-due a[href="/incidents/{iid}"]')
        driver.get(f"{base}/incidents/{iid}")
        player = driver.find_element(By.ID, "player")
        assert player.get_attribute("src").endswith(f"/incidents/{iid}/recording.wav")
        assert driver.find_element(By.ID, "report-button").get_attribute("href").endswith("/report.zip")
        # The player's own kind of request: a range, answered 206 with those bytes.
        status, size = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            fetch(arguments[0], {headers: {Range: 'bytes=0-99'}}).then(async r => done([r.status, (await r.arrayBuffer()).byteLength]));""",
            f"{base}/incidents/{iid}/recording.wav",
        )
        assert (status, size) == (206, 100)
        # docs/console/incident-evidence.png is taken from a call Asterisk really recorded:
        # tests/e2e/test_evidence_e2e.py.
    assert any(
        e["action"] == "recording-play" and e["actor"] == "web:anne" for e in await store.streams.audit_entries()
    )
