"""The logbook's write path: one incident, logged once, never lost, with after-care that finishes.

``Logbook.record`` is what the endlog and handover routes call. It journals the incident
(fsynced) first, then stores it in Redis within a budget; the agent is told ``logged`` (in
Redis), ``journaled`` (on local disk, Redis away: stored later), ``duplicate`` (the same press
again) or ``error`` (neither disk nor Redis took it). ``Logbook.run`` is a background job: it
stores what Redis could not take, runs each after-care step (logbook event, UserEvent,
cool-down, webhook) until it succeeds — after an outage of Redis or AMI too — and stores
everything again when Redis restarted without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Unpack

from redis.exceptions import DataError, RedisError, ResponseError

from agi.aftercare import cooldown, notify
from agi.aftercare.journal import AFTERCARE_STEPS, SOON_STEPS, STORE, Entry, Journal
from agi.ami.client import AmiClient, AmiError
from agi.config import Config
from agi.config_holder import ConfigHolder
from agi.engine import CallFields, Incident
from agi.logs import get_logger
from agi.numbers import mask
from redis_schema.connection import Durability
from redis_schema.store import Store

log = get_logger("grenswacht.incidents")

# A key press waits at most this for Redis, all its steps together, and a quarter more while its
# call's recording is marked as the incident's evidence.
STORE_BUDGET_SECONDS = 1.0
JOURNAL_BUDGET_SECONDS = 1.0  # ... and this for the local disk
CONFIRM_MS = 200  # WAITAOF budget
GIVE_UP_SECONDS = 24 * 3600  # a UserEvent not delivered in a day is dropped (logged)
POISON_ATTEMPTS = 5  # a step failing this often for a reason that is not an outage
RESTART_CHECK_SECONDS = 5.0
DURABILITY_CHECK_SECONDS = 60.0
ERASURE_CLOCK_SLACK = 600.0  # erasures are stamped by the clock of whoever ran them

# Redis or AMI away, busy, out of disk (MISCONF), memory or permissions: wait for them and
# never give up on the incident. Only what no retry can mend is poison: a value Redis will
# never take (WRONGTYPE, a script error, bad data), or a bug in Grenswacht.
OUTAGE = (RedisError, OSError, TimeoutError, AmiError, notify.WebhookError)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, DataError):
        return False
    if isinstance(exc, ResponseError):
        text = str(exc)
        return not (text.startswith("WRONGTYPE") or "Error running script" in text or "user_script" in text)
    return isinstance(exc, OUTAGE)


class Logbook:
    def __init__(
        self,
        settings: ConfigHolder,
        store: Store,
        journal: Journal,
        ami: AmiClient | None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings, self.store, self.journal, self.ami, self.clock = settings, store, journal, ami, clock
        self.durability = Durability(False, "unknown", "not checked yet")
        self._kick = asyncio.Event()
        self._busy: set[str] = set()  # entries a route is storing right now
        self._run_id = ""
        self._next_restart_check = 0.0
        self._next_durability_check = 0.0
        self._failing: set[tuple[str, str]] = set()  # (id, step) already reported failing
        self._store_outage = False
        self._erasures: dict[str, float] = {}  # erasures already taken out of the journal

    @property
    def config(self) -> Config:
        """The running configuration (swapped on reload, agi.config_holder)."""
        return self.settings.current

    def _mask(self, number: str) -> str:
        return mask(number, self.config.numbers.mask_in_logs)

    # ---- the call path ---------------------------------------------------------------------
    def incident(self, caller: str, category: str, **fields: Unpack[CallFields]) -> Incident:
        """A new incident now, with the default protocol's weight for its category."""
        weights = self.config.protocol_for(None)[1].weights
        return Incident.new(caller, category, self.clock(), severity=weights.get(category, 1), **fields)

    async def record(self, inc: Incident, *, pause: bool) -> tuple[str, str]:
        """Log one incident from a call. Returns (incident id, logged | journaled | duplicate | error)."""
        if self.journal.same_press(inc) is not None:
            return "", "duplicate"
        # One budget for the whole press (the caller's name, the store, the recording's mark): with
        # Redis stalled the agent's answer comes within it, not after one budget per step.
        deadline = asyncio.get_running_loop().time() + STORE_BUDGET_SECONDS
        inc = await self._named(inc, deadline)
        entry = Entry.new(inc, pause, self.clock())
        journaled = await self._journal(entry)
        if not journaled:
            self.journal.entries.pop(inc.id, None)  # not on disk: only this answer decides its fate
        self._busy.add(inc.id)
        try:
            async with asyncio.timeout_at(deadline):
                status = await self._store(entry, journaled)
        except OUTAGE as exc:
            if not journaled:
                log.error("incident-lost", incident=inc.id, error=type(exc).__name__, caller=self._mask(inc.caller))
                return inc.id, "error"
            log.warning("incident-journaled", incident=inc.id, error=type(exc).__name__, caller=self._mask(inc.caller))
            status = "journaled"
        finally:
            self._busy.discard(inc.id)
            self._kick.set()
        if status in ("logged", "journaled") and inc.linkedid and inc.agent:
            await self._keep_recording(inc, deadline)
        if status == "logged":
            log.info(
                "incident-logged",
                incident=inc.id,
                category=inc.category,
                source=inc.source,
                agent=inc.agent,
                caller=self._mask(inc.caller),
                linkedid=inc.linkedid,
            )
        return inc.id if status != "duplicate" else "", status

    async def _named(self, inc: Incident, deadline: float) -> Incident:
        """The incident with the caller ID name of its call and how it was screened on arrival
        (``store.live``, from the answered route); as it is when there is none or Redis does not
        answer in time."""
        if (inc.caller_name and inc.screened) or not inc.agent or not inc.linkedid:
            return inc
        try:
            async with asyncio.timeout_at(min(deadline, asyncio.get_running_loop().time() + STORE_BUDGET_SECONDS / 4)):
                call = await self.store.live.current(inc.agent)
        except OUTAGE as exc:
            log.warning("caller-name-not-read", incident=inc.id, error=type(exc).__name__)
            return inc
        if call is None or call.linkedid != inc.linkedid:
            return inc
        return replace(inc, caller_name=inc.caller_name or call.name, screened=inc.screened or call.screened)

    async def _keep_recording(self, inc: Incident, deadline: float) -> None:
        """The call is logged: its live call (and recording, if any) belongs to this incident now
        (within what is left of the press's budget, ``deadline`` in loop time, but never less than
        a quarter of it: the evidence is worth that wait)."""
        try:
            async with asyncio.timeout_at(max(deadline, asyncio.get_running_loop().time() + STORE_BUDGET_SECONDS / 4)):
                await self.store.live.mark_logged(inc.agent, inc.linkedid, inc.id)
        except OUTAGE as exc:
            log.warning("recording-not-marked", incident=inc.id, error=type(exc).__name__)

    async def _journal(self, entry: Entry) -> bool:
        try:
            async with asyncio.timeout(JOURNAL_BUDGET_SECONDS):
                await self.journal.add(entry)
            return True
        except (OSError, TimeoutError) as exc:
            log.error(
                "journal-write-failed",
                incident=entry.incident.id,
                error=type(exc).__name__,
                path=str(self.journal.path),
            )
            return False

    async def _store(self, entry: Entry, journaled: bool) -> str:
        """The store step: 'logged', or 'duplicate' when this press was already stored under another id."""
        got, _, confirmed = await self.store.incidents.add_incident_on_disk(
            entry.incident, self.durability.mode, CONFIRM_MS
        )
        if got != entry.incident.id:
            if journaled:
                await self.journal.note({"op": "drop", "id": entry.incident.id})
            return "duplicate"
        if journaled:
            await self.journal.note({"op": "done", "id": entry.incident.id, "step": STORE})
            if confirmed:
                await self.journal.note({"op": "confirmed", "id": entry.incident.id})
        return "logged"

    # ---- the background job ----------------------------------------------------------------
    async def run(self) -> None:
        """Finish every journal entry; runs under the service's job supervisor."""
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), 1.0)
            except TimeoutError:
                pass
            self._kick.clear()
            await self.work_once((STORE, *SOON_STEPS))

    async def run_webhooks(self) -> None:
        """Webhooks apart (their own job): a slow receiver never delays a pause or a store."""
        while True:
            await self.work_once(steps=("webhook",))
            await asyncio.sleep(1.0)

    async def work_once(self, steps: tuple[str, ...] = (STORE, *AFTERCARE_STEPS)) -> None:
        now = self.clock()
        if STORE in steps:
            await self._watch_redis(now)
            await self._watch_erasures()
        keep = self.config.storage.unconfirmed_keep_hours * 3600
        redis_away = False  # one outage per pass, not one timeout per entry
        for entry in list(self.journal.entries.values()):
            iid = entry.incident.id
            if iid in self._busy or iid not in self.journal.entries:
                continue
            if STORE in entry.steps:
                if STORE not in steps or redis_away:
                    continue  # after-care waits for the store
                self._store_outage = False
                if not await self._step(entry, STORE, now):
                    redis_away = self._store_outage
                    continue
            for step in steps:
                if step != STORE and step in entry.steps and iid in self.journal.entries:
                    await self._step(entry, step, now)
            if iid in self.journal.entries and entry.settled(now, keep):
                await self.journal.note({"op": "drop", "id": iid})
        await self.journal.compact()

    async def _step(self, entry: Entry, step: str, now: float) -> bool:
        """Try one step if its backoff allows; True when it is done."""
        iid = entry.incident.id
        if entry.next_try.get(step, 0.0) > now:
            return False
        try:
            done = await self._do(entry, step, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(entry, step, now, exc)
        if not done:
            return False
        if (iid, step) in self._failing:
            self._failing.discard((iid, step))
            log.info("aftercare-step-recovered", incident=iid, step=step)
        if iid in self.journal.entries and step in entry.steps:
            await self.journal.note({"op": "done", "id": iid, "step": step})
        return True

    async def _failed(self, entry: Entry, step: str, now: float, exc: Exception) -> bool:
        iid = entry.incident.id
        n = entry.attempts[step] = entry.attempts.get(step, 0) + 1
        # Retrying Redis or AMI is cheap, and the agent's cool-down waits on it: stay close.
        entry.next_try[step] = now + (min(2.0**n, 300.0) if step == "webhook" else min(0.25 * 2**n, 2.0))
        outage = is_outage(exc)
        self._store_outage = outage and step == STORE
        if (iid, step) not in self._failing:
            self._failing.add((iid, step))
            log.warning(
                "aftercare-step-failed",
                incident=iid,
                step=step,
                error=type(exc).__name__,
                detail=str(exc)[:160],
                exc_info=not outage,
            )
        if step == "webhook" and n >= self.config.aftercare.webhook_attempts:
            log.error("webhook-given-up", incident=iid, attempts=n)
            await self.journal.note({"op": "done", "id": iid, "step": step})
        elif not outage and n >= POISON_ATTEMPTS:
            if step == STORE:
                await self.journal.set_aside(entry, f"{type(exc).__name__}: {str(exc)[:200]}")
            else:
                log.error("aftercare-step-given-up", incident=iid, step=step, error=type(exc).__name__)
                await self.journal.note({"op": "done", "id": iid, "step": step})
        else:
            return False
        self._failing.discard((iid, step))  # over: nothing more to report for it
        return False

    async def _do(self, entry: Entry, step: str, now: float) -> bool:
        inc = entry.incident
        if step == STORE:
            async with asyncio.timeout(STORE_BUDGET_SECONDS * 2):
                erased = await self.store.erasure.forgotten_since(inc.caller)
                if erased is not None and erased >= inc.at:
                    log.info("incident-dropped-caller-erased", incident=inc.id)
                    await self.journal.note({"op": "drop", "id": inc.id})
                    return False
                status = await self._store(entry, journaled=True)
            if status == "logged" and entry.added < now - 2 * STORE_BUDGET_SECONDS:
                log.info("incident-stored-from-journal", incident=inc.id, caller=self._mask(inc.caller))
            return status == "logged" and inc.id in self.journal.entries and STORE not in entry.steps
        if step == "event":
            await self.store.streams.publish_event(notify.payload(inc))
            return True
        if step == "webhook":
            url = self.config.aftercare.webhook_url
            if url:
                await asyncio.to_thread(notify.post_webhook, url, inc)
            return True
        # userevent and cooldown need AMI; without it configured there is nothing to do.
        if self.ami is None:
            return True
        if not self.ami.connected:
            if step == "userevent" and now - entry.added > GIVE_UP_SECONDS:
                log.error("user-event-given-up", incident=inc.id, hours=GIVE_UP_SECONDS // 3600)
                return True
            return False
        if step == "userevent":
            await self.ami.user_event(notify.USER_EVENT, notify.event_fields(inc))
        else:  # cooldown, or recool: restoring one Redis lost
            await cooldown.start(
                self.store,
                self.ami,
                inc.agent,
                inc.at,
                now,
                self.config.aftercare.cooldown_seconds,
                only_if_missing=step == "recool",
            )
        return True

    async def _watch_erasures(self) -> None:
        """Take an erased caller out of the journal's files within a pass (a second) of the erasure,
        wherever it ran (CLI, console, another host): ``gw:forgotten`` is how it is told."""
        since = max(self._erasures.values(), default=0.0) - ERASURE_CLOCK_SLACK
        try:
            found = await self.store.erasure.erasures_since(since)
        except OUTAGE:
            return
        new = {member: at for member, at in found.items() if self._erasures.get(member) != at}
        if not new:
            return
        dropped = await self.journal.erase(new)
        self._erasures = found  # older ones are behind the slack: never read again
        log.info("journal-erased", callers=len(new), entries=dropped)

    async def _watch_redis(self, now: float) -> None:
        """Notice a Redis restart (new run_id) and persistence changes; never raises for an outage."""
        if now < self._next_restart_check:
            return
        self._next_restart_check = now + RESTART_CHECK_SECONDS
        try:
            run_id = await self.store.server.run_id()
            if run_id != self._run_id or now >= self._next_durability_check:
                await self.check_durability()
                self._next_durability_check = now + DURABILITY_CHECK_SECONDS
        except (RedisError, *OUTAGE):
            return
        if run_id != self._run_id:
            # A Redis restart, or our first contact since we started (Redis may have restarted
            # meanwhile, as on a host reboot): write again what may be lost, and restore the
            # cool-downs still running. Both are idempotent.
            redo = [e for e in self.journal.entries.values() if not e.confirmed and STORE not in e.steps]
            cooling = [
                e
                for e in self.journal.entries.values()
                if e.pause and e.incident.at + self.config.aftercare.cooldown_seconds > now
            ]
            if redo or cooling:
                log.warning(
                    "redis-restarted" if self._run_id else "redis-first-contact",
                    storing_again=len(redo),
                    cooldowns_checked=len(cooling),
                    durable=self.durability.durable,
                )
            for entry in redo:
                await self.journal.note({"op": "redo", "id": entry.incident.id, "step": STORE})
                entry.next_try.pop(STORE, None)
            for entry in cooling:
                await self.journal.note({"op": "redo", "id": entry.incident.id, "step": "recool"})
        self._run_id = run_id

    async def check_durability(self) -> Durability:
        """Ask Redis what an acknowledged incident is worth; say it loudly when it is not on disk."""
        found = await self.store.server.durability()
        if found != self.durability:
            if found.durable:
                log.info("redis-durable", mode=found.mode)
            else:
                log.error(
                    "redis-not-durable",
                    mode=found.mode,
                    detail=found.detail,
                    journal_keeps_hours=self.config.storage.unconfirmed_keep_hours,
                )
        self.durability = found
        return found
