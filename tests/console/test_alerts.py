"""Issue 30: each user's opt-in alerts on the live board (sound, desktop notification), kept on
the server per user (so they follow a supervisor to another PC), and the bundled alert sound."""

from __future__ import annotations

import importlib.util
import io
import re
import wave
from pathlib import Path

from agi.actions import alerts, users
from tests.console.conftest import PASSWORD, Client

ROOT = Path(__file__).resolve().parents[2]
SOUND = re.compile(r'<input type="checkbox" name="sound" value="1" id="alert-sound-on"( checked)?>')
DESKTOP = re.compile(r'<input type="checkbox" name="desktop" value="1" id="alert-desktop-on"( checked)?>')


def switches(html: str) -> tuple[bool, bool]:
    return bool(SOUND.search(html).group(1)), bool(DESKTOP.search(html).group(1))


async def test_alerts_are_off_until_switched_on_and_follow_the_user(app, sup, store):
    assert switches((await sup.get("/")).text) == (False, False)
    r = await sup.post("/alerts", {"sound": "1", "desktop": "1", "js": "1"})
    assert r.status_code == 204
    assert switches((await sup.get("/")).text) == (True, True)
    # Another PC: a new login of the same user finds the choice again; another user has their own.
    other_pc = Client(app)
    await other_pc.login("sup1")
    assert switches((await other_pc.get("/")).text) == (True, True)
    admin = Client(app)
    await admin.login("admin1")
    assert switches((await admin.get("/")).text) == (False, False)
    # A plain form (no script) switches sound off: an unticked box is not sent.
    r = await other_pc.post("/alerts", {"desktop": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert await alerts.get(store, "sup1") == alerts.Alerts(sound=False, desktop=True)
    entries = [e for e in await store.streams.audit_recent(100) if e["action"] == "alerts-set"]
    assert [(e["actor"], e["sound"], e["desktop"]) for e in entries] == [("web:sup1", "0", "1"), ("web:sup1", "1", "1")]


async def test_alerts_need_the_csrf_token_and_a_supervisor(app, sup, store):
    r = await sup.post("/alerts", {"sound": "1", "js": "1"}, csrf="forged")
    assert r.status_code == 403 and await alerts.get(store, "sup1") == alerts.Alerts()
    await users.add(store, "agent1", "agent", PASSWORD, "test", 0.0, interfaces=["PJSIP/1001"])
    agent = Client(app)
    await agent.login("agent1")
    r = await agent.post("/alerts", {"sound": "1", "js": "1"}, page="/me")
    assert r.status_code == 403 and await alerts.get(store, "agent1") == alerts.Alerts()


async def test_the_board_names_the_sound_and_the_words_of_the_notification(sup):
    html = (await sup.get("/")).text
    assert '<audio id="alert-sound" src="/static/alert.wav"' in html
    assert 'data-incident="New incident"' in html or 'data-incident="Nieuw incident"' in html
    sound = await sup.get("/static/alert.wav")
    assert sound.status_code == 200 and sound.headers["content-type"] in ("audio/wav", "audio/x-wav")


def test_the_bundled_sound_is_what_the_script_makes():
    spec = importlib.util.spec_from_file_location("alert_sound", ROOT / "scripts" / "alert_sound.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.wav_bytes()
    assert (ROOT / "console" / "static" / "alert.wav").read_bytes() == made
    with wave.open(io.BytesIO(made)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert 0.2 < seconds < 1.0 and w.getnchannels() == 1
        frames = w.readframes(w.getnframes())
    assert max(frames) > 0  # not silence
