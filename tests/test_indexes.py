"""Issue 30: the logbook's filter indexes, the statistics' counts and the warnings worklist are
exact: each is compared with a brute-force count over every incident of random data, also after
debriefs, an erasure, the purge and a rebuild (a real redis-server)."""

from __future__ import annotations

import random
import re
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agi.actions import audit, lists, logbook, users
from agi.engine import DAY, Incident
from console.app import create_app
from redis_schema import keys
from redis_schema.logbook_index import read_after
from tests.conftest import make_config
from tests.console.conftest import Client

CATEGORIES = ("abuse", "intimidation", "threat", "handover")
AGENTS = ("PJSIP/Agent-1", "PJSIP/agent-12", "PJSIP/1003", "SIP/desk-7", "")
QUEUES = ("support", "sales", "")
NUMBERS = [f"+3161000{k:04d}" for k in range(25)]


async def seed(store, rnd: random.Random, now: float, n: int = 160) -> list[Incident]:
    """``n`` incidents of random callers (some withheld), agents, queues and times (with ties), some debriefed."""
    written = []
    times = [now - rnd.uniform(0, 40) * DAY for _ in range(n // 2)]
    for _ in range(n):
        caller = rnd.choice([*NUMBERS, keys.ANONYMOUS])
        inc = Incident.new(
            caller,
            rnd.choice(CATEGORIES),
            rnd.choice(times),  # many share a time: the pages must still show each once
            severity=1,
            agent=rnd.choice(AGENTS),
            queue=rnd.choice(QUEUES),
            source="cli",
            linkedid=f"{rnd.random():.12f}" if caller == keys.ANONYMOUS else "",
        )
        await store.incidents.add_incident(inc)
        written.append(inc)
    for inc in rnd.sample(written, n // 5):
        await store.incidents.set_debrief(
            inc.caller, (await store.incidents.get_incident(inc.id))[1], "talked", now, "sup"
        )
    return written


async def every_stored(store) -> list[Incident]:
    ids = [i for i, _ in await store.incidents.incident_ids()]
    return await store.incidents.incidents_by_id(ids)


def newest_first(incidents) -> list[str]:
    return [i.id for i in sorted(incidents, key=lambda i: (i.at, i.id), reverse=True)]


async def all_pages(store, f: logbook.Filters, per_page: int) -> list[str]:
    """Every page of the logbook's answer, each continuing where the last ended."""
    seen: list[str] = []
    after = None
    for _ in range(1000):
        page = await logbook.query(store, f, 1, per_page, after=after)
        assert len(page.items) <= per_page and (not page.more or len(page.items) == per_page)
        seen += [i.id for i in page.items]
        if not page.more:
            return seen
        after = logbook.position(page.after)
    raise AssertionError("the pages never ended")


FILTERS = [
    logbook.Filters(),
    logbook.Filters(agent="agent-1"),  # a part of two agents, either case
    logbook.Filters(agent="AGENT-12"),
    logbook.Filters(agent="pjsip/"),
    logbook.Filters(agent="nobody"),
    logbook.Filters(queue="sales"),
    logbook.Filters(category="threat"),
    logbook.Filters(open_only=True),
    logbook.Filters(open_only=True, category="abuse"),
    logbook.Filters(agent="desk", queue="support", category="intimidation"),
    logbook.Filters(agent="agent", open_only=True, queue="support"),
    logbook.Filters(caller=keys.ANONYMOUS),
    logbook.Filters(caller=keys.ANONYMOUS, category="threat", open_only=True),
]


@pytest.mark.parametrize("seed_", [1, 2, 3])
async def test_every_logbook_filter_is_exact_on_every_page(store, seed_):
    rnd = random.Random(seed_)
    now = time.time()
    await seed(store, rnd, now)
    stored = await every_stored(store)
    window = [(now - 20 * DAY, None), (None, now - 5 * DAY), (now - 30 * DAY, now - 10 * DAY)]
    for f in FILTERS:
        for since, until in [(None, None), *window]:
            g = logbook.Filters(f.caller, f.agent, f.queue, f.category, since, until, f.open_only)
            expected = newest_first(i for i in stored if logbook.matches(i, g))
            for per_page in (7, 50):
                assert await all_pages(store, g, per_page) == expected, (g, per_page)
            # By page number too, as the console's links without a position.
            by_number = []
            for page in range(1, len(expected) // 7 + 2):
                by_number += [i.id for i in (await logbook.query(store, g, page, 7)).items]
            assert by_number == expected, g


async def test_a_rare_agent_among_many_shows_all_its_incidents_with_pages(store, redis_server):
    now = time.time()
    common = [
        (f"+3162{k:07d}", [Incident.new(f"+3162{k:07d}", "abuse", now - k * 60, agent="PJSIP/common")], None)
        for k in range(30_000)
    ]
    rare = [Incident.new(f"+3163{k:07d}", "threat", now - k * 3 * DAY, agent="PJSIP/Rare-7") for k in range(10)]
    await store.incidents.bulk_load([*common, *((i.caller, [i], None) for i in rare)], batch=5000)
    expected = newest_first(rare)
    pages = []
    after = None
    while True:
        page = await logbook.query(store, logbook.Filters(agent="rare-7"), 1, 4, after=after)
        pages.append([i.id for i in page.items])
        if not page.more:
            break
        after = logbook.position(page.after)
    assert pages == [expected[:4], expected[4:8], expected[8:]]
    # The console shows all 10, and its "next" link of a smaller filter page leads on.
    await users.add(store, "sup1", "supervisor", "a long password 1", "test", now)
    client = Client(create_app(make_config(redis_server.url, web={"secret": "s" * 40}), store))
    await client.login("sup1", "a long password 1")
    page = await client.get("/logbook", params={"agent": "RARE-7"})
    assert page.status_code == 200
    assert list(dict.fromkeys(re.findall(r"/incidents/([0-9a-f]{16})", page.text))) == expected
    await client.http.aclose()


def brute_stats(incidents: list[Incident], now: float, days: int, tz: str) -> dict:
    """What the charts must show, counted from every incident."""
    names, since = audit.period(now, days, tz)
    zone = ZoneInfo(tz)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    per_week: dict[str, Counter[str]] = defaultdict(Counter)
    agents: Counter[str] = Counter()
    callers: dict[str, list[float]] = defaultdict(list)
    ages = dict.fromkeys(("< 1d", "1-3d", "3-7d", "> 7d"), 0)
    for inc in incidents:
        if inc.at < since:
            continue
        d = datetime.fromtimestamp(inc.at, zone).strftime("%Y-%m-%d")
        per_day[inc.category][d] += 1
        year, week, _ = date.fromisoformat(d).isocalendar()
        per_week[inc.category][f"{year}-W{week:02d}"] += 1
        if inc.agent:
            agents[inc.agent] += 1
        callers[inc.caller].append(inc.at)
        if inc.debrief_at is None and inc.category not in ("handover", "callback"):
            age = (now - inc.at) / DAY
            ages["< 1d" if age < 1 else "1-3d" if age < 3 else "3-7d" if age < 7 else "> 7d"] += 1
    ranked = sorted(((c, len(t), min(t)) for c, t in callers.items() if len(t) > 1), key=lambda r: r[1:] + (r[0],))
    return {
        "per_day": {c: {d: v.get(d, 0) for d in names} for c, v in per_day.items()},
        "per_week": {c: dict(sorted(v.items())) for c, v in per_week.items()},
        "agents": sorted(agents.items(), key=lambda p: (-p[1], p[0]))[:15],
        "repeat": [(c, n) for c, n, _ in reversed(ranked)][:10],
        "ages": ages,
    }


def shown(s: audit.Stats) -> dict:
    return {
        "per_day": s.per_day,
        "per_week": s.per_week,
        "agents": s.per_agent,
        "repeat": s.repeat_callers,
        "ages": s.open_by_age,
    }


async def assert_stats_exact(store, config, now: float) -> None:
    tz = config.web.timezone
    stored = await every_stored(store)
    for days in (1, 7, 30, 366):
        assert shown(await audit.stats(store, now, days, tz)) == brute_stats(stored, now, days, tz), days


@pytest.mark.parametrize("seed_", [4, 5])
async def test_the_statistics_counts_are_exact_through_debriefs_erasure_purge_and_rebuild(store, rdb, config, seed_):
    rnd = random.Random(seed_)
    now = time.time()
    written = await seed(store, rnd, now, 200)
    await assert_stats_exact(store, config, now)
    # An erasure counts the caller's incidents out and leaves their number in no rank.
    gone = written[0].caller if written[0].caller != keys.ANONYMOUS else written[1].caller
    await store.erasure.erase_caller(gone)
    await assert_stats_exact(store, config, now)
    assert gone not in [c for c, _ in (await audit.stats(store, now, 366, config.web.timezone)).repeat_callers]
    # The purge counts out what it drops (a retention of 10 days, as if now were later).
    short = type(store)(rdb, retention_days=10, zone=config.web.timezone)
    await short.erasure.purge(now)
    await assert_stats_exact(store, config, now)
    before = shown(await audit.stats(store, now, 366, config.web.timezone))
    await store.rebuild.run()
    assert shown(await audit.stats(store, now, 366, config.web.timezone)) == before


async def test_repeat_callers_follow_the_period(store, config):
    """A caller with many old incidents is behind one with fewer recent ones in a short period."""
    now = time.time()
    old, recent = NUMBERS[0], NUMBERS[1]
    for k in range(6):
        await store.incidents.add_incident(Incident.new(old, "abuse", now - (40 + k) * DAY))
    for k in range(3):
        await store.incidents.add_incident(Incident.new(recent, "abuse", now - k * 3600))
    tz = config.web.timezone
    assert (await audit.stats(store, now, 7, tz)).repeat_callers == [(recent, 3)]
    assert (await audit.stats(store, now, 60, tz)).repeat_callers == [(old, 6), (recent, 3)]


def brute_due(config, records, prefixes, now) -> list[str]:
    _, protocol = config.protocol_for(None)
    due = [
        (rec.incidents[-1].at, number)
        for number, rec in records.items()
        if lists.due_entry(number, rec, protocol, prefixes, now) is not None
        and rec.incidents[-1].at >= now - protocol.window_days * DAY
    ]
    return [n for _, n in sorted(due, reverse=True)]


async def test_the_warnings_worklist_pages_exactly_the_callers_due(store, config):
    rnd = random.Random(9)
    now = time.time()
    numbers = [f"+3164{k:07d}" for k in range(300)]
    for number in numbers:
        for _ in range(rnd.choice((1, 1, 2, 3))):
            await store.incidents.add_incident(
                Incident.new(number, rnd.choice(CATEGORIES), now - rnd.uniform(0, 200) * DAY)
            )
    for number in numbers[:20]:
        await lists.mark_warning_sent(store, number, "sup", now)
    records = await store.screening.load_callers(numbers)
    expected = brute_due(config, records, await lists.load_prefixes(store), now)
    assert len(expected) > 30
    seen: list[str] = []
    after = None
    while True:
        page = await lists.warnings_due(store, config, now, after, 13)
        seen += [w.caller for w in page.items]
        if not page.more:
            break
        after = lists.warning_position(page.after)
    assert seen == expected
    # Only the callers due are left on the list once it was read; a warning sent takes one off.
    assert await store.indexes.warnings.size() == len(expected)
    await lists.mark_warning_sent(store, expected[0], "sup", now)
    assert [w.caller for w in await lists.due_warnings(store, config, now)] == expected[1:]
    # Allowlisted, a caller is taken off when the list is read; taken off the allowlist, back on it.
    change = lists.Change(lists.Target("number", expected[1]), "known", "sup", now)
    await lists.allow(store, change)
    assert [w.caller for w in await lists.due_warnings(store, config, now)] == expected[2:]
    await lists.disallow(store, change.target, "sup", now)
    assert [w.caller for w in await lists.due_warnings(store, config, now)] == expected[1:]


async def test_an_erasure_leaves_the_number_in_no_index_or_count(store, rdb, config):
    now = time.time()
    n = NUMBERS[3]
    for k in range(4):
        await store.incidents.add_incident(
            Incident.new(n, "threat", now - k * DAY, agent="PJSIP/1003", queue="support")
        )
    await store.incidents.add_incident(Incident.new(NUMBERS[4], "abuse", now, agent="PJSIP/1003"))
    assert n in [w.caller for w in await lists.due_warnings(store, config, now)]
    ids = [i.id for i in (await store.screening.load_caller(n)).incidents]
    await store.erasure.erase_caller(n)
    async for key in rdb.scan_iter(count=1000):
        kind = await rdb.type(key)
        if kind == "zset":
            content = " ".join(str(m) for m in await rdb.zrange(key, 0, -1))
        elif kind == "hash":
            content = " ".join(f"{k} {v}" for k, v in (await rdb.hgetall(key)).items())
        else:
            continue
        assert n not in content and not any(i in content for i in ids), key
    await assert_stats_exact(store, config, now)
    assert [i.id for i in await queries_every(store)] == [
        i.id for i in (await store.screening.load_caller(NUMBERS[4])).incidents
    ]


async def queries_every(store):
    return await logbook.every(store, logbook.Filters(agent="1003"))


@pytest_asyncio.fixture
async def zset_store(rdb):
    await rdb.flushdb()
    return rdb


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from([1.0, 2.0, 2.5, 3.0]), max_size=8),
    count=st.integers(1, 4),
)
async def test_reading_after_a_position_sees_each_entry_once_in_order(zset_store, entries, count):
    await zset_store.delete("gw:test:z")
    if entries:
        await zset_store.zadd("gw:test:z", entries)
    seen: list[tuple[str, float]] = []
    after = None
    while True:
        rows = await read_after(zset_store, "gw:test:z", "-inf", "+inf", after, 0, count)
        seen += rows
        if len(rows) < count:
            break
        after = rows[-1][1], rows[-1][0]
    assert seen == sorted(entries.items(), key=lambda p: (p[1], p[0]), reverse=True)
