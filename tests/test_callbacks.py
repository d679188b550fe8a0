"""Callback appointments in a real Redis: the store, claims (exactly once), outcomes, the CLI."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi.callbacks import appointments as A
from agi.callbacks import rules as R
from agi.callbacks.model import Appointment
from agi.callbacks.placer import Placer, originate_fields, report_outcome
from agi.engine import Ban
from agi.wiring import build
from tests import test_cli
from tests.conftest import make_config

N = "+31612345678"
AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=AMS).timestamp()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def deps(redis_server, store):
    clock = Clock(TUESDAY_10)
    d = build(make_config(redis_server.url, callbacks={"caller_id": "+31201234567"}), clock=clock)
    d.clock_obj = clock
    yield d
    await d.store.close()


def booked(deps, **kw) -> Appointment:
    return A.new_appointment(
        caller=kw.pop("caller", N),
        agent="PJSIP/1001",
        queue="support",
        due=kw.pop("due", TUESDAY_10 - 60),
        now=TUESDAY_10 - 3600,
        incident="i1",
        **kw,
    )


async def test_store_keeps_moves_and_cancels(deps):
    rules = R.Rules.from_config(deps.config.callbacks)
    appt = await A.save_new(deps.store, booked(deps, due=TUESDAY_10 + 3600))
    assert [a.id for a in await A.listing(deps.store, now=TUESDAY_10)] == [appt.id]
    assert await A.listing(deps.store, now=TUESDAY_10, due_only=True) == []
    assert await A.listing(deps.store, now=TUESDAY_10, agent="PJSIP/2002") == []
    moved = await A.move(deps.store, rules, appt.id, due=TUESDAY_10 + 7200, now=TUESDAY_10, by="sup1")
    assert (moved.due, moved.by) == (TUESDAY_10 + 7200, "sup1")
    with pytest.raises(R.BadTime):
        await A.move(deps.store, rules, appt.id, due=TUESDAY_10 - 1, now=TUESDAY_10)
    cancelled = await A.cancel(deps.store, appt.id, now=TUESDAY_10)
    assert cancelled.status == "cancelled"
    with pytest.raises(A.Conflict):
        await A.cancel(deps.store, appt.id, now=TUESDAY_10)
    with pytest.raises(A.NotFound):
        await A.cancel(deps.store, "ffffffffffffffff", now=TUESDAY_10)


async def test_a_malformed_entry_is_skipped(deps, rdb):
    await rdb.hset("gw:callbacks", "bad", "{nope")
    good = await A.save_new(deps.store, booked(deps))
    assert [a.id for a in await A.load_all(deps.store)] == [good.id]
    assert list((await rdb.hgetall("gw:quarantine")).values()) == ["{nope"]  # kept for an operator


async def test_two_instances_claim_a_due_appointment_once(deps):
    appt = await A.save_new(deps.store, booked(deps))
    placers = [Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token=f"p{i}") for i in range(4)]
    got = await asyncio.gather(*(p._claim(appt, TUESDAY_10) for p in placers))
    winners = [g for g in got if g is not None]
    assert len(winners) == 1
    stored = await deps.store.callbacks.get(appt.id)
    assert (stored.status, stored.claim) == ("calling", winners[0].claim)
    # A restarted instance (new token) sees it claimed: nothing to place until the lease ends.
    fresh = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="restarted")
    assert R.decide(fresh.rules, stored, TUESDAY_10 + 60) == R.WAIT
    assert await fresh._claim(appt, TUESDAY_10 + 60) is None  # the stale copy no longer matches


async def test_missed_while_down_is_marked_and_logged(deps):
    appt = await A.save_new(deps.store, booked(deps, due=TUESDAY_10 - 31 * 60))
    placer = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="t")
    assert await placer.round() == []
    stored = await deps.store.callbacks.get(appt.id)
    assert stored.status == "missed"
    [inc] = (await deps.store.screening.load_caller(N)).incidents
    assert inc.category == "callback" and "missed" in inc.note and inc.source == "callback"
    assert await placer.round() == []  # reported once
    assert len((await deps.store.screening.load_caller(N)).incidents) == 1


async def test_a_banned_caller_is_not_called_back_and_the_supervisor_is_told(deps, rdb):
    appt = await A.save_new(deps.store, booked(deps))
    await deps.store.lists.set_ban(
        N, Ban(until=TUESDAY_10 + 86400, reason="threat", source="manual", set_at=TUESDAY_10, actor="sup1")
    )
    placer = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="t")
    assert await placer.round() == []
    stored = await deps.store.callbacks.get(appt.id)
    assert (stored.status, stored.outcome) == ("cancelled", "banned")
    [inc] = (await deps.store.screening.load_caller(N)).incidents
    assert "cancelled (banned)" in inc.note
    await deps.logbook.work_once()  # the after-care: event, UserEvent, webhook
    events = await rdb.xrange("gw:events")
    assert any(f.get("category") == "callback" for _, f in events)


async def test_an_expired_claim_is_failed_and_reported(deps):
    appt = await A.save_new(deps.store, booked(deps))
    placer = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="t")
    claimed = await placer._claim(appt, TUESDAY_10)
    deps.clock_obj.now = claimed.lease + 1
    await placer.round()
    stored = await deps.store.callbacks.get(appt.id)
    assert (stored.status, stored.outcome) == ("failed", "interrupted")


async def test_outcomes_retry_then_finish(deps, rdb):
    appt = await A.save_new(deps.store, booked(deps))
    placer = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="t")
    await placer._claim(appt, TUESDAY_10)
    retried = await report_outcome(deps, appt.id, "NOANSWER")
    assert (retried.status, retried.attempts, retried.due) == ("scheduled", 1, TUESDAY_10 + 15 * 60)
    assert await report_outcome(deps, appt.id, "ANSWER") is None  # not being placed: no change
    deps.clock_obj.now = retried.due
    await placer._claim(retried, retried.due)
    done = await report_outcome(deps, appt.id, "ANSWER")
    assert (done.status, done.attempts) == ("done", 2)
    assert (await deps.store.screening.load_caller(N)).incidents == ()  # nothing for the supervisor to follow up
    [(_, event)] = await rdb.xrange("gw:events")
    assert (event["type"], event["id"], event["status"], event["attempts"]) == ("callback", appt.id, "done", "2")
    assert any(
        e["action"] == "callback-done" and e["appointment"] == appt.id for e in await deps.store.streams.audit_entries()
    )


async def test_the_last_retry_not_answered_is_reported(deps):
    appt = await A.save_new(deps.store, replace(booked(deps), attempts=2))
    placer = Placer(deps.settings, deps.store, None, deps.logbook, deps.clock, token="t")
    await placer._claim(appt, TUESDAY_10)
    final = await report_outcome(deps, appt.id, "BUSY")
    assert (final.status, final.attempts) == ("no-answer", 3)
    [inc] = (await deps.store.screening.load_caller(N)).incidents
    assert (inc.category, inc.source) == ("callback", "callback") and "no-answer (BUSY) after 3" in inc.note


def test_originate_rings_the_agent_with_the_callers_details(deps):
    appt = booked(deps)
    fields = originate_fields(deps.config, appt, "PJSIP/1001")
    assert fields["Channel"] == "PJSIP/1001" and fields["Context"] == "grenswacht-callback"
    assert fields["Timeout"] == "20000"
    variables = dict(v.split("=", 1) for v in fields["Variable"].split(","))
    assert variables["__GW_CB_NUMBER"] == N and variables["__GW_CB_CID"] == "+31201234567"
    assert variables["__GW_CB_ID"] == appt.id
    # What the outbound context reads on the Local channel the dialplan dials: inherited ("__").
    assert variables["__GW_CB_RING"] == str(deps.config.callbacks.caller_ring_seconds)


async def test_forget_and_purge_take_appointments(deps, rdb):
    mine = await A.save_new(deps.store, booked(deps))
    other = await A.save_new(deps.store, booked(deps, caller="+31687654321"))
    await deps.store.erasure.forget(N)
    assert list(await deps.store.callbacks.all()) == [other.id]
    assert N not in await rdb.hget("gw:callbacks", other.id)
    old = replace(other, status="done", updated=TUESDAY_10 - 400 * 86400)
    assert await deps.store.callbacks.swap(other.id, await deps.store.callbacks.get(other.id), old)
    await deps.store.erasure.purge(TUESDAY_10)
    assert await deps.store.callbacks.all() == {}
    assert mine.id


# ---- the CLI, as an operator runs it ------------------------------------------------------
gw = test_cli.gw  # the CLI run as a user would, default configuration (hours 08:30-17:00, Mon-Fri)


def _future_open_day() -> str:
    from datetime import date, timedelta

    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def test_cli_add_list_move_cancel(gw):
    day = _future_open_day()
    out = gw("callbacks", "add", "0612345678", "--at", f"{day}T10:30", "--agent", "PJSIP/1001").stdout
    aid = out.split()[1].rstrip(":")
    [row] = json.loads(gw("callbacks", "list", "--json").stdout)
    assert (row["id"], row["caller"], row["agent"], row["status"]) == (aid, N, "PJSIP/1001", "scheduled")
    assert row["due_local"].startswith(f"{day} 10:30")
    assert json.loads(gw("callbacks", "list", "--due", "--json").stdout) == []
    assert json.loads(gw("callbacks", "list", "--agent", "PJSIP/9", "--json").stdout) == []
    gw("callbacks", "move", aid, "--at", f"{day}T11:00:00+00:00")
    [row] = json.loads(gw("callbacks", "list", "--json").stdout)
    assert row["due"] == datetime.fromisoformat(f"{day}T11:00:00+00:00").timestamp()
    # A subject access request includes the appointment (it is personal data like an incident).
    exported = json.loads(gw("export", "--caller", "0612345678", "--format", "json").stdout)
    assert [(c["id"], c["caller"], c["status"]) for c in exported["callbacks"]] == [(aid, N, "scheduled")]
    gw("callbacks", "cancel", aid)
    assert "cancelled" in gw("callbacks", "list").stdout
    audit = json.loads(gw("audit", "--json").stdout)
    assert [e["action"] for e in audit if e.get("appointment") == aid] == [
        "callback-add",
        "callback-move",
        "callback-cancel",
    ]


@pytest.mark.parametrize(
    "args, words",
    [
        (("add", "0612345678", "--at", "2001-01-01T10:00", "--agent", "PJSIP/1001"), "in the past"),
        (("add", "0612345678", "--at", "tomorrow"), "is not a time"),
        (("add", "12", "--at", "2099-01-05T10:00"), "number"),
        (("add", "0612345678", "--at", "2099-01-05T10:00", "--agent", "bad agent"), "not an agent interface"),
        (("add", "0612345678", "--at", "2099-01-05T10:00"), "give --agent"),
        (("move", "ffffffffffffffff", "--at", "2099-01-05T10:00"), "No callback appointment"),
        (("cancel", "ffffffffffffffff"), "No callback appointment"),
    ],
)
def test_cli_bad_input_is_exit_2_and_one_sentence(gw, args, words):
    out = gw("callbacks", *args, ok=False)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ---- the dialplan's callback part (static) -------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def _steps(context: str) -> list[str]:
    text = (REPO / "dialplan" / "grenswacht-extensions.conf").read_text()
    lines, inside = [], False
    for line in text.splitlines():
        code = line.split(";", 1)[0].rstrip()
        if code.startswith("["):
            inside = code == f"[{context}]"
        elif inside and code.strip():
            lines.append(code)
    return lines


def test_the_callback_dialplan_plays_only_prompts_that_ship_and_passes_the_secret():
    import re

    steps = [
        s
        for c in (
            "grenswacht-agent-key",
            "grenswacht-callback",
            "grenswacht-callback-closing",
            "grenswacht-callback-answered",
        )
        for s in _steps(c)
    ]
    text = "\n".join(steps)
    names = set(re.findall(r"/(callback-[a-z]+)\)", text)) | {"callback-today", "callback-tomorrow"}
    names |= set(re.findall(r"\$\{GW_PROMPTS\}/(callback-[a-z]+),", text))  # Read() prompts
    assert {"callback-closing", "callback-time", "callback-confirm", "callback-whisper", "callback-default"} <= names
    for lang in ("nl", "en"):
        for name in names:
            assert (REPO / "dialplan" / "sounds" / lang / f"{name}.wav").stat().st_size > 8000, (lang, name)
    agis = re.findall(r",AGI\(([^,)]*)", text)
    assert agis and all(u.endswith("?secret=${GRENSWACHT_AGI_SECRET}") for u in agis)
    assert sum("/callback?" in u for u in agis) == 5  # book, time, confirm, answered, result
    mapping = (REPO / "dialplan" / "grenswacht-applicationmap.conf").read_text()
    assert "grenswacht-callback => *7,self/callee,Gosub(grenswacht-agent-key,callback,1)" in mapping
    assert "#grenswacht-callback)" in (REPO / "dialplan" / "grenswacht-extensions.conf").read_text()


def test_the_route_is_registered():
    from agi.routes import ROUTES, callback

    assert ROUTES["callback"] is callback
