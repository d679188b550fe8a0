"""With [recordings] on, a warned caller hears the warning-recorded prompt and still reaches the agent
as "[GW n] Name" (issue 29's history_rungs, "warn" by default). Before, the recorded variant's
branch lost the name twice: the screen route set GW_RECORDED *instead of* GW_CID_NAME, and the
dialplan's warn_recorded branch returned without setting CALLERID(name)."""

from __future__ import annotations

from agi.config import Config
from agi.engine import Action, Decision, Reason
from agi.routes.screen import channel_values
from tests.test_dialplan_static import context_steps

WARNED = Decision(Action.WARN, Reason.WARN_THRESHOLD, 1, 1)


def test_a_warned_caller_keeps_the_history_name_when_recordings_are_on():
    for record in ("flagged", "all"):
        config = Config.model_validate({"recordings": {"record": record}})
        values = channel_values(config, "+31612345678", WARNED, "Jansen")
        assert (values["GW_RECORDED"], values["GW_CID_NAME"]) == ("1", "[GW 1] Jansen"), record
    off = channel_values(Config(), "+31612345678", WARNED, "Jansen")
    assert "GW_RECORDED" not in off and off["GW_CID_NAME"] == "[GW 1] Jansen"


def test_both_warning_branches_of_the_dialplan_set_the_name_before_returning():
    steps = context_steps("grenswacht-screen")
    labels = {label: i for i, (label, _, _) in enumerate(steps) if label}
    for start in (labels["warn"], labels["warn_recorded"]):
        end = next(i for i in range(start, len(steps)) if steps[i][1] == "Return")
        branch = [f"{app}({args})" for _, app, args in steps[start:end]]
        assert 'ExecIf($["${GW_CID_NAME}" != ""]?Set(CALLERID(name)=${GW_CID_NAME}))' in branch, branch


# ---- a caller recorded for their history is told, whatever the rung ----------------------------

SENIOR = Decision(Action.SENIOR, Reason.SENIOR_THRESHOLD, 2, 2)
CLEAN = Decision(Action.ALLOW, Reason.CLEAN, 0, 0)


def test_a_flagged_caller_on_any_rung_is_told():
    config = Config.model_validate({"recordings": {"record": "flagged"}})
    for decision in (SENIOR, CLEAN):  # CLEAN: a past ban, or warn_at above 1, flags the caller
        assert channel_values(config, "+31612345678", decision, "Jansen", True)["GW_RECORDED"] == "1"
        assert "GW_RECORDED" not in channel_values(config, "+31612345678", decision, "Jansen")


def test_the_dialplan_plays_the_recorded_notice_to_a_flagged_caller():
    from tests.test_dialplan_static import run_screen

    told = {"AGISTATUS": "SUCCESS", "GW_PROMPTS": "grenswacht/nl", "GW_RECORDED": "1"}
    allow = {**told, "GW_ACTION": "allow", "GW_REASON": "clean"}
    assert run_screen({}, allow) == ["Answer", "Playback(${GW_PROMPTS}/recorded)", "Return"]
    assert run_screen({}, {**allow, "GW_RECORDED": ""}) == ["Return"]  # not recorded: nothing changes
    senior = {**told, "GW_ACTION": "senior", "GW_REASON": "senior-threshold", "GW_SENIOR": ""}
    assert run_screen({}, senior) == [
        "Answer",
        "Playback(${GW_PROMPTS}/recorded)",
        "Playback(${GW_PROMPTS}/senior)",
        "Return",
    ]
    assert run_screen({}, {**senior, "GW_RECORDED": ""}) == ["Answer", "Playback(${GW_PROMPTS}/senior)", "Return"]
