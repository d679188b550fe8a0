"""The background job that places due callback appointments, once, agent first.

Each round reads every appointment and decides per appointment with ``rules.decide`` (pure).
A due one is claimed by compare-and-set (status ``calling``, a token, a lease), so only one
instance places it, across restarts too. Then AMI ``Originate`` rings the agent who made it
(the dialplan context ``grenswacht-callback`` whispers the appointment to them and dials the
caller through the configured outbound context, with the organisation's caller ID); the
dialplan reports the caller's DIALSTATUS back through the ``callback`` route (``result``).
An agent who does not answer means the configured fallback, then a retry after the interval.
A callback that took place goes into the event stream and the audit trail; any other final
outcome is an incident (category ``callback``, source ``callback``), whose after-care notifies
the supervisor (event stream, UserEvent, webhook) — see ``log_final``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from redis.exceptions import RedisError

from agi.ami.client import AmiClient, AmiError, check_action
from agi.callbacks import rules as R
from agi.callbacks.appointments import Conflict, NotFound, load_all, update
from agi.callbacks.model import CALLING, CANCELLED, DONE, FAILED, Appointment, BadAppointment
from agi.config import Config
from agi.config_holder import ConfigHolder
from agi.incidents import Logbook
from agi.logs import get_logger
from agi.numbers import mask
from agi.supervisor import Outage
from redis_schema.store import Store

log = get_logger("grenswacht.callbacks.placer")

CHECK_SECONDS = 1.0
CALL_CONTEXT = "grenswacht-callback"
SOURCE = "callback"
AGENT_NO_ANSWER = "agent-no-answer"


def originate_fields(config: Config, appt: Appointment, channel: str) -> dict[str, str]:
    """The AMI Originate action for one attempt (pure)."""
    cb = config.callbacks
    cid = cb.caller_id or "anonymous"
    # Set on the agent's channel. The GW_CB_* ones with "__" (inherited without end): the
    # Dial(Local/<number>@<outbound_context>) of [grenswacht-callback] makes new channels, and the
    # administrator's outbound context reads them there (Dial(...,${GW_CB_RING}), dialplan/README.md).
    variables = {
        "__GW_CB_ID": appt.id,
        "__GW_CB_NUMBER": appt.caller,
        "__GW_CB_OUT": cb.outbound_context,
        "__GW_CB_CID": cb.caller_id,
        "__GW_CB_RING": str(cb.caller_ring_seconds),
        "__GW_CB_AGREED": str(int(appt.agreed or appt.created)),
        "__GW_CB_TZ": cb.timezone,
        "GW_PROMPTS": f"{config.prompts.path}/{config.prompts.language}",
    }
    return {
        "Action": "Originate",
        "Channel": channel,
        "Context": CALL_CONTEXT,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(cb.agent_ring_seconds * 1000),
        "CallerID": f"Callback <{cid}>",
        "Async": "false",
        "Variable": ",".join(f"{k}={v}" for k, v in variables.items()),
    }


async def originate(ami: AmiClient, fields: dict[str, str], ring_seconds: int) -> bool:
    """Ring one channel; True once it answered (the dialplan has it then). Bounded by the ring time."""
    checked = check_action(fields)
    if ami.manager is None or not ami.connected:
        raise AmiError("not connected to AMI")
    try:
        async with asyncio.timeout(ring_seconds + 10):
            resp = await ami.manager.send_action(checked)
    except TimeoutError as exc:
        raise AmiError("AMI Originate timed out") from exc
    if isinstance(resp, list):
        resp = resp[0] if resp else {}
    return dict(resp).get("Response") == "Success"


# An appointment that a forget or a purge erased, or that kept changing, while it was handled.
GONE = (NotFound, Conflict, BadAppointment)


def _log_gone(appointment_id: str, exc: Exception) -> None:
    log.info("callback-changed-meanwhile", id=appointment_id[:32], problem=str(exc)[:120])


class Placer:
    def __init__(
        self,
        settings: ConfigHolder,
        store: Store,
        ami: AmiClient,
        logbook: Logbook,
        clock: Callable[[], float],
        token: str | None = None,
    ):
        self.settings, self.store, self.ami, self.logbook, self.clock = settings, store, ami, logbook, clock
        self._rules = (settings.current.callbacks, R.Rules.from_config(settings.current.callbacks))
        self.token = token or secrets.token_hex(6)
        self._calls: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> Config:
        """The running configuration (swapped on reload, agi.config_holder)."""
        return self.settings.current

    @property
    def rules(self) -> R.Rules:
        """The callback rules of the running [callbacks] section, made again when a reload changed it."""
        section = self.settings.current.callbacks
        if self._rules[0] is not section:
            self._rules = (section, R.Rules.from_config(section))
        return self._rules[1]

    def _mask(self, number: str) -> str:
        return mask(number, self.config.numbers.mask_in_logs)

    async def run(self) -> None:
        """Under the service's supervisor: one round a second, waiting while AMI or Redis is away."""
        outage = Outage(log, "callback-placer")
        try:
            while True:
                # [callbacks] enabled is read each round: a reload switches placing on or off.
                if self.ami.connected and self.config.callbacks.enabled:
                    try:
                        await self.round()
                        outage.ok()
                    except (AmiError, RedisError, OSError, TimeoutError) as exc:
                        outage.failed(exc)
                await asyncio.sleep(CHECK_SECONDS)
        finally:
            for task in list(self._calls):
                task.cancel()

    async def round(self) -> list[str]:
        """One pass; returns the ids claimed for placing (their calls run as tasks).

        An appointment erased or changed meanwhile (a forget, a purge, an operator) ends only its
        own handling, logged once: the others in this round, and the calls in flight, go on.
        """
        now = self.clock()
        started = []
        for appt in await load_all(self.store):
            try:
                claimed = await self._handle(appt, now)
            except GONE as exc:
                _log_gone(appt.id, exc)
                continue
            if claimed is not None:
                started.append(claimed.id)
                task = asyncio.get_running_loop().create_task(self._place(claimed))
                self._calls.add(task)
                task.add_done_callback(self._call_done)
        return started

    async def _handle(self, appt: Appointment, now: float) -> Appointment | None:
        """What is due for one appointment; returns it when claimed for placing."""
        what = R.decide(self.rules, appt, now)
        if what == R.MISS:
            await self._finish(appt, lambda a: R.missed(a, now) if R.decide(self.rules, a, now) == R.MISS else None)
        elif what == R.EXPIRED:
            await self._finish(
                appt,
                lambda a: (
                    replace(a, status=FAILED, outcome="interrupted", claim="", lease=0.0, updated=now)
                    if R.decide(self.rules, a, now) == R.EXPIRED
                    else None
                ),
            )
        elif what == R.PLACE:
            return await self._claim(appt, now)
        return None

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("callback-placing-failed", error=type(exc).__name__, detail=str(exc)[:200])

    async def wait_calls(self) -> None:
        if self._calls:
            await asyncio.gather(*list(self._calls), return_exceptions=True)

    async def _claim(self, appt: Appointment, now: float) -> Appointment | None:
        record = await self.store.screening.load_caller(appt.caller)
        if record.ban is not None and record.ban.until > now:
            await self._finish(
                appt,
                lambda a: (
                    replace(a, status=CANCELLED, outcome="banned", claim="", lease=0.0, updated=now)
                    if a.status == "scheduled"
                    else None
                ),
            )
            return None
        mine = R.claimed(self.rules, appt, now, self.token)
        if not await self.store.callbacks.swap(appt.id, appt, mine):
            return None  # another instance (or an operator) changed it first
        log.info("callback-claimed", id=appt.id, attempt=appt.attempts + 1, agent=appt.agent)
        return mine

    async def _place(self, appt: Appointment) -> None:
        cb = self.config.callbacks
        targets = [t for t in (appt.agent, cb.fallback) if t]
        for channel in targets:
            try:
                if await originate(self.ami, originate_fields(self.config, appt, channel), cb.agent_ring_seconds):
                    log.info("callback-agent-answered", id=appt.id, channel=channel)
                    return  # the dialplan reports the caller's outcome (route callback, result)
            except AmiError as exc:
                log.warning("callback-originate-failed", id=appt.id, channel=channel, error=str(exc)[:120])
            log.info("callback-agent-no-answer", id=appt.id, channel=channel)
        try:
            await report_outcome(self, appt.id, AGENT_NO_ANSWER, self.token)
        except GONE as exc:
            _log_gone(appt.id, exc)

    async def _finish(self, appt: Appointment, change: Callable[[Appointment], Appointment | None]) -> None:
        new = await update(self.store, appt.id, change)
        if new.status == appt.status:
            return
        await log_final(self, new)


