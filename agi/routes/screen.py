"""Route ``screen``: run at the top of an inbound call, before any agent is rung.

Sets the GW_* channel variables (agi.channel_vars) that the ``grenswacht-screen`` Gosub
acts on. Fails open: store trouble or a bad request answer ``allow`` with a reason.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from agi import channel_vars as cv
from agi import metrics
from agi.config import Config
from agi.deps import Deps
from agi.engine import Action, Decision, Reason
from agi.fastagi.server import AgiSession
from agi.logs import get_logger
from agi.numbers import mask, normalise
from agi.recordings import should_record
from agi.routes.values import prompts_dir, senior_values
from agi.screening import screen
from redis_schema.records import MAX_TIME

log = get_logger("grenswacht.route.screen")


def iso(ts: float | None) -> str:
    """ISO 8601 UTC; the store clamps stored times to the year 9999, so this cannot overflow."""
    return datetime.fromtimestamp(min(ts, MAX_TIME), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def caller_of(session: AgiSession, deps: Deps) -> str:
    return normalise(session.headers.get("agi_callerid"), deps.config.numbers.default_region)


def did_of(session: AgiSession) -> str:
    """The dialled number: the Gosub passes ${EXTEN} of the inbound route as the first argument."""
    return session.arg(1) or session.headers.get("agi_dnid", "") or session.headers.get("agi_extension", "")


def channel_values(
    config: Config, number: str, decision: Decision, caller_name: str, flagged: bool = False
) -> dict[str, object]:
    """The GW_* variables for this decision (agi.channel_vars documents each one). ``flagged``: the
    caller is recorded because of their history (``[recordings] record = "flagged"``)."""
    values: dict[str, object] = {
        cv.ACTION: decision.action.value,
        cv.REASON: decision.reason.value,
        cv.SCORE: decision.score,
        cv.INCIDENTS: decision.incidents,
        cv.BAN_UNTIL: iso(decision.ban_until),
        cv.PROMPTS: prompts_dir(config),
        cv.CALLER_INHERIT: number,
    }
    if decision.action is Action.SENIOR:
        values.update(senior_values(config, decision.incidents, caller_name))
    if (config.recordings.record != "off" and decision.action is Action.WARN) or flagged:
        # The warning-recorded prompt, or (any other rung) the recorded prompt (dialplan/README.md, 9):
        # a caller recorded for their history is told by us; with "all", by the organisation's own.
        values[cv.RECORDED] = "1"
    if decision.action.value in config.help.history_rungs:  # issue 29: the agent sees "[GW n]" too
        values[cv.CID_NAME] = senior_values(config, decision.incidents, caller_name)[cv.CID_NAME]
    return values


async def handle(session: AgiSession, deps: Deps) -> None:
    started = time.perf_counter()
    number = caller_of(session, deps)
    now = deps.clock()
    budget = deps.config.agi.screen_budget_ms / 1000
    result = await screen(deps.config, deps.store, deps.prefixes, number, did_of(session), now, budget)
    decided = time.perf_counter()
    decision = result.decision
    if decision.reason is Reason.STORE_UNAVAILABLE:
        log.warning(
            "store-unavailable-fail-open",
            uniqueid=session.uniqueid,
            channel=session.channel,
            budget_ms=deps.config.agi.screen_budget_ms,
            error=result.store_error,
        )
    rec = deps.config.recordings
    flagged = (
        rec.record == "flagged" and deps.recording_folder.usable and should_record(rec, result.record, decision.score)
    )
    await session.set_variables(
        channel_values(deps.config, number, decision, session.headers.get("agi_calleridname", ""), flagged)
    )
    log.info(
        "screened",
        action=decision.action.value,
        reason=decision.reason.value,
        score=decision.score,
        incidents=decision.incidents,
        protocol=result.protocol,
        uniqueid=session.uniqueid,
        caller=mask(number, deps.config.numbers.mask_in_logs),
        ms=round((time.perf_counter() - started) * 1000, 2),
        decide_ms=round((decided - started) * 1000, 2),
        header_ms=session.header_ms,
        **({"store_error": result.store_error} if result.store_error else {}),
    )
    metrics.screened(decision.action.value, decision.reason.value, time.perf_counter() - started)
    # Writes that follow from the decision happen after Asterisk has its answer.
    if decision.new_ban is not None:
        deps.later(deps.store.lists.set_ban(number, decision.new_ban), "protocol-ban")
    if decision.reason is not Reason.STORE_UNAVAILABLE:
        deps.counters.count(decision.action.value, decision.reason.value, now)


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    """Let the call through on the normal route and say why."""
    await session.set_variables({cv.ACTION: Action.ALLOW.value, cv.REASON: Reason(reason).value})
    log.warning("screen-fail-open", reason=reason, uniqueid=session.uniqueid, channel=session.channel)
