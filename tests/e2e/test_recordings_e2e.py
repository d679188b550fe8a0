"""Recordings and the after-call code on a real Asterisk 22 (issue 28).

Asterisk runs in a chroot, so it sees the recordings folder under another path than the service
does: the shared-folder case of docs/recordings.md ([recordings] asterisk_folder).
The caller "speaks" a 440 Hz tone, the agent a 1000 Hz tone, and music on hold is 2000 Hz: a kept
recording must hold both voices and no hold music.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import time
import wave
from pathlib import Path

import pytest
import pytest_asyncio

from agi import recordings
from agi.actions import logbook
from tests.e2e.test_agent_key_e2e import N, incidents, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

CALLER_HZ, AGENT_HZ, MOH_HZ = 440, 1000, 2000


@pytest_asyncio.fixture(loop_scope="session")
async def recorded(e2e, asterisk):
    """[recordings] record = "all" into a folder Asterisk sees as /gw-run/<name>/rec, with hold music."""
    host = asterisk.host_base / "rec"
    host.mkdir(exist_ok=True)
    for old in host.iterdir():
        old.unlink()
    moh = asterisk.host_base / "data" / "moh" / "tone.wav"
    if not moh.exists():
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(moh), "synth", "30", "sine", str(MOH_HZ)],
            check=True,
        )
        # Asterisk reloads a configuration only when its file changed.
        with open(asterisk.host_base / "etc" / "musiconhold.conf", "a") as conf:
            conf.write("; with a tone\n")
        asterisk.rx("moh reload")
    holder = e2e.deps.settings
    before = holder.current
    rec = before.recordings.model_copy(
        update={"record": "all", "folder": str(host), "asterisk_folder": f"{asterisk.base}/rec"}
    )
    holder.swap(before.model_copy(update={"recordings": rec}))
    yield e2e
    holder.swap(before)


def energy(path: Path, hz: float) -> float:
    """Goertzel power of one frequency over the file, relative to its total power."""
    with wave.open(str(path), "rb") as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    samples = [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    total = sum(x * x for x in samples) or 1
    return power / (total * len(samples) / 2)


def sox_rms(path: Path) -> float:
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    line = next(line for line in out.splitlines() if line.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


async def talk(ami, context: str = "inbound-recorded", **variables: str) -> str:
    """A recorded call: the caller speaks 440 Hz, the agent 1000 Hz; GW_TEST_* variables as given."""
    return await ami.originate(
        "0612345678",
        context=context,
        caller_context="caller-speaks",
        variables={"__GW_TEST_AGENT_TONE": str(AGENT_HZ)} | {f"__GW_TEST_{k}": v for k, v in variables.items()},
    )


async def answered_agent(ami, lid: str) -> str:
    ev = await ami.wait_for(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == "GwTestAgentAnswered")
    return f"Local/{ev['Agent']}@agents/n"


async def ended_call(store, agent: str, lid: str):
    async def ended():
        call = await store.live.current(agent)
        return call if call is not None and call.linkedid == lid and call.ended else None

    return await wait_until(ended, timeout=40)


async def test_a_logged_call_keeps_both_voices_and_not_the_hold_music(recorded, ami, asterisk):
    e2e = recorded
    lid = await talk(ami, ANSWER_AFTER="3", WAIT="4", KEYS="*0")  # 3 s of hold music first
    await asterisk.wait_for_log("Started music on hold")  # the caller did wait, with hold music
    [inc] = await wait_until(lambda: incidents(e2e), timeout=40)
    assert inc.linkedid == lid
    rec = await wait_until(lambda: e2e.deps.store.live.recording(inc.id), timeout=40)
    path = Path(rec.file)
    assert path.parent == Path(e2e.deps.config.recordings.folder) and path.exists()
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == rec.sha256 and rec.size == len(data)
    assert (path.stat().st_mode & 0o777) == 0o600
    # The bridged conversation only: about the 4 s between answer and *0, not the 3 s on hold.
    assert 2.5 <= rec.duration <= 7.0, rec.duration
    assert sox_rms(path) > 0.01  # not silence
    caller, agent, hold = (energy(path, hz) for hz in (CALLER_HZ, AGENT_HZ, MOH_HZ))
    assert caller > 0.05 and agent > 0.05, (caller, agent)
    assert hold < 0.01, hold
    # Erasing the caller deletes the file and the record.
    await logbook.erase(e2e.deps.store, N, N, "tester", time.time(), wait=30)
    assert not path.exists()
    assert await e2e.deps.store.live.recording(inc.id) is None


async def test_an_unlogged_call_leaves_no_file_after_the_window(recorded, ami):
    e2e = recorded
    lid = await talk(ami, TALK="3")
    agent = await answered_agent(ami, lid)
    call = await ended_call(e2e.deps.store, agent, lid)
    assert call.file and Path(call.file).exists()
    config = e2e.deps.config
    # Within the window the job keeps waiting: the agent may still dial the after-call code.
    assert await recordings.sweep(e2e.deps.store, config, time.time()) == (0, 0)
    assert Path(call.file).exists()
    later = call.ended + config.recordings.window_minutes * 60 + 1
    assert await recordings.sweep(e2e.deps.store, config, later) == (0, 1)
    assert not Path(call.file).exists()
    assert list(Path(config.recordings.folder).iterdir()) == []
    assert await incidents(e2e) == ()


async def test_after_call_code_logs_the_caller_who_hung_up_and_keeps_the_recording(recorded, ami):
    e2e = recorded
    lid = await talk(ami, TALK="4")
    agent = await answered_agent(ami, lid)
    await ended_call(e2e.deps.store, agent, lid)  # the caller hung up
    assert await incidents(e2e) == ()

    async def dial(code: str) -> dict:
        ami.reset()
        await ami.action(
            Action="Originate",
            Channel=f"Local/{code}@agent-phone",
            Application="Wait",
            Data="5",
            CallerID=agent.split("/")[1].split("@")[0],
            Async="true",
        )
        return await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAfterCall", timeout=30)

    first = await dial("*00")
    assert first["Result"] == "logged", first
    [inc] = await wait_until(lambda: incidents(e2e))
    assert (inc.category, inc.source, inc.linkedid, inc.agent) == ("abuse", "aftercall", lid, agent)
    assert inc.id == first["Logged"]
    rec = await wait_until(lambda: e2e.deps.store.live.recording(inc.id), timeout=20)
    assert Path(rec.file).exists() and rec.duration >= 2.0
    # A second press changes nothing (and says so with its own tone).
    second = await dial("*09")
    assert second["Result"] == "nothing" and len(await incidents(e2e)) == 1
    # Retention: past keep_days the file goes, and its record.
    config = e2e.deps.config
    assert await recordings.sweep(e2e.deps.store, config, time.time() + 5) == (0, 0)
    past = rec.started + config.recordings.keep_days * 86_400 + 1
    assert await recordings.sweep(e2e.deps.store, config, past) == (0, 1)
    assert not Path(rec.file).exists() and await e2e.deps.store.live.recording(inc.id) is None


async def test_no_recent_call_gets_the_nothing_tone(e2e, ami):
    ami.reset()
    await ami.action(
        Action="Originate", Channel="Local/*00@agent-phone", Application="Wait", Data="5", CallerID="1002", Async="true"
    )
    ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAfterCall", timeout=30)
    assert ev["Result"] == "nothing"
    assert await incidents(e2e) == ()


async def test_a_warned_caller_hears_that_calls_may_be_recorded(recorded, ami):
    from agi.engine import Incident
    from tests.e2e.test_screening_e2e import on, played

    e2e = recorded
    await e2e.deps.store.incidents.add_incident(Incident.new(N, "abuse", time.time() - 60, source="cli"))
    lid = await ami.originate("0612345678")
    await ami.wait_for(on(lid, "Newexten", Application="Playback"))
    assert played(ami, lid)[0] == "grenswacht/nl/warning-recorded"


async def test_dial_u_option_records_a_direct_call_too(recorded, ami):
    e2e = recorded
    lid = await talk(ami, "inbound-dial", TALK="3")
    # No queue member interface on a direct Dial(): the agent is the device of the channel.
    call = await ended_call(e2e.deps.store, "Local/1001@agents", lid)
    assert call.queue == "direct" and call.file and Path(call.file).exists()
