"""Help requests (issue 29): what the board shows, and what a supervisor may do on one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agi.actions import users
from agi.actions.errors import ActionError
from agi.ami.client import AmiError
from redis_schema.records import HelpRequest, User
from redis_schema.store import Store


async def active(store: Store, now: float) -> list[HelpRequest]:
    """The help requests of calls still in progress, oldest first."""
    return await store.help.active(now)


async def get(store: Store, call: str, now: float) -> HelpRequest | None:
    return await store.help.get(call, now)


# ---- listen, whisper, take over (issue 29) ---------------------------------------------------

MODES = ("listen", "whisper", "takeover")
LISTEN_CONTEXT = "grenswacht-listen"  # dialplan/grenswacht-extensions.conf
RING_SECONDS = 30


class Ami(Protocol):  # agi.ami.client.AmiClient, as much as this needs
    async def action(self, fields: Mapping[str, Any], *, as_list: bool = False) -> Any: ...


async def channel_alive(ami: Ami, channel: str) -> bool:
    """Whether Asterisk still has this channel (AMI Status names it, or says there is no such channel)."""
    try:
        msgs = await ami.action({"Action": "Status", "Channel": channel}, as_list=True)
    except AmiError:
        return False
    return any(m.get("Event") == "Status" and m.get("Channel") == channel for m in msgs)


async def listen(
    store: Store, ami: Ami | None, user: User, call: str, mode: str, actor: str, now: float
) -> HelpRequest:
    """Ring ``user``'s phone; answered, it listens to (whispers to, takes over) the help request's
    call. The channel comes from the stored request only. Audited with the user; ActionError with
    one sentence when it cannot be done."""
    if mode not in MODES:
        raise ActionError("the mode must be {modes} or {last}.", modes=", ".join(MODES[:-1]), last=MODES[-1])
    if not users.may(user.role, "supervisor"):
        raise ActionError("only a supervisor or an administrator can listen in.")
    if not user.phone:
        raise ActionError(
            "{name} has no phone to ring: set one with `grenswacht users phone {name} PJSIP/...`.", name=user.name
        )
    if ami is None:
        raise ActionError("listening in needs AMI: set [ami] and GRENSWACHT_AMI_SECRET for the console.")
    req = await store.help.get(call[:64], now)
    try:
        if req is None or not await channel_alive(ami, req.agent_channel):
            if req is not None:
                await store.help.remove(req.call)
            raise ActionError("this call has ended.")
        await ami.action(
            {
                "Action": "Originate",
                "Channel": user.phone,
                "Context": LISTEN_CONTEXT,
                "Exten": mode,
                "Priority": "1",
                "Async": "true",
                "Timeout": str(RING_SECONDS * 1000),
                "CallerID": f'"Grenswacht {mode}" <{mode}>',
                "Variable": f"GW_SPY={req.agent_channel},GW_SPY_PEER={req.caller_channel}",
            }
        )
    except AmiError as exc:
        raise ActionError("the PBX did not take the call ({why}).", why=str(exc)[:120]) from None
    await store.streams.audit(actor, mode, now, call=req.call, agent=req.agent, queue=req.queue, phone=user.phone)
    return req
