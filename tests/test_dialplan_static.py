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
        "warning-recorded",
        "recorded",
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
        for name in prompts | days | {"callback-closing", "unavailable"}:
            assert (DIALPLAN / "sounds" / lang / f"{name}.wav").stat().st_size > 8000, (lang, name)
    # The closing prompts' fallback folder, the agent's tones (stock "beep", our "not logged").
    others = played - {f"${{GW_PROMPTS}}/{n}" for n in prompts}
    fallback = '${IF($["${GW_PROMPTS}" = ""]?grenswacht/nl:${GW_PROMPTS})}/'
    assert others == {
        fallback + "closing",
        fallback + "callback-closing",
        fallback + "unavailable",
        "${GW_PROMPTS}/callback-${GW_CB_DAY}",
        "beep",
        "grenswacht/tones/not-logged",
        "grenswacht/tones/nothing-to-log",  # an after-call code with nothing to log
    }
    assert (DIALPLAN / "sounds" / "tones" / "not-logged.wav").stat().st_size > 4000
    assert (DIALPLAN / "sounds" / "tones" / "nothing-to-log.wav").stat().st_size > 4000


def test_every_agi_call_passes_the_shared_secret():
    urls = [m.group(1) for line in dialplan_lines() if (m := re.search(r",AGI\(([^,)]*)", line))]
    assert (
        len(urls) == 15
    )  # screen, endlog, handover, senior, callback's steps, help (ask, end), quieter, answered (2), aftercall
    assert all(u.endswith("?secret=${GRENSWACHT_AGI_SECRET}") for u in urls), urls


def test_no_hangup_because_the_senior_did_not_answer():
    lines = dialplan_lines()
    dials = [i for i, line in enumerate(lines) if ",Dial(" in line]
    assert len(dials) == 4  # the senior, an unscreened call's destination, the handover's, the callback's caller
    for i in dials:  # the next step tells an answered call from one that must go on
        assert lines[i + 1].strip().startswith('same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?'), lines[i + 1]


# -- what a call that was not screened does (GRENSWACHT_UNSCREENED) ------------------------------

_STEP = re.compile(r"^\s*(?:exten => s,1|same => n(?:\((\w+)\))?),(\w+)\((.*)\)$")


def context_steps(name: str) -> list[tuple[str | None, str, str]]:
    """The steps of one context of the dialplan: (label, application, its argument text)."""
    lines = dialplan_lines()
    start = lines.index(f"[{name}]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    steps = []
    for line in lines[start:end]:
        m = _STEP.match(line)
        assert m, line
        steps.append((m.group(1), m.group(2), m.group(3)))
    return steps


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), ""), text)


def condition(expression: str, variables: dict[str, str]) -> bool:
    """``$["${A}" = "x" | "${B}" != "y" & ...]`` as Asterisk evaluates it (& before |)."""
    text = substitute(expression.removeprefix("$[").removesuffix("]"), variables)
    compared = re.sub(
        r'"([^"]*)"\s*(!=|=)\s*"([^"]*)"', lambda m: str(int((m.group(1) == m.group(3)) == (m.group(2) == "="))), text
    )
    assert re.fullmatch(r"[01 |&]+", compared), compared  # nothing this little evaluator does not know
    return any(all(term.strip() == "1" for term in part.split("&")) for part in compared.split("|"))


