"""The logbook's caller filter takes a name as well as a number (issue 30), in the console and in
`grenswacht incidents list --caller` alike (both: agi.actions.queries.with_caller): a number as
before, a name finds every caller it matches (at most 50), and no match or too many is one sentence."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from agi.actions.names import MAX_FILTERED
from agi.engine import Incident
from tests.support.cli import run_cli

JAN, JANNA, KEES = "+31612345678", "+31622222222", "+31633333333"


@pytest.fixture
def gw(tmp_path, web_config):
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{web_config.redis.url}"\n')
    return lambda *args: run_cli(["--config", str(cfg), *args])


async def logged(store, number: str, name: str, at: float, category: str = "abuse") -> str:
    iid, _ = await store.incidents.add_incident(Incident.new(number, category, at, caller_name=name, source="key"))
    return iid


async def logbook_ids(sup, **query: str) -> list[str]:
    page = await sup.get("/logbook", params=query)
    assert page.status_code == 200, page.text
    return list(dict.fromkeys(re.findall(r"/incidents/([0-9a-f]{16})", page.text)))


def cli_ids(gw, *args: str) -> list[str]:
    out = gw("incidents", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [i["id"] for i in json.loads(out.stdout)]


async def test_a_name_filters_the_logbook_to_every_caller_it_matches(sup, store, gw):
    now = time.time()
    jan1 = await logged(store, JAN, "Jan Jansen", now - 300)
    janna = await logged(store, JANNA, "Janna de Boer", now - 200, "threat")
    jan2 = await logged(store, JAN, "Jan Jansen", now - 100)
    await logged(store, KEES, "Kees Smit", now - 50)

    # one caller by name, by number as before: the same incidents, newest first in the console
    for typed in ("jansen", "Jan Jansen", "0612345678", "+31612345678"):
        assert await logbook_ids(sup, caller=typed) == [jan2, jan1]
        assert cli_ids(gw, "--caller", typed) == [jan1, jan2]  # oldest first in the CLI
    # a name several callers share: all their incidents, with the other filters as well
    assert await logbook_ids(sup, caller="jan") == [jan2, janna, jan1]
    assert cli_ids(gw, "--caller", "jan") == [jan1, janna, jan2]
    assert (
        await logbook_ids(sup, caller="jan", category="threat")
        == [janna]
        == cli_ids(gw, "--caller", "jan", "--category", "threat")
    )
    # and the downloads of that filter hold the same
    csv_text = (await sup.get("/logbook.csv", params={"caller": "jan"})).text.lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["id"] for r in rows] == [jan2, janna, jan1]
    audit = (await store.streams.audit_entries())[-1]
    assert audit["action"] == "export" and audit["callers"] == f"{JAN},{JANNA}"


async def test_no_caller_by_that_name_is_one_sentence_in_both(sup, store, gw):
    await logged(store, JAN, "Jan Jansen", time.time())
    page = await sup.get("/logbook", params={"caller": "Nobody"})
    assert page.status_code == 400 and "er is geen beller bekend met de naam &#39;Nobody&#39;." in page.text
    assert 'value="Nobody"' in page.text  # what was typed stays on the form
    out = gw("incidents", "list", "--caller", "Nobody")
    assert (out.returncode, out.stderr, out.stdout) == (2, "grenswacht: no caller is known by the name 'Nobody'.\n", "")
    # a typed number that is no number is refused as before
    out = gw("incidents", "list", "--caller", "06-abc")
    assert out.returncode == 2 and "is not a phone number" in out.stderr and out.stderr.count("\n") == 1


async def test_more_callers_by_a_name_than_shown_is_one_sentence_in_both(sup, store, gw):
    now = time.time()
    for k in range(MAX_FILTERED + 1):
        await store.names.note(f"+316100{k:05d}", f"Piet Nummer{k}", now)
    page = await sup.get("/logbook", params={"caller": "piet"})
    assert page.status_code == 400
    assert f"meer dan {MAX_FILTERED} bellers hebben de naam &#39;piet&#39;: typ meer van de naam, of het nummer." in (
        page.text
    )
    out = gw("incidents", "list", "--caller", "piet")
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == (
        f"grenswacht: more than {MAX_FILTERED} callers go by the name 'piet': type more of the name, or the number.\n"
    )
    # exactly the bound still shows them all
    await store.names.forget("+31610000000")
    assert (await sup.get("/logbook", params={"caller": "piet"})).status_code == 200
    assert cli_ids(gw, "--caller", "piet") == []


async def test_a_name_filter_pages_through_many_incidents(sup, store):
    now = time.time()
    ids = [await logged(store, JAN if k % 2 else JANNA, "Jan X" if k % 2 else "Janna Y", now - k) for k in range(60)]
    first = await logbook_ids(sup, caller="jan")
    assert first == ids[:50]
    page = await sup.get("/logbook", params={"caller": "jan"})
    nxt = re.search(r'href="(/logbook\?[^"]*after=[^"]*)"', page.text)
    assert nxt is not None, "no link to the next page"
    rest = await sup.get(nxt.group(1).replace("&amp;", "&"))
    assert list(dict.fromkeys(re.findall(r"/incidents/([0-9a-f]{16})", rest.text))) == ids[50:]
