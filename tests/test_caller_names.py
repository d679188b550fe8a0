"""Caller names (issue 30): captured on the answered leg (never on the screening path), copied onto
the incident and the caller, searchable by name from the CLI, and erased with the caller."""

from __future__ import annotations

import json
import time

import pytest

from agi.actions import names
from agi.actions.errors import ActionError
from agi.aftercare import notify
from agi.engine import Incident
from redis_schema import keys
from redis_schema.caller_names import MAX_NAME, clean, words
from tests.support.agi_client import agi_header, run_call
from tests.support.cli import run_cli

NUMBER = "+31612345678"


async def answer_then_log(service, name: str, uniqueid: str = "1763800000.5", agent: str = "PJSIP/1003"):
    """The agent answers a call whose caller ID name is ``name``, then presses the end-and-log key."""
    leg = {"MEMBERINTERFACE": agent, "GW_CALLER": NUMBER}
    await run_call(
        service.host,
        service.port,
        agi_header("answered", NUMBER, name, uniqueid=uniqueid, args=("start",)),
        channel_vars=leg,
    )
    return await run_call(
        service.host, service.port, agi_header("endlog", NUMBER, name, uniqueid=uniqueid), channel_vars=leg
    )


def test_a_name_is_cleaned_before_it_is_kept():
    assert clean("[GW 3] Jan\x07  Jansen\t") == "Jan Jansen"  # our prefix, a control character, spacing
    assert clean("unknown") == "" and clean(None) == ""
    assert len(clean("x" * 500)) == MAX_NAME
    assert words("Jösé  de Vries-Bakker") == ["jose", "de", "vries", "bakker"]


async def test_the_answered_leg_gives_the_incident_and_the_caller_their_name(service, store, rdb):
    r = await answer_then_log(service, "[GW 2] Jan Jansen")
    iid = r.variables["GW_LOGGED"]
    assert iid
    inc = (await store.screening.load_caller(NUMBER)).incidents[0]
    assert (inc.id, inc.caller_name) == (iid, "Jan Jansen")
    assert await store.names.get(NUMBER) == "Jan Jansen"
    assert await store.names.search("jans") == {NUMBER: "Jan Jansen"}
    # The live call record holds it (the screening route wrote nothing for it).
    assert json.loads(await rdb.get(keys.live_call("PJSIP/1003")))["name"] == "Jan Jansen"


async def test_screening_writes_no_name(service, store, rdb):
    await run_call(service.host, service.port, agi_header("screen", NUMBER, "Jan Jansen"))
    assert await rdb.hlen(keys.CALLER_NAMES) == 0 and await rdb.zcard(keys.NAME_INDEX) == 0


async def test_a_new_name_replaces_the_old_one_in_the_search(store):
    await store.names.note(NUMBER, "Jan Jansen", 100.0)
    await store.names.note(NUMBER, "Piet Pieters", 200.0)
    await store.names.note(NUMBER, "Klaas Older", 150.0)  # an older call told later: ignored
    assert await store.names.get(NUMBER) == "Piet Pieters"
    assert await store.names.search("jan") == {}
    assert await store.names.search("piet") == {NUMBER: "Piet Pieters"}


async def test_search_needs_every_word_and_lists_several_matches(config, store):
    now = time.time()
    await store.names.note("+31611111111", "Jan Jansen", now)
    await store.names.note("+31622222222", "Jan de Boer", now)
    await store.names.note("+31633333333", "Anne Jansen", now)
    found = await names.find_callers(config, store, "jan")
    # A word's start: "Jansen" matches "jan" too; listed by name.
    assert [c.label for c in found] == [
        "Anne Jansen (+31633333333)",
        "Jan de Boer (+31622222222)",
        "Jan Jansen (+31611111111)",
    ]
    assert [c.number for c in await names.find_callers(config, store, "BOER jan")] == ["+31622222222"]  # every word
    assert (await names.find_callers(config, store, "0633333333"))[0].name == "Anne Jansen"  # a number still works
    with pytest.raises(ActionError, match="no caller is known by the name"):
        await names.find_callers(config, store, "Nobody")
    with pytest.raises(ActionError, match="enter a phone number or a name"):
        await names.find_callers(config, store, "  ")


