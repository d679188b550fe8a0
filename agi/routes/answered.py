"""Route ``answered``: the agent answered a call (a Gosub on the answered leg: Queue's ``gosub``
argument or Dial's ``U()`` option, dialplan/README.md section 9).

- ``start[,QUEUE]``: remembers "agent interface X is now talking to caller Y" (``store.live``) for the
  after-call code, and decides whether the call is recorded (``[recordings] record``). Sets
  ``GW_REC_FILE``: the file ``MixMonitor(file,b)`` writes (only while bridged: no queue wait, no
  music on hold), or empty. Fails safe: trouble means no recording, and the call goes on.
- ``end``: from the hangup handler the Gosub pushed: the after-call window starts.
"""

from __future__ import annotations

import re

from agi import agent_leg
from agi import channel_vars as cv
from agi.deps import Deps
from agi.engine import Action, Reason
from agi.fastagi.server import AgiSession
from agi.logs import get_logger
from agi.numbers import ANONYMOUS, normalise
from agi.recordings import paths, should_record
from agi.routes.values import caller_name
from agi.screening import screen
from redis_schema.live_calls import recording_id
from redis_schema.records import LiveCall

log = get_logger("grenswacht.route.answered")


async def _agent_and_call(session: AgiSession) -> tuple[str, str]:
    member = agent_leg.safe_channel(await session.get_variable(cv.MEMBERINTERFACE))
    linkedid = await session.get_full_variable("${CHANNEL(linkedid)}") or session.uniqueid
    return member or agent_leg.device_of(session.channel), re.sub(r"[^\w.\-]", "", linkedid)[:64]


async def handle(session: AgiSession, deps: Deps) -> None:
    if session.arg(1) == "end":
        await end(session, deps)
        return
    config, now = deps.config, deps.clock()
    agent, linkedid = await _agent_and_call(session)
    raw = await session.get_variable(cv.CALLER) or await session.get_full_variable("${CALLERID(num)}")
    caller = ANONYMOUS if raw == ANONYMOUS else normalise(raw, config.numbers.default_region)
    settings = config.recordings
    recorded = False
    if settings.record != "off" and deps.recording_folder.usable:  # else: one line at start, none per call
        result = await screen(config, deps.store, deps.prefixes, caller, None, now, config.agi.screen_budget_ms / 1000)
        recorded = should_record(settings, result.record, result.decision.score)
    rid = recording_id(linkedid, agent) if recorded else ""
    mine, theirs = paths(settings, rid) if recorded else ("", "")
    call = LiveCall(
        agent=agent,
        linkedid=linkedid,
        caller=caller,
        queue=re.sub(r"[^\w.\-]", "", session.arg(2) or await session.get_variable(cv.QUEUENAME) or "")[:64],
        channel=agent_leg.safe_channel(session.channel),
        started=now,
        rid=rid,
        file=mine,
        name=caller_name(session.headers.get("agi_calleridname")),  # the agent leg carries the caller's ID
        screened=await _screened(session),
    )
    await deps.store.live.start(call, settings.window_minutes * 60)
    _tell_board(deps, agent, now)
    await session.set_variables({cv.REC_FILE: theirs})
    log.info("call-answered", agent=agent, linkedid=linkedid, recorded=recorded)


async def _screened(session: AgiSession) -> str:
    """How the caller was screened on arrival, "action reason" (for the police report's timeline):
    GW_SCREENED, which [grenswacht-screen] sets after the screen route and the agent's leg
    inherits. Only our own words are kept; "" when not there."""
    return screened_words(await session.get_variable(cv.SCREENED))


def screened_words(raw: str | None) -> str:
    """Pure: "action reason" when both are words of the engine's (agi.engine.Action, Reason), else ""."""
    action, _, reason = (raw or "").strip().partition(" ")
    if action in {a.value for a in Action} and reason in {r.value for r in Reason}:
        return f"{action} {reason}"
    return ""


async def end(session: AgiSession, deps: Deps) -> None:
    agent, linkedid = await _agent_and_call(session)
    await deps.store.live.end(agent, linkedid, deps.clock(), deps.config.recordings.window_minutes * 60)
    _tell_board(deps, agent, deps.clock())


def _tell_board(deps: Deps, agent: str, now: float) -> None:
    """The board's live calls changed (issue 29): an event that makes open boards fetch their panels."""
    deps.later(deps.store.streams.publish_event({"type": "talking", "agent": agent, "at": now}), "talking-event")


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.REC_FILE: ""})
    log.warning("answered-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