def run_screen(globals_: dict[str, str], agi: dict[str, str], dialstatus: str = "NOANSWER") -> list[str]:
    """Walk [grenswacht-screen] for one call: ``agi`` is what the AGI step left (AGISTATUS and
    the GW_* variables). Returns the steps that reach the caller, up to Return or Hangup."""
    steps = context_steps("grenswacht-screen")
    labels = {label: i for i, (label, _, _) in enumerate(steps) if label}
    variables, seen, i = dict(globals_), [], 0
    for _ in range(len(steps) * 2):
        _, app, args = steps[i]
        i += 1
        if app == "AGI":
            variables.update(agi)
        elif app == "MSet":
            variables.update(pair.split("=", 1) for pair in args.split(","))
        elif app == "GotoIf":
            expression, _, target = args.rpartition("?")
            if condition(expression, variables):
                i = labels[target]
        elif app == "Dial":
            seen.append(f"Dial({substitute(args, variables)})")
            variables["DIALSTATUS"] = dialstatus
        elif app in ("Answer", "Playback", "Return", "Hangup"):
            seen.append(f"{app}({args})" if app == "Playback" else app)
            if app in ("Return", "Hangup"):
                return seen
    raise AssertionError("the walk did not end")


# The service's fail-open answers (agi.engine.Reason): allow, without a screening behind it.
UNSCREENED_REASONS = ("store-unavailable", "bad-request", "busy", "error")


def test_the_dialplan_knows_every_fail_open_reason_of_the_service():
    from agi.engine import Reason

    assert {r.value for r in Reason if r.name in ("STORE_UNAVAILABLE", "BAD_REQUEST", "BUSY", "ERROR")} == set(
        UNSCREENED_REASONS
    )
    [check] = [args for _, app, args in context_steps("grenswacht-screen") if app == "GotoIf" and "GW_REASON" in args]
    assert set(re.findall(r'"\$\{GW_REASON\}" = "([\w-]+)"', check)) == set(UNSCREENED_REASONS)


UNAVAILABLE = 'Playback(${IF($["${GW_PROMPTS}" = ""]?grenswacht/nl:${GW_PROMPTS})}/unavailable)'
NOT_REACHED = {"AGISTATUS": "FAILURE"}
CLOSED = {"AGISTATUS": "SUCCESS"}  # the service closed the connection without an answer


def test_an_unscreened_call_continues_by_default():
    for agi in (NOT_REACHED, CLOSED, {"AGISTATUS": "SUCCESS", "GW_ACTION": "allow", "GW_REASON": "busy"}):
        assert run_screen({}, agi) == ["Return"]
        assert run_screen({"GRENSWACHT_UNSCREENED": "continue"}, agi) == ["Return"]


def test_an_unscreened_call_can_be_refused_politely_or_sent_to_a_fallback():
    unscreened = [
        NOT_REACHED,
        CLOSED,
        *({"AGISTATUS": "SUCCESS", "GW_ACTION": "allow", "GW_REASON": reason} for reason in UNSCREENED_REASONS),
    ]
    dial = {"GRENSWACHT_UNSCREENED": "dial", "GRENSWACHT_UNSCREENED_DIAL": "Local/s@senior-queue"}
    for agi in unscreened:
        assert run_screen({"GRENSWACHT_UNSCREENED": "refuse"}, agi) == ["Answer", UNAVAILABLE, "Hangup"], agi
        assert run_screen(dial, agi, "ANSWER") == ["Dial(Local/s@senior-queue,30)", "Hangup"], agi
        # not answered there: nobody is hung up for it, the call goes on to the normal route
        assert run_screen(dial, agi, "NOANSWER") == ["Dial(Local/s@senior-queue,30)", "Return"], agi
        assert run_screen({"GRENSWACHT_UNSCREENED": "dial"}, agi) == ["Return"], agi  # no destination set


def test_the_unscreened_choice_leaves_screened_calls_alone():
    choice = {"GRENSWACHT_UNSCREENED": "refuse"}
    screened = {"AGISTATUS": "SUCCESS", "GW_PROMPTS": "grenswacht/en"}
    assert run_screen(choice, {**screened, "GW_ACTION": "allow", "GW_REASON": "clean"}) == ["Return"]
    assert run_screen(choice, {**screened, "GW_ACTION": "refuse", "GW_REASON": "banned"}) == [
        "Answer",
        "Playback(${GW_PROMPTS}/refused)",
        "Hangup",
    ]