async def test_withheld_callers_have_no_name(store, rdb):
    await store.names.note(keys.ANONYMOUS, "Jan", time.time())
    assert await rdb.hlen(keys.CALLER_NAMES) == 0


async def test_erasure_removes_the_name_everywhere(config, store, rdb):
    inc = Incident.new(NUMBER, "abuse", time.time(), caller_name="Jan Jansen", source="cli")
    await store.incidents.add_incident(inc)
    await store.streams.publish_event(notify.payload(inc))  # what the service's after-care publishes
    assert "Jan Jansen" in json.dumps(await rdb.xrange(keys.EVENTS))
    await store.names.note("+31699999999", "Piet Other", time.time())
    assert await rdb.hget(keys.caller(NUMBER), "1.cn") == "Jan Jansen"
    await store.erasure.erase_caller(NUMBER)
    assert await store.names.get(NUMBER) == "" and await rdb.zscore(keys.NAMES_SEEN, NUMBER) is None
    assert not await rdb.exists(keys.caller(NUMBER))
    members = await rdb.zrange(keys.NAME_INDEX, 0, -1)
    assert members and not [m for m in members if NUMBER in m]  # the other caller's words stay
    assert await store.names.search("piet") == {"+31699999999": "Piet Other"}
    # Nothing under any key still holds the erased name (the logbook event carried it too).
    for key in await rdb.keys("*"):
        kind = await rdb.type(key)
        held = {
            "hash": lambda k: rdb.hgetall(k),
            "zset": lambda k: rdb.zrange(k, 0, -1),
            "string": lambda k: rdb.get(k),
            "stream": lambda k: rdb.xrange(k),
        }[kind](key)
        text = json.dumps(await held, default=str).lower()
        assert "jansen" not in text and "jan " not in text, key


async def test_the_purge_drops_names_past_the_retention(config, store):
    now = time.time()
    await store.names.note(NUMBER, "Jan Jansen", now - 400 * keys.DAY)
    await store.names.note("+31699999999", "Jan Recent", now)
    await store.erasure.purge(now)
    assert await store.names.search("jan") == {"+31699999999": "Jan Recent"}


async def test_the_cli_finds_a_caller_by_name(config, store, tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(f'[redis]\nurl = "{config.redis.url}"\n')
    now = time.time()
    await store.incidents.add_incident(Incident.new(NUMBER, "abuse", now, caller_name="Jan Jansen", source="cli"))
    await store.names.note("+31622222222", "Jan de Boer", now)
    one = run_cli(["caller", "jansen", "--config", path])
    assert one.returncode == 0 and "Caller Jan Jansen (+31612345678)" in one.stdout, one.stderr
    several = run_cli(["caller", "jan", "--config", path, "--json"])
    assert [c["caller"] for c in json.loads(several.stdout)] == ["+31622222222", NUMBER]
    listed = run_cli(["incidents", "list", "--config", path])
    assert "Jan Jansen (+31612345678)" in listed.stdout
    none = run_cli(["caller", "Nobody", "--config", path])
    assert none.returncode == 2 and none.stderr.strip().count("\n") == 0 and "Nobody" in none.stderr


async def test_the_cli_lists_of_bans_and_warnings_name_the_caller(config, store, tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(f'[redis]\nurl = "{config.redis.url}"\n')
    now = time.time()
    for k in range(3):  # at the written-warning rung of the default protocol
        inc = Incident.new(NUMBER, "abuse", now - 3600 * (k + 1), caller_name="Jan Jansen", source="cli")
        await store.incidents.add_incident(inc)
    due = json.loads(run_cli(["warnings", "--json", "--config", path]).stdout)
    assert [(w["caller"], w["name"]) for w in due] == [(NUMBER, "Jan Jansen")]
    assert run_cli(["ban", "0612345678", "--days", "3", "--config", path]).returncode == 0
    bans = json.loads(run_cli(["bans", "--json", "--config", path]).stdout)
    assert [(b["target"], b["name"]) for b in bans] == [(NUMBER, "Jan Jansen")]
    assert "Jan Jansen" in run_cli(["bans", "--config", path]).stdout
