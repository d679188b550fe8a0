"""Help requests (issue 29): what the board shows, and what a supervisor may do on one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from agi import agent_leg
from agi.actions import users
from agi.actions.errors import ActionError
from agi.ami.client import AmiError
from redis_schema.records import HelpRequest, LiveCall, User
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


ENDED = "this call has ended."


def _ready(ami: Ami | None, user: User, mode: str) -> Ami:
    """The PBX to ring ``user`` through, once the mode, the user's role and phone allow it."""
    if mode not in MODES:
        raise ActionError(f"the mode must be {', '.join(MODES[:-1])} or {MODES[-1]}.")
    if not users.may(user.role, "supervisor"):
        raise ActionError("only a supervisor or an administrator can listen in.")
    if not user.phone:
        raise ActionError(
            f"{user.name} has no phone to ring: set one with `grenswacht users phone {user.name} PJSIP/...`."
        )
    if ami is None:
        raise ActionError("listening in needs AMI: set [ami] and GRENSWACHT_AMI_SECRET for the console.")
    return ami


async def bridge_peer(ami: Ami, channel: str) -> str:
    """The channel bridged with ``channel`` (Asterisk's BRIDGEPEER), "" when there is none."""
    msg = await ami.action({"Action": "Getvar", "Channel": channel, "Variable": "BRIDGEPEER"})
    return agent_leg.safe_channel(str(msg.get("Value") or "")) if msg.get("Response") == "Success" else ""


@dataclass(frozen=True)
class Spied:
    """A call to listen in on, all from Grenswacht's own records (never from the browser)."""

    call: str
    agent: str
    queue: str
    agent_channel: str
    caller_channel: str  # "" when not known: asked of Asterisk for a take-over
    gone: Callable[[], Awaitable[object]]  # forgets the record of a call that has ended


async def ring(store: Store, ami: Ami, user: User, spied: Spied, mode: str, actor: str, now: float) -> None:
    """The one path of every listen-in: check the call still exists, ring ``user``'s phone into
    ``[grenswacht-listen]``, audit it with the user."""
    try:
        peer = spied.caller_channel
        if not await channel_alive(ami, spied.agent_channel):
            await spied.gone()
            raise ActionError(ENDED)
        if mode == "takeover" and not peer and not (peer := await bridge_peer(ami, spied.agent_channel)):
            raise ActionError(ENDED)
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
                "Variable": f"GW_SPY={spied.agent_channel},GW_SPY_PEER={peer}",
            }
        )
    except AmiError as exc:
        raise ActionError(f"the PBX did not take the call ({str(exc)[:120]}).") from None
    await store.streams.audit(actor, mode, now, call=spied.call, agent=spied.agent, queue=spied.queue, phone=user.phone)


async def listen(
    store: Store, ami: Ami | None, user: User, call: str, mode: str, actor: str, now: float
) -> HelpRequest:
    """Ring ``user``'s phone; answered, it listens to (whispers to, takes over) the help request's
    call. The channel comes from the stored request only. Audited with the user; ActionError with
    one sentence when it cannot be done."""
    pbx = _ready(ami, user, mode)
    req = await store.help.get(call[:64], now)
    if req is None:
        raise ActionError(ENDED)
    gone = partial(store.help.remove, req.call)
    await ring(
        store,
        pbx,
        user,
        Spied(req.call, req.agent, req.queue, req.agent_channel, req.caller_channel, gone),
        mode,
        actor,
        now,
    )
    return req


# ---- any live call of a queue (issue 29): the same path, the call from store.live ------------------
async def live_calls(store: Store, now: float) -> dict[str, list[LiveCall]]:
    """The calls agents are on now, by queue (queues in name order, "" for calls outside a queue last)."""
    by_queue: dict[str, list[LiveCall]] = {}
    for call in await store.live.talking(now):
        by_queue.setdefault(call.queue, []).append(call)
    return dict(sorted(by_queue.items(), key=lambda kv: (kv[0] == "", kv[0])))


async def listen_live(
    store: Store, ami: Ami | None, user: User, agent: str, call: str, mode: str, actor: str, now: float
) -> LiveCall:
    """As :func:`listen`, on the call ``call`` that agent interface ``agent`` is on now (both only
    look the call up in Grenswacht's record; the channel is the record's)."""
    pbx = _ready(ami, user, mode)
    live = await store.live.talking_on(agent, call[:64])
    if live is None or not live.channel:
        raise ActionError(ENDED)
    gone = partial(store.live.stop_talking, live.agent, live.linkedid)
    await ring(store, pbx, user, Spied(live.linkedid, live.agent, live.queue, live.channel, "", gone), mode, actor, now)
    return live
