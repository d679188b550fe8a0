"""The CLI and the console answer the same question the same way: both call one agi.actions function.

Each test asks both (the CLI through its entry point, tests/support/cli.py, the console over HTTP) about the same data.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from agi.actions import audit, users
from agi.engine import Incident
from agi.wiring import build_store
from console.app import create_app
from tests.conftest import make_config
from tests.console.conftest import PASSWORD, Client
from tests.support.cli import run_cli

N, M = "+31612345678", "+31687654321"


def zone_apart_from_utc(now: float) -> str:
    """A zone whose date at ``now`` is not the UTC date: UTC+14 from 10:00 UTC, UTC-12 before 12:00 UTC."""
    return "Pacific/Kiritimati" if datetime.fromtimestamp(now, UTC).hour >= 10 else "Etc/GMT+12"


@pytest.fixture
def zone() -> str:
    return zone_apart_from_utc(time.time())


@pytest.fixture
def gw(tmp_path, redis_server, store, zone):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[web]\ntimezone = "{zone}"\n')

    def run(*args: str) -> object:
        out = run_cli(["--config", str(cfg), *args])
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    return run


@pytest_asyncio.fixture
async def console(redis_server, store, zone):
    await users.add(store, "sup1", "supervisor", PASSWORD, "test", time.time())
    c = Client(create_app(make_config(redis_server.url, web={"secret": "s" * 40, "timezone": zone}), store))
    assert (await c.login("sup1")).status_code == 303
    yield c
    await c.http.aclose()


async def logbook_ids(console: Client, **query: str) -> list[str]:
    page = await console.get("/logbook", params=query)
    assert page.status_code == 200
    return list(dict.fromkeys(re.findall(r"/incidents/([0-9a-f]{16})", page.text)))


async def test_the_agent_filter_ignores_case_in_the_cli_as_in_the_console(gw, console, store):
    now = time.time()
    shouted, _ = await store.incidents.add_incident(Incident.new(N, "abuse", now - 120, agent="PJSIP/Agent-1001"))
    other, _ = await store.incidents.add_incident(Incident.new(M, "threat", now - 60, agent="PJSIP/agent-1002"))
    for typed in ("agent-1001", "AGENT-1001", "Agent-1001"):
        assert await logbook_ids(console, agent=typed) == [shouted]
        assert [i["id"] for i in gw("incidents", "list", "--agent", typed, "--json")] == [shouted]
    # Both filter a category and an agent part together, newest first in the console, oldest first in the CLI.
    assert await logbook_ids(console, agent="pjsip/") == [other, shouted]
    assert [i["id"] for i in gw("incidents", "list", "--agent", "pjsip/", "--json")] == [shouted, other]
    assert [i["id"] for i in gw("incidents", "list", "--agent", "PJSIP", "--category", "threat", "--json")] == [other]


async def test_a_day_typed_for_the_logbook_is_a_day_of_the_configured_zone_in_both(gw, console, store, zone):
    now = time.time()
    at = now - 60
    iid, _ = await store.incidents.add_incident(Incident.new(N, "abuse", at, agent="PJSIP/1001"))
    local = datetime.fromtimestamp(at, ZoneInfo(zone)).strftime("%Y-%m-%d")
    assert local != datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")  # the zone is chosen so
    assert await logbook_ids(console, **{"from": local}) == [iid]
    assert [i["id"] for i in gw("incidents", "list", "--since", local, "--json")] == [iid]


async def test_stats_count_days_of_the_configured_zone_in_both(gw, console, redis_server, zone):
    # Written by a service of the same configuration: the statistics' counts are kept by day of [web] timezone.
    store = build_store(make_config(redis_server.url, web={"timezone": zone}))
    now = time.time()
    at = now - 60
    await store.incidents.add_incident(Incident.new(N, "abuse", at))
    await store.incidents.add_incident(Incident.new(N, "abuse", at - 1))
    await store.close()
    local = datetime.fromtimestamp(at, ZoneInfo(zone)).strftime("%Y-%m-%d")
    assert local != datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")

    page = await console.get("/stats", params={"days": "30"})
    data = json.loads(re.search(r'id="stats-data">(.*?)</script>', page.text, re.S).group(1))
    console_days = {d: n for d, n in data["per_day"]["abuse"].items() if n}
    cli = gw("stats", "--json")  # the last 30 days, as the console by default
    assert console_days == {local: 2}
    assert cli["incidents_per_day"] == {local: {"abuse": 2}}
    assert (
        cli["top_callers"]
        == [{"caller": c, "incidents": n} for c, n in data["repeat"]]
        == [{"caller": N, "incidents": 2}]
    )


async def test_the_audit_search_of_the_cli_is_the_consoles(gw, console, store):
    now = time.time()
    await store.streams.audit("sup1", "ban", now - 3, number=N, reason="Shouting at Agent 7")
    await store.streams.audit("sup2", "ban", now - 2, number=M, reason="threats")
    await store.streams.audit("sup1", "unban", now - 1, number=N)
    page = await console.get("/audit", params={"actor": "sup1", "text": "agent 7"})
    assert page.status_code == 200 and "Shouting at Agent 7" in page.text and "threats" not in page.text
    ids = [e.id for e in await audit.audit(store, "sup1", "", "agent 7")]
    assert [e["id"] for e in gw("audit", "--actor", "sup1", "--text", "agent 7", "--json")] == ids
    assert [e["action"] for e in gw("audit", "--action", "ban", "--json")] == ["ban", "ban"]


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("incidents", "list", "--category", "nope"), "category 'nope' is not in the protocol's weights."),
        (("stats", "--days", "0"), "statistics cover 1 to 366 days, not 0."),
        (("audit", "--limit", "0"), "--limit must be 1 to 50000, not 0."),
    ],
)
def test_what_the_console_refuses_the_cli_refuses_with_one_sentence(tmp_path, args, sentence):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text('[redis]\nurl = "redis://127.0.0.1:1/0"\n')  # refused before the store is asked
    out = run_cli(["--config", str(cfg), *args])
    assert (out.returncode, out.stderr, out.stdout) == (2, f"grenswacht: {sentence}\n", "")


async def test_a_caller_typed_as_a_name_filters_the_logbook_alike_in_both(gw, console, store):
    """Issue 30: the caller filter takes a name; both ask agi.actions.queries.with_caller."""
    now = time.time()
    jan, _ = await store.incidents.add_incident(Incident.new(N, "abuse", now - 120, caller_name="Jan Jansen"))
    janna, _ = await store.incidents.add_incident(Incident.new(M, "abuse", now - 60, caller_name="Janna de Boer"))
    assert await logbook_ids(console, caller="jan") == [janna, jan]
    assert [i["id"] for i in gw("incidents", "list", "--caller", "jan", "--json")] == [jan, janna]
    assert await logbook_ids(console, caller="jansen") == [jan]
    assert [i["id"] for i in gw("incidents", "list", "--caller", "jansen", "--json")] == [jan]