class CallbackContext(Protocol):
    """What reporting an outcome needs: the placer, or the routes' ``agi.deps.Deps``."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def logbook(self) -> Logbook: ...

    @property
    def clock(self) -> Callable[[], float]: ...


async def report_outcome(
    ctx: CallbackContext, appointment_id: str, outcome: str, token: str | None = None
) -> Appointment | None:
    """An attempt ended with ``outcome``: retry, or a final state logged. ``ctx`` has config, store, logbook, clock.

    Only an appointment being placed (status calling) changes; ``token``, when given, must hold the claim.
    """
    rules = R.Rules.from_config(ctx.config.callbacks)
    now = ctx.clock()

    applied: list[Appointment] = []

    def change(a: Appointment) -> Appointment | None:
        applied.clear()
        if a.status != CALLING or (token is not None and a.claim != token):
            return None
        applied.append(R.after_attempt(rules, a, outcome, now))
        return applied[0]

    new = await update(ctx.store, appointment_id, change)
    if not applied or new != applied[0]:
        log.info("callback-outcome-ignored", id=appointment_id, outcome=outcome, status=new.status)
        return None
    log.info("callback-attempt-ended", id=new.id, outcome=outcome, status=new.status, attempts=new.attempts)
    if new.status != "scheduled":
        await log_final(ctx, new)
    return new


async def log_final(ctx: CallbackContext, appt: Appointment) -> None:
    """The final outcome: a callback that took place goes into the event stream and the audit
    trail; any other (no answer, failed, missed, banned) is an incident in the logbook, whose
    after-care notifies the supervisor (event stream, UserEvent, webhook) and lists it for follow-up.
    """
    if appt.status == DONE:
        now = ctx.clock()
        await ctx.store.streams.publish_event(
            {
                "type": "callback",
                "id": appt.id,
                "caller": appt.caller,
                "agent": appt.agent,
                "queue": appt.queue,
                "status": appt.status,
                "attempts": appt.attempts,
                "at": now,
            }
        )
        await ctx.store.streams.audit(
            "grenswacht", "callback-done", now, appointment=appt.id, caller=appt.caller, agent=appt.agent
        )
        log.info("callback-final", id=appt.id, status=appt.status, attempts=appt.attempts)
        return
    lb: Logbook = ctx.logbook
    inc = lb.incident(
        appt.caller,
        ctx.config.callbacks.category,
        source=SOURCE,
        agent=appt.agent,
        actor="grenswacht",
        queue=appt.queue,
        linkedid=f"cb-{appt.id}-{appt.status}",
        note=f"callback {appt.status} ({appt.outcome}) after {appt.attempts} attempt(s); id {appt.id}",
    )
    iid, status = await lb.record(inc, pause=False)
    log.error(
        "callback-final",
        id=appt.id,
        status=appt.status,
        outcome=appt.outcome,
        incident=iid,
        logged=status,
        caller=mask(appt.caller, ctx.config.numbers.mask_in_logs),
    )
