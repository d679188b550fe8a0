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
    # An extensions.conf laid out as dialplan/README.md tells an administrator.
    (tmp_path / "extensions.conf").write_text(
        "[general]\n\n[globals]\nGRENSWACHT_AGI=agi://127.0.0.1:4573\n\n"
        '#include "grenswacht-extensions.conf"\n\n'
        "[from-trunk]\nexten => _X.,1,Gosub(grenswacht-screen,s,1(${EXTEN}))\n same => n,Queue(support)\n")
    lint = Path(sys.executable).with_name("asterisklint")
    out = subprocess.run([str(lint), "dialplan-check", "extensions.conf"], cwd=tmp_path, capture_output=True, text=True)
    findings = [l for l in (out.stdout + out.stderr).splitlines() if l.strip()]
    unexpected = [l for l in findings if not any(p.search(l) for p in KNOWN_FALSE_POSITIVES)]
    assert unexpected == []
    assert findings, "asterisklint printed nothing: did it read the include?"


def test_every_variable_the_screen_route_sets_is_documented_in_the_dialplan():
    from agi.config import Config
    from agi.deps import Deps
    from agi.engine import Action, Decision, Reason
    from agi.routes.screen import channel_values

    deps = Deps(config=Config(), store=None)  # channel_values reads only the config
    names = channel_values(deps, "+31612345678", Decision(Action.SENIOR, Reason.SENIOR_THRESHOLD, 2, 2), "J")
    assert {n.lstrip("_") for n in names} == set(cv.ALL_SET_BY_SCREEN)
    text = (DIALPLAN / "grenswacht-extensions.conf").read_text() + (DIALPLAN / "README.md").read_text()
    for name in cv.ALL_SET_BY_SCREEN:
        assert name in text, name


def test_every_prompt_the_dialplan_plays_exists_in_both_languages():
    text = "\n".join(p.read_text() for p in DIALPLAN.glob("*.conf"))
    names = set(re.findall(r"Playback\(.*\}/(\w+)\)", text))
    assert names == {"warning", "senior", "refused", "closing"}
    for lang in ("nl", "en"):
        for name in names:
            assert (DIALPLAN / "sounds" / lang / f"{name}.wav").stat().st_size > 8000
