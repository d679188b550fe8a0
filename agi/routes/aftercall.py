"""Route ``aftercall``: the agent dialled an after-call code (default ``*00`` abuse, ``*09`` threat)
from their own phone, after the caller hung up (dialplan/README.md section 9).

Logs the last caller this agent interface was bridged with (``store.live.current``), within
``[recordings] window_minutes`` of the call's end, with the same after-care as ``*0`` (cool-down,
notification, the recording kept). Arguments: the code dialled, and optionally the agent's queue
member interface (when it is not the phone's own device, e.g. ``Local/1001@agents/n``).
``GW_RESULT``: ``logged`` / ``journaled`` (the agent hears the beep), ``nothing`` (no recent
call, or it was logged already: a clear tone, nothing changes) or ``error``.
"""

from __future__ import annotations

from agi import agent_leg
from agi import channel_vars as cv
from agi.deps import Deps
from agi.engine import CallFields
from agi.fastagi.server import AgiSession
from agi.logs import get_logger

log = get_logger("grenswacht.route.aftercall")

NOTHING = "nothing"


async def handle(session: AgiSession, deps: Deps) -> None:
    code = session.arg(1)
    category = deps.config.features.after_call.get(code)
    agent = agent_leg.safe_channel(session.arg(2)) or agent_leg.device_of(session.channel)
    call = await deps.store.live.current(agent) if category else None
    if category is None or call is None or call.incident:
        log.info(
            "after-call-nothing-to-log",
            agent=agent,
            code=code[:8],
            why="unknown code" if category is None else "no recent call" if call is None else "already logged",
        )
        await session.set_variables({cv.RESULT: NOTHING, cv.LOGGED: ""})
        return
    fields = CallFields(
        source="aftercall",
        agent=call.agent,
        actor=call.agent,
        queue=call.queue,
        uniqueid=session.uniqueid,
        linkedid=call.linkedid,
    )
    iid, status = await deps.logbook.record(deps.logbook.incident(call.caller, category, **fields), pause=True)
    await session.set_variables({cv.RESULT: NOTHING if status == "duplicate" else status, cv.LOGGED: iid})


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.RESULT: "error", cv.LOGGED: ""})
    log.warning("aftercall-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
