"""Callback appointments on a real Asterisk 22: *7 books one, the PBX places it, once.

These tests run their own Grenswacht services (with a test clock, and the [callbacks] settings
below) against the session's Asterisk and a Redis of their own; the dialplan's GRENSWACHT_AGI
points at the service under test while they run.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from agi.callbacks import appointments as A
from agi.callbacks.model import Appointment
from agi.service import Service
from agi.wiring import build, build_store
from tests.conftest import make_config
from tests.e2e.test_agent_key_e2e import wait_until
from tests.e2e.test_screening_e2e import on, played
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
CID = "+31201234567"
AGENT = "Local/1002@agents/n"
ZONE = "Europe/Amsterdam"


class Clock:
    """Real time plus an offset a test moves forward (a retry interval without a sleep)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def cb_redis():
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def cb_config(cb_redis, asterisk, tmp_path):
    def make(**callbacks):
        return make_config(
            cb_redis.url,
            agi={"listen": f"127.0.0.1:{free_port()}", "secret": asterisk.agi_secret or None},
            ami={
                "address": f"127.0.0.1:{asterisk.ami_port}",
                "username": asterisk.ami_user,
                "secret": asterisk.ami_secret,
            },
            aftercare={"cooldown_seconds": 0},
            storage={"journal_path": str(tmp_path / f"journal-{free_port()}.jsonl")},
            callbacks={
                "caller_id": CID,
                "outbound_context": "callback-out",
                "opens": "00:00",
                "closes": "23:59",
                "closed_days": [],
                "timezone": ZONE,
                "retry_minutes": 1,
                "attempts": 3,
                "agent_ring_seconds": 10,
                "caller_ring_seconds": 5,
                "grace_minutes": 5,
                "margin_minutes": 0,
                **callbacks,
            },
        )

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def services(cb_config, cb_redis, asterisk, ami):
    """Start Grenswacht services on demand; the dialplan talks to the first one."""
    started: list[Service] = []
    clock = Clock()
    rdb = Redis.from_url(cb_redis.url, decode_responses=True)
    await rdb.flushdb()
    await rdb.aclose()
    ami.reset()

    async def start(**callbacks) -> Service:
        config = cb_config(**callbacks)
        svc = Service(config, build(config, clock=clock))
        await svc.start()
        assert await svc.deps.ami.wait_connected(10)
        if not started:
            host, port = config.agi.host_port
            asterisk.rx(f"dialplan set global GRENSWACHT_AGI agi://{host}:{port}")
        started.append(svc)
        return svc

    start.clock = clock
    start.started = started
    yield start
    for svc in started:
        await svc.stop()
    asterisk.rx("channel request hangup all")
    asterisk.rx("dialplan set global GW_TEST_CB_NOANSWER 0")
    asterisk.rx(f"dialplan set global GRENSWACHT_AGI agi://127.0.0.1:{asterisk.agi_port}")


async def stored(svc, appointment_id=None) -> list[Appointment]:
    found = await A.load_all(svc.deps.store)
    return [a for a in found if appointment_id is None or a.id == appointment_id]


async def book(store, due: float) -> Appointment:
    appt = A.new_appointment(caller=N, agent=AGENT, queue="support", due=due, now=time.time(), by="test")
    return await A.save_new(store, appt)


def answered_callbacks(ami, since: int) -> list[dict]:
    return [
        e
        for e in ami.events[since:]
        if e.get("Event") == "UserEvent" and e.get("UserEvent") == "GwTestCallbackAnswered"
    ]


def offset_to(clock_time: str) -> float:
    """The clock offset that makes it ``clock_time`` (HH:MM) today in ZONE."""
    hour, minute = map(int, clock_time.split(":"))
    today = datetime.now(ZoneInfo(ZONE)).date()
    return datetime.combine(today, dtime(hour, minute), ZoneInfo(ZONE)).timestamp() - time.time()


