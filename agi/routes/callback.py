"""Route ``callback``: the agent ended the call with a callback appointment (default ``*7``).

Called from ``grenswacht-agent-key`` (dialplan) in steps, each a short AGI request, with the
dialplan's bounded ``Read()`` between them, so no request waits on the agent's keys:

- ``book``: on the agent's channel, bridged. The caller goes to ``grenswacht-callback-closing``
  (a calm callback prompt, then hang-up); the press is logged (category ``callback``) and an
  appointment is stored with the default time (the next working day), which stays if the agent
  keys nothing. Sets GW_RESULT, GW_LOGGED, GW_CB_ID, GW_CB_TZ and GW_PROMPTS (the agent's prompts).
- ``time,ID,DIGITS``: works out the day of four keyed digits (pure, nothing stored). Sets
  GW_CB_OK (1/0), GW_CB_DUE (epoch s), GW_CB_DAY (today, tomorrow, mon..sun or a date).
- ``confirm,ID,DUE``: the agent confirmed: the appointment moves to that time. Sets GW_CB_OK.
- ``result,ID,DIALSTATUS``: from ``grenswacht-callback`` when the placed call's dial to the
  caller ended: done, a retry, or a final outcome in the logbook.
"""

from __future__ import annotations

import re
from dataclasses import replace

from agi import agent_leg
from agi import channel_vars as cv
from agi.callbacks import rules as R
from agi.callbacks.appointments import Conflict, NotFound, new_appointment, save_new, update
from agi.callbacks.model import SCHEDULED, BadAppointment
from agi.callbacks.placer import report_outcome
from agi.deps import Deps
from agi.fastagi.server import AgiSession
from agi.logs import get_logger
from agi.routes.values import prompts_dir

log = get_logger("grenswacht.route.callback")

CLOSING_CONTEXT = "grenswacht-callback-closing"
CB_ID, CB_OK, CB_DUE, CB_DAY, CB_TZ = "GW_CB_ID", "GW_CB_OK", "GW_CB_DUE", "GW_CB_DAY", "GW_CB_TZ"
_ID = re.compile(r"^[0-9a-f]{16}$")
_STATUS = re.compile(r"^[A-Z]{1,20}$")


def _id(session: AgiSession) -> str:
    value = session.arg(2)
    return value if _ID.match(value) else ""


async def handle(session: AgiSession, deps: Deps) -> None:
    step = session.arg(1)
    if step == "book":
        await book(session, deps)
    elif step == "time":
        await keyed_time(session, deps)
    elif step == "confirm":
        await confirm(session, deps)
    elif step == "result":
        await result(session, deps)
    else:
        log.warning("callback-unknown-step", step=step[:16])
        await session.set_variables({cv.RESULT: "error"})


async def book(session: AgiSession, deps: Deps) -> None:
    if not deps.config.callbacks.enabled:  # switched off: nothing booked, the caller stays on the line
        log.info("callback-key-while-off", channel=session.channel, uniqueid=session.uniqueid)
        await session.set_variables({cv.RESULT: "ignored", cv.LOGGED: "", CB_ID: ""})
        return
    leg = await agent_leg.read(session, deps.config.numbers.default_region)
    if leg.is_caller_side:
        log.warning("callback-pressed-on-caller-side-ignored", channel=session.channel, uniqueid=session.uniqueid)
        await session.set_variables({cv.RESULT: "ignored", cv.LOGGED: "", CB_ID: ""})
        return
    if leg.caller_channel:
        await session.exec("ChannelRedirect", leg.caller_channel, CLOSING_CONTEXT, "s", 1)
    incident = deps.logbook.incident(
        leg.caller, deps.config.callbacks.category, **leg.incident_fields("key", session.uniqueid)
    )
    iid, status = await deps.logbook.record(incident, pause=False)
    appointment_id = ""
    if status != "duplicate" and leg.caller != "anonymous":
        now = deps.clock()
        rules = R.Rules.from_config(deps.config.callbacks)
        appt = new_appointment(
            caller=leg.caller,
            agent=leg.agent,
            queue=leg.queue,
            due=R.default_due(rules, now),
            now=now,
            incident=iid,
            by=leg.agent,
        )
        await save_new(deps.store, appt)
        log.info("callback-booked", id=appt.id, agent=appt.agent, due=int(appt.due), incident=iid)
        appointment_id = appt.id
    elif leg.caller == "anonymous":
        # Logged, but nobody to call back: the agent hears the not-logged tone, not the beep.
        log.warning("callback-anonymous-caller", agent=leg.agent, hint="a withheld number cannot be called back")
        status = "no-caller"
    await session.set_variables(
        {
            cv.RESULT: status,
            cv.LOGGED: iid,
            CB_ID: appointment_id,
            CB_TZ: deps.config.callbacks.timezone,
            cv.PROMPTS: prompts_dir(deps.config),
        }
    )


async def keyed_time(session: AgiSession, deps: Deps) -> None:
    rules = R.Rules.from_config(deps.config.callbacks)
    now = deps.clock()
    try:
        due = R.due_for_keyed(rules, now, session.arg(3))
    except R.BadTime as exc:
        log.info("callback-time-refused", problem=str(exc))
        await session.set_variables({CB_OK: "0", CB_DUE: "", CB_DAY: ""})
        return
    await session.set_variables({CB_OK: "1", CB_DUE: str(int(due)), CB_DAY: R.spoken_day(rules, now, due)})


async def confirm(session: AgiSession, deps: Deps) -> None:
    appointment_id, raw_due = _id(session), session.arg(3)
    rules = R.Rules.from_config(deps.config.callbacks)
    now = deps.clock()
    if not appointment_id or not raw_due.isdigit() or not R.is_open(rules, float(raw_due)) or float(raw_due) <= now:
        log.warning("callback-confirm-refused", id=appointment_id, due=raw_due[:16])
        await session.set_variables({CB_OK: "0"})
        return
    due = float(raw_due)
    try:
        appt = await update(
            deps.store, appointment_id, lambda a: replace(a, due=due, updated=now) if a.status == SCHEDULED else None
        )
    except (NotFound, Conflict, BadAppointment) as exc:
        log.warning("callback-confirm-failed", id=appointment_id, problem=str(exc)[:120])
        await session.set_variables({CB_OK: "0"})
        return
    ok = appt.due == due
    log.info("callback-time-agreed", id=appointment_id, due=int(due), ok=ok)
    await session.set_variables({CB_OK: "1" if ok else "0"})


async def result(session: AgiSession, deps: Deps) -> None:
    appointment_id, status = _id(session), session.arg(3) or "NOANSWER"
    if not appointment_id or not _STATUS.match(status):
        log.warning("callback-result-refused", id=appointment_id, status=status[:20])
        return
    try:
        await report_outcome(deps, appointment_id, status)
    except (NotFound, Conflict, BadAppointment) as exc:
        log.warning("callback-result-failed", id=appointment_id, problem=str(exc)[:120])


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.RESULT: "error", CB_OK: "0"})
    log.warning("callback-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
