"""What the agent-side routes (endlog, handover) read from the agent's channel.

The feature codes run on the agent's channel while it is bridged to the caller. From there:
the caller's number (``GW_CALLER``, inherited from screening), the caller's channel
(``BRIDGEPEER``), the call (``CHANNEL(linkedid)``), and the agent (``MEMBERINTERFACE`` when
the call came through a queue with ``setinterfacevar = yes``, otherwise the device).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agi import channel_vars as cv
from agi.engine import CallFields
from agi.fastagi.server import AgiSession
from agi.numbers import ANONYMOUS, normalise

_CHANNEL = re.compile(r"^[A-Za-z0-9_/@.;:+\-]{1,128}$")


@dataclass(frozen=True)
class AgentLeg:
    caller: str  # E.164 or "anonymous"
    caller_channel: str  # the bridged peer, "" when none
    linkedid: str
    agent: str  # queue member interface, or the agent's device
    queue: str
    is_caller_side: bool  # the code was pressed on the screened (caller's) channel

    def incident_fields(self, source: str, uniqueid: str) -> CallFields:
        """What this leg tells about an incident logged from it (the agent logs it)."""
        return CallFields(
            source=source,
            agent=self.agent,
            actor=self.agent,
            queue=self.queue,
            uniqueid=uniqueid,
            linkedid=self.linkedid,
        )


def device_of(channel: str) -> str:
    """PJSIP/1001-0000000a -> PJSIP/1001; Local/1001@agents-00000001;1 -> Local/1001@agents."""
    return re.sub(r"-[0-9a-f]{8}(;[12])?$", "", channel)


def safe_channel(value: str | None) -> str:
    return value if value and _CHANNEL.match(value) else ""


async def read(session: AgiSession, region: str) -> AgentLeg:
    own_action = await session.get_variable(cv.ACTION)
    caller_raw = await session.get_variable(cv.CALLER)
    peer = safe_channel(await session.get_variable(cv.BRIDGEPEER))
    linkedid = await session.get_full_variable("${CHANNEL(linkedid)}") or session.uniqueid
    member = safe_channel(await session.get_variable(cv.MEMBERINTERFACE))
    queue = ""
    if peer:
        queue = await session.get_full_variable("${QUEUENAME}", peer) or ""
        if not caller_raw:  # a call that did not pass screening: ask the caller's channel
            caller_raw = await session.get_full_variable("${CALLERID(num)}", peer)
    caller = normalise(caller_raw, region) if caller_raw != ANONYMOUS else ANONYMOUS
    return AgentLeg(
        caller=caller,
        caller_channel=peer,
        linkedid=re.sub(r"[^\w.\-]", "", linkedid)[:64],
        agent=member or device_of(session.channel),
        queue=re.sub(r"[^\w.\-]", "", queue)[:64],
        is_caller_side=bool(own_action),
    )
