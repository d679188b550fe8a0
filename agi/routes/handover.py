"""Route ``handover``: the agent pressed the handover code (default ``*8``).

A ``handover`` incident is logged (weight 0 by default), then the caller goes on to the senior
colleague (context ``grenswacht-handover``) without the call ending. No cool-down: the agent
handed over, the call was not ended in anger.
"""

from __future__ import annotations

from agi import agent_leg
from agi import channel_vars as cv
from agi.deps import Deps
from agi.fastagi.server import AgiSession
from agi.logs import get_logger

log = get_logger("grenswacht.route.handover")

HANDOVER_CONTEXT = "grenswacht-handover"


async def handle(session: AgiSession, deps: Deps) -> None:
    leg = await agent_leg.read(session, deps.config.numbers.default_region)
    if leg.is_caller_side or not leg.caller_channel:
        log.warning(
            "handover-ignored", caller_side=leg.is_caller_side, channel=session.channel, uniqueid=session.uniqueid
        )
        await session.set_variables({cv.RESULT: "ignored", cv.LOGGED: ""})
        return
    # Logged before the caller moves (bounded: journal and store budgets), so the senior's
    # display already counts this handover.
    incident = deps.logbook.incident(leg.caller, "handover", **leg.incident_fields("handover", session.uniqueid))
    iid, status = await deps.logbook.record(incident, pause=False)
    await session.exec("ChannelRedirect", leg.caller_channel, HANDOVER_CONTEXT, "s", 1)
    await session.set_variables({cv.RESULT: status, cv.LOGGED: iid})


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.RESULT: "error", cv.LOGGED: ""})
    log.warning("handover-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
