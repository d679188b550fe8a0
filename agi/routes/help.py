"""Route ``help``: the agent pressed the help key (default ``*2``), or the call it was pressed on ended.

``help`` (``ask``) runs on the agent's channel while bridged; the call goes on unchanged. A help
request is stored (redis_schema.help_requests) with the agent's channel as Asterisk names it in
the AGI environment, the caller and their history, the agent, the queue and when the call
began; a second press on the same call adds nothing (``GW_RESULT`` ``duplicate``). A new request
is told to the supervisors the ways an incident is: the logbook's event stream (the board shows
it at once), an AMI UserEvent and the webhook. The dialplan then installs a hang-up handler on
the agent's channel that runs ``help,end``: the request is removed and its end announced.
"""

from __future__ import annotations

import asyncio
import re

from agi import agent_leg
from agi import channel_vars as cv
from agi.aftercare import notify
from agi.deps import Deps
from agi.engine import decide
from agi.fastagi.server import AgiSession
from agi.logs import get_logger
from redis_schema.records import HelpRequest, help_event

log = get_logger("grenswacht.route.help")

STORE_BUDGET_SECONDS = 1.0  # each Redis step of a key press, as agi.incidents does
_EPOCH_ID = re.compile(r"^(\d{10})(\.\d+)?$")  # Asterisk's own uniqueids: "<epoch>.<sequence>"


def call_start(linkedid: str, cdr_start: str | None, now: float) -> float:
    """When the call began: the epoch in Asterisk's linkedid (the first channel's uniqueid), else
    the caller's CDR start, else now; never in the future, never more than a day back."""
    for raw in (m.group(1) if (m := _EPOCH_ID.match(linkedid)) else None, cdr_start):
        try:
            value = float(raw or "")
        except ValueError:
            continue
        if now - 86_400 < value <= now:
            return value
    return now


async def handle(session: AgiSession, deps: Deps) -> None:
    if session.arg(1) == "end":
        await _end(session, deps)
        return
    leg = await agent_leg.read(session, deps.config.numbers.default_region)
    if leg.is_caller_side or not leg.caller_channel or not agent_leg.safe_channel(session.channel):
        log.warning("help-ignored", caller_side=leg.is_caller_side, channel=session.channel, uniqueid=session.uniqueid)
        await session.set_variables({cv.RESULT: "ignored", cv.HELP: ""})
        return
    now = deps.clock()
    start = call_start(leg.linkedid, await session.get_full_variable("${CDR(start,u)}", leg.caller_channel), now)
    async with asyncio.timeout(STORE_BUDGET_SECONDS):  # the agent waits for the tone: bounded (else: fallback)
        record = await deps.store.screening.load_caller(leg.caller, deps.config.agi.screen_budget_ms / 1000)
        decision = decide(record, deps.config.protocol_for(None)[1], now)
    req = HelpRequest(
        call=leg.linkedid,
        agent_channel=session.channel,
        caller_channel=leg.caller_channel,
        caller=leg.caller,
        score=decision.score,
        incidents=decision.incidents,
        rung=decision.action.value,
        agent=leg.agent,
        queue=leg.queue,
        started=start,
        asked=now,
        until=now + deps.config.help.max_call_minutes * 60,
    )
    async with asyncio.timeout(STORE_BUDGET_SECONDS):
        added = await deps.store.help.add(req)
    if not added:
        await session.set_variables({cv.RESULT: "duplicate", cv.HELP: ""})
        return
    await session.set_variables({cv.RESULT: "logged", cv.HELP: req.call})
    log.info("help-requested", agent=req.agent, queue=req.queue, channel=session.channel, uniqueid=session.uniqueid)
    await _announce(deps, help_event(req), notify.HELP_EVENT)


async def _end(session: AgiSession, deps: Deps) -> None:
    """The hang-up handler: the call's request goes, if this channel is the one that asked."""
    call = re.sub(r"[^\w.\-]", "", await session.get_full_variable("${CHANNEL(linkedid)}") or "")[:64]
    req = await deps.store.help.get(call, 0.0) if call else None
    if req is None or req.agent_channel != session.channel:
        return
    if await deps.store.help.remove(call) is not None:
        await _announce(
            deps, {"type": "help-end", "id": call, "call": call, "agent": req.agent}, notify.HELP_ENDED_EVENT
        )


async def _announce(deps: Deps, event: dict[str, object], user_event: str) -> None:
    """Event stream now (the board); UserEvent and webhook in the background (never hold up the call)."""
    await deps.store.streams.publish_event(event)
    if deps.ami is not None:
        deps.later(deps.ami.user_event(user_event, notify.ami_fields(event)), "help-user-event")
    url = deps.config.aftercare.webhook_url
    if url:
        deps.later(asyncio.to_thread(notify.post_json, url, event), "help-webhook")


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    if session.arg(1) != "end":
        await session.set_variables({cv.RESULT: "error", cv.HELP: ""})
    log.warning("help-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
