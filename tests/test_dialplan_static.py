"""Static checks of dialplan/: asterisklint, and names shared with the Python side."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from agi import channel_vars as cv

REPO = Path(__file__).resolve().parents[1]
DIALPLAN = REPO / "dialplan"
# asterisklint (last released 2022) predates nothing we use except MSet, which Asterisk 22
# has (the end-to-end tests run it); that one finding is known and allowed.
KNOWN_FALSE_POSITIVES = [re.compile(r"E_APP_MISSING: app 'MSet' does not exist")]


def test_asterisklint_finds_nothing_but_known_false_positives(tmp_path):
    for f in DIALPLAN.glob("*.conf"):
        shutil.copy(f, tmp_path / f.name)
    # An extensions.conf laid out as dialplan/README.md tells an administrator, the secret in
    # its own file.
    (tmp_path / "grenswacht-secret.conf").write_text("GRENSWACHT_AGI_SECRET=0123456789abcdef\n")
    (tmp_path / "extensions.conf").write_text(
        "[general]\n\n[globals]\nGRENSWACHT_AGI=agi://127.0.0.1:4573\n"
        '#include "grenswacht-secret.conf"\n\n'
        '#include "grenswacht-extensions.conf"\n\n'
        "[from-trunk]\nexten => _X.,1,Gosub(grenswacht-screen,s,1(${EXTEN}))\n same => n,Queue(support)\n"
    )
    lint = Path(sys.executable).with_name("asterisklint")
    out = subprocess.run([str(lint), "dialplan-check", "extensions.conf"], cwd=tmp_path, capture_output=True, text=True)
    findings = [l for l in (out.stdout + out.stderr).splitlines() if l.strip()]
    unexpected = [l for l in findings if not any(p.search(l) for p in KNOWN_FALSE_POSITIVES)]
    assert unexpected == []
    assert findings, "asterisklint printed nothing: did it read the include?"


def test_every_variable_the_screen_route_sets_is_documented_in_the_dialplan():
    from agi.config import Config
    from agi.engine import Action, Decision, Reason
    from agi.routes.screen import channel_values

    names = channel_values(Config(), "+31612345678", Decision(Action.SENIOR, Reason.SENIOR_THRESHOLD, 2, 2), "J")
    assert {n.lstrip("_") for n in names} == set(cv.ALL_SET_BY_SCREEN)
    text = (DIALPLAN / "grenswacht-extensions.conf").read_text() + (DIALPLAN / "README.md").read_text()
    for name in cv.ALL_SET_BY_SCREEN:
        assert name in text, name


def dialplan_lines() -> list[str]:
    """The dialplan's steps, comments left out."""
    text = (DIALPLAN / "grenswacht-extensions.conf").read_text()
    return [line.split(";", 1)[0].rstrip() for line in text.splitlines() if line.split(";", 1)[0].strip()]


def test_every_sound_the_dialplan_plays_ships():
    lines = dialplan_lines()
    played = {m.group(1) for line in lines if (m := re.search(r",Playback\((.*)\)$", line))}
    played |= {m.group(1) for line in lines if (m := re.search(r",Read\(\w+,([^,]+),", line))}
    prompts = {m.group(1) for p in played if (m := re.fullmatch(r"\$\{GW_PROMPTS\}/([\w-]+)", p))}
    assert prompts == {
        "warning",
        "senior",
        "refused",
        "closing",
        "callback-time",
        "callback-at",
        "callback-confirm",
        "callback-default",
        "callback-whisper",
        "callback-agreed",
    }
    days = {"callback-today", "callback-tomorrow"}  # callback-${GW_CB_DAY}: the day read back
    for lang in ("nl", "en"):
        for name in prompts | days | {"callback-closing"}:
            assert (DIALPLAN / "sounds" / lang / f"{name}.wav").stat().st_size > 8000, (lang, name)
    # The closing prompts' fallback folder, the agent's tones (stock "beep", our "not logged").
    others = played - {f"${{GW_PROMPTS}}/{n}" for n in prompts}
    fallback = '${IF($["${GW_PROMPTS}" = ""]?grenswacht/nl:${GW_PROMPTS})}/'
    assert others == {
        fallback + "closing",
        fallback + "callback-closing",
        "${GW_PROMPTS}/callback-${GW_CB_DAY}",
        "beep",
        "grenswacht/tones/not-logged",
    }
    assert (DIALPLAN / "sounds" / "tones" / "not-logged.wav").stat().st_size > 4000


def test_every_agi_call_passes_the_shared_secret():
    urls = [m.group(1) for line in dialplan_lines() if (m := re.search(r",AGI\(([^,)]*)", line))]
    assert len(urls) == 9  # screen, endlog, handover, senior, and callback's steps
    assert all(u.endswith("?secret=${GRENSWACHT_AGI_SECRET}") for u in urls), urls


def test_no_hangup_because_the_senior_did_not_answer():
    lines = dialplan_lines()
    dials = [i for i, line in enumerate(lines) if ",Dial(" in line]
    assert len(dials) == 3  # the senior, the handover's, the callback's caller
    for i in dials:  # the next step tells an answered call from one that must go on
        assert lines[i + 1].strip().startswith('same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?'), lines[i + 1]
