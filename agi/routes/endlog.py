"""Route ``endlog``: the agent pressed the end-and-log code (default ``*0``).

Runs on the agent's channel while bridged. The caller is moved to ``grenswacht-closing``
(a calm closing message, then hang-up) first, so the agent is free at once whatever else
happens; then the incident is logged once per call, and the after-care starts.
"""

from __future__ import annotations

from agi import agent_leg
from agi import channel_vars as cv
from agi.deps import Deps
from agi.fastagi.server import AgiSession
from agi.logs import get_logger

log = get_logger("grenswacht.route.endlog")

CLOSING_CONTEXT = "grenswacht-closing"


def category_of(session: AgiSession, deps: Deps) -> str:
    wanted = session.arg(1) or deps.config.features.endlog_category
    known = set(deps.config.protocol_for(None)[1].weights) | set(deps.config.features.extra.values())
    if wanted not in known:
        log.warning("endlog-unknown-category", category=wanted[:32], used=deps.config.features.endlog_category)
        return deps.config.features.endlog_category
    return wanted


async def handle(session: AgiSession, deps: Deps) -> None:
    leg = await agent_leg.read(session, deps.config.numbers.default_region)
    if leg.is_caller_side:
        log.warning("endlog-pressed-on-caller-side-ignored", channel=session.channel, uniqueid=session.uniqueid)
        await session.set_variables({cv.RESULT: "ignored", cv.LOGGED: ""})
        return
    if leg.caller_channel:
        await session.exec("ChannelRedirect", leg.caller_channel, CLOSING_CONTEXT, "s", 1)
    incident = deps.logbook.incident(
        leg.caller, category_of(session, deps), **leg.incident_fields("key", session.uniqueid)
    )
    iid, status = await deps.logbook.record(incident, pause=True)
    await session.set_variables({cv.RESULT: status, cv.LOGGED: iid})


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.RESULT: "error", cv.LOGGED: ""})
    log.warning("endlog-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