@pytest.mark.parametrize(
    ("clock_time", "days_ahead", "day", "not_day"),
    [("08:00", 0, "today", "tomorrow"), ("11:00", 1, "tomorrow", "today")],
)
async def test_star7_closes_the_caller_and_books_the_keyed_time(services, ami, clock_time, days_ahead, day, not_day):
    """The agent keys 10:30: today when it is earlier than that, tomorrow (every day is open here)
    when it is later; the service's clock is set to say which."""
    services.clock.offset = offset_to(clock_time)
    svc = await services()
    # The confirming 1 twice: on a busy machine the first may come while the time is still read back.
    keys = "*7" + "W" * 3 + "1030" + "W" * 9 + "1" + "W" * 6 + "1"
    lid = await ami.originate("0612345678", variables={"__GW_TEST_KEYS": keys})
    # The caller heard the callback closing prompt and was hung up.
    await ami.wait_for(on(lid, "Hangup", Context="grenswacht-callback-closing"), timeout=40)
    assert "grenswacht/nl/callback-closing" in played(ami, lid)
    # The agent was asked for the time, heard it back, confirmed: the appointment is for 10:30.
    await ami.wait_for(
        lambda e: (
            e.get("Event") == "Newexten" and e.get("Application") == "AGI" and ",confirm," in e.get("AppData", "")
        ),
        timeout=40,
    )
    [appt] = await wait_until(lambda: _agreed(svc), timeout=30)
    local = datetime.fromtimestamp(appt.due, ZoneInfo(ZONE))
    today = datetime.fromtimestamp(svc.deps.clock(), ZoneInfo(ZONE)).date()
    assert (local.date(), local.hour, local.minute) == (today + timedelta(days=days_ahead), 10, 30)
    assert (appt.caller, appt.queue, appt.status) == (N, "support", "scheduled")
    assert appt.agent.startswith("Local/100") and appt.agent.endswith("@agents/n")
    # The press is an incident of its own category, weight 0.
    [inc] = (await svc.deps.store.screening.load_caller(N)).incidents
    assert (inc.category, inc.id) == ("callback", appt.incident)
    heard = played(ami, lid)  # the day read back to the agent
    assert f"grenswacht/nl/callback-{day}" in heard and f"grenswacht/nl/callback-{not_day}" not in heard


async def _agreed(svc):
    found = await stored(svc)
    return found if found and found[0].updated != found[0].created else None


async def test_placed_agent_first_with_our_caller_id_and_retried_when_not_answered(services, ami, asterisk, cb_redis):
    svc = await services()
    asterisk.rx("dialplan set global GW_TEST_CB_NOANSWER 1")
    since = len(ami.events)
    appt = await book(svc.deps.store, svc.deps.clock() + 3)
    # First attempt: the agent (1002) rings and answers first, then the caller rings out.
    agent = await ami.wait_for(
        lambda e: e.get("UserEvent") == "GwTestAgentAnswered" and e.get("Agent") == "1002", timeout=30
    )
    ringing = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCallbackRinging", timeout=30)
    assert ami.events.index(agent) < ami.events.index(ringing) and ringing["Number"] == N
    retried = await wait_until(lambda: _with(svc, appt.id, status="scheduled", attempts=1), timeout=30)
    assert retried.outcome == "NOANSWER" and retried.due >= svc.deps.clock() + 50
    assert answered_callbacks(ami, since) == []
    # The retry interval passes (the clock moves): placed again, and the caller answers.
    services.clock.offset += 61
    ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCallbackAnswered", timeout=40)
    assert (ev["Number"], ev["CallerID"]) == (N, CID)
    done = await wait_until(lambda: _with(svc, appt.id, status="done"), timeout=30)
    assert (done.attempts, done.outcome) == (2, "ANSWER")
    async with Redis.from_url(cb_redis.url, decode_responses=True) as rdb:
        events = [f for _, f in await rdb.xrange("gw:events") if f.get("type") == "callback"]
    assert [(e["id"], e["status"]) for e in events] == [(appt.id, "done")]


async def _with(svc, appointment_id, **want):
    [a] = await stored(svc, appointment_id)
    return a if all(getattr(a, k) == v for k, v in want.items()) else None


async def test_placed_once_across_a_restart_and_with_two_instances(services, ami):
    first = await services()
    since = len(ami.events)
    # Due while every instance is down: the next one to start places it (within the grace period).
    await first.stop()
    services.started.remove(first)
    store = build_store(first.config)
    try:
        appt = await book(store, services.clock() - 5)
    finally:
        await store.close()
    second, third = await services(), await services()
    done = await wait_until(lambda: _with(second, appt.id, status="done"), timeout=60)
    await asyncio.sleep(3)  # a second placing would show by now
    assert len(answered_callbacks(ami, since)) == 1
    assert done.attempts == 1 and third is not second


async def test_an_agent_who_cannot_be_reached_means_the_fallback(services, ami):
    svc = await services(fallback="Local/1001@agents/n")
    store = svc.deps.store
    appt = await A.save_new(
        store,
        A.new_appointment(
            caller=N, agent="Local/9999@nowhere", queue="support", due=svc.deps.clock() + 2, now=time.time(), by="test"
        ),
    )
    agent = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestAgentAnswered", timeout=30)
    assert agent["Agent"] == "1001"
    ev = await ami.wait_for(lambda e: e.get("UserEvent") == "GwTestCallbackAnswered", timeout=40)
    assert (ev["Number"], ev["CallerID"]) == (N, CID)
    done = await wait_until(lambda: _with(svc, appt.id, status="done"), timeout=30)
    assert done.attempts == 1
