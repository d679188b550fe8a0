"""Issue 30: the console is wholly Dutch in Dutch mode and wholly English in English mode.

Every page (as an admin, a supervisor and an agent), with data of every kind on it (each
category, decision, ban source, callback state, role, block request), is read as a person sees
it (the text, titles, placeholders; not scripts, and not the audit trail's stored key=value
details) and must hold none of a list of words of the other language. The refusals on the forms
come in the user's language too.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from html.parser import HTMLParser
from typing import ClassVar

import pytest_asyncio

from agi.actions import agents, lists, logbook, users
from agi.actions.lists import Change, Target
from agi.callbacks import appointments as A
from agi.engine import Ban, Incident
from tests.console.conftest import PASSWORD, logged_in

RUDE, QUIET, PREFIX = "+31612345678", "+31687654321", "+3185123"
BERT = "PJSIP/1001"

# Words that give away the other language: whole words, any case.
ENGLISH = (
    "the", "and", "is not", "there is no", "must", "please", "try again", "your", "you",
    "abuse", "abusive", "intimidation", "threat", "refuse", "allow", "warn", "let through",
    "manual", "set by hand", "number range", "scheduled", "cancelled", "no answer", "failed", "missed",
    "supervisor", "administrator", "agent", "approved", "declined", "done", "debrief", "save", "search",
    "logbook", "bans", "warnings", "callbacks", "incidents", "caller", "queue", "reason", "until",
    "key during the call", "by hand", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    "January", "February", "March", "April", "June", "July", "August", "October",
)  # fmt: skip
DUTCH = (
    "de", "het", "een", "niet", "geen", "van", "voor", "moet", "u", "uw",
    "grof taalgebruik", "intimidatie", "bedreiging", "weigeren", "doorlaten", "waarschuwen",
    "met de hand", "nummerreeks", "gepland", "geannuleerd", "geen gehoor", "mislukt", "gemist",
    "leidinggevende", "beheerder", "medewerker", "goedgekeurd", "afgewezen", "gedaan", "nagesprek",
    "opslaan", "zoeken", "logboek", "blokkades", "waarschuwingen", "terugbelafspraken", "incidenten",
    "beller", "wachtrij", "reden", "dagen", "ma", "di", "wo", "do", "vr", "za", "zo",
    "januari", "februari", "maart", "mei", "juni", "juli", "augustus", "oktober",
)  # fmt: skip


class Visible(HTMLParser):
    """What a person reads on a page: text, title, placeholder and aria-label (no script, style or
    the audit trail's key=value spans, which show the record as it is stored)."""

    SKIP: ClassVar[set[str]] = {"script", "style"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SKIP or "kv" in (a.get("class") or "").split():
            self.skipping.append(tag)
        for name in ("title", "placeholder", "aria-label"):
            if a.get(name) and not self.skipping:
                self.parts.append(a[name])

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible(html: str) -> str:
    v = Visible()
    v.feed(html)
    return " ".join(" ".join(v.parts).split())


def foreign(text: str, words: tuple[str, ...]) -> list[str]:
    # Technical names the console shows as they are (Asterisk's ids, dial strings, file formats).
    text = re.sub(r"uniqueid / linkedid|PJSIP/\S+|Grenswacht|CSV|JSON|SHA-256", " ", text)
    return [w for w in words if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text, re.IGNORECASE)]


async def seed(store) -> dict[str, str]:
    now = time.time()
    ids = {}
    for k, (caller, cat) in enumerate(
        [(RUDE, "abuse"), (RUDE, "intimidation"), (RUDE, "threat"), (QUIET, "handover"), (QUIET, "callback")]
    ):
        inc = Incident.new(caller, cat, now - 600 + k, agent=BERT, queue="support", source="key", note="x1")
        ids[cat], _ = await store.incidents.add_incident(inc)
    await logbook.debrief(store, ids["abuse"], "conscious", "x2", "web:sup1", now)
    await agents.request_block(store, await users.get(store, "bert"), ids["abuse"], "x7", now)  # before the ban
    await lists.ban(store, Change(Target("number", RUDE), "x3", "web:sup1", now), 30)
    await lists.ban(store, Change(Target("prefix", PREFIX), "x4", "web:sup1", now, True), 30)
    await store.lists.set_ban(QUIET, Ban(now + 86400, "x5", "protocol", now, "grenswacht"))
    await lists.allow(store, Change(Target("number", "+31611111111"), "x6", "web:sup1", now))
    due = now + 86400 * 3
    for status, outcome in [
        ("scheduled", ""),
        ("cancelled", "cancelled"),
        ("no-answer", "NOANSWER"),
        ("failed", "BUSY"),
    ]:
        appt = A.new_appointment(caller=RUDE, agent=BERT, queue="support", due=due, now=now, by=BERT)
        await A.save_new(store, replace(appt, status=status, outcome=outcome))
    return ids


@pytest_asyncio.fixture
async def people(app, store):
    await users.add(store, "bert", "agent", PASSWORD, "test", time.time(), interfaces=[BERT])
    ids = await seed(store)
    clients = {name: await logged_in(app, name) for name in ("admin1", "sup1", "bert")}
    yield clients, ids
    for c in clients.values():
        await c.http.aclose()


def pages(ids: dict[str, str], lang: str) -> list[tuple[str, str]]:
    """(who, url) for every page: the supervisor's, the admin's, the agent's, and an error page."""
    sup = [
        "/", "/board/panels", "/logbook", "/logbook?category=threat", f"/incidents/{ids['abuse']}",
        f"/incidents/{ids['handover']}", f"/caller?n={RUDE}", f"/caller?n={QUIET}", "/bans", "/callbacks",
        "/warnings", f"/letter?n={RUDE}&lang={lang}", "/stats", "/audit", "/nowhere",
    ]  # fmt: skip
    admin = [("admin1", "/admin"), ("admin1", "/"), ("admin1", "/security"), ("sup1", "/security")]
    return [("sup1", u) for u in sup] + admin + [("bert", "/me"), ("bert", "/me/live"), ("bert", "/")]


# A refusal on a form of each kind: the service's (ActionError), a number's, a time's, the console's own.
REFUSALS = [
    ("sup1", "/caller/ban", {"number": "06-abc"}, "/caller"),
    ("sup1", "/bans/ban", {"target": "+31", "kind": "prefix"}, "/bans"),
    ("sup1", "/bans/unban", {"target": "0612345678", "kind": "number"}, "/bans"),
    ("sup1", "/callbacks/move", {"id": "nope", "at": "2030-01-01T10:00"}, "/callbacks"),
    ("admin1", "/admin/user-add", {"name": "a b", "role": "agent", "password": "x"}, "/admin"),
    ("bert", "/me/incidents/x/account", {"account": "x"}, "/me"),
]
SAID = {
    "nl": [
        "is geen telefoonnummer",
        "omvat elk nummer van een land",
        "vink het vakje aan",
        "er is geen terugbelafspraak",
        "is geen gebruikersnaam",
        "u hebt geen incident",
    ],
    "en": [
        "is not a phone number",
        "covers every number of a country",
        "tick the box",
        "no callback appointment",
        "is not a user name",
        "there is no incident of yours",
    ],
}


async def check_language(people, lang: str, words: tuple[str, ...]) -> int:
    clients, ids = people
    for c in clients.values():
        r = await c.post("/language", {"lang": lang}, page="/me")
        assert r.status_code == 303
    read = 0
    for who, url in pages(ids, lang):
        r = await clients[who].get(url)
        assert r.status_code in (200, 403, 404), (who, url, r.status_code)
        text = visible(r.text)
        assert foreign(text, words) == [], (lang, who, url, text[:3000])
        read += len(text)
    for (who, url, data, page), said in zip(REFUSALS, SAID[lang], strict=True):
        r = await clients[who].post(url, data, page=page)
        text = visible(r.text)
        assert r.status_code == 400 and said in text, (lang, url, text[:2000])
        assert foreign(text, words) == [], (lang, who, url, text[:3000])
    return read


async def test_dutch_mode_shows_no_english_word(people):
    assert await check_language(people, "nl", ENGLISH) > 5000
    # The audit trail's details: their names in Dutch, their values as stored.
    audit = (await people[0]["sup1"].get("/audit")).text
    assert 'data-key="reason">reden=x3<' in audit and 'data-key="prefix">nummerreeks=+3185123<' in audit


async def test_english_mode_shows_no_dutch_word(people):
    assert await check_language(people, "en", DUTCH) > 5000


async def test_the_scan_finds_a_word_of_the_other_language():
    """The check itself: an English sentence, a category or a role left on a Dutch page is found."""
    assert foreign(visible("<p>Er is <b>geen</b> beller</p>"), ENGLISH) == []
    assert foreign(visible('<p class="error">there is no user: the name.</p>'), ENGLISH) == ["the", "there is no"]
    assert foreign(visible('<span class="tag abuse">abuse</span> · supervisor'), ENGLISH) == ["abuse", "supervisor"]
    assert foreign(visible('<input placeholder="Search"><script>var the = 1;</script>'), ENGLISH) == ["search"]
    assert foreign(visible("<p>Saved. The ban is lifted.</p>"), DUTCH) == []
    assert foreign(visible("<p>Opgeslagen: de blokkade</p>"), DUTCH) == ["de"]


async def test_a_category_named_in_the_configuration_is_shown_by_that_name(redis_server, store):
    """[web] category_labels: an organisation's own word for a category, on the pages and the letter."""
    from console.app import create_app
    from tests.conftest import make_config

    labels = {"abuse": {"nl": "scheldpartij", "en": "name-calling"}}
    config = make_config(redis_server.url, web={"secret": "s" * 40, "category_labels": labels})
    assert config.web.category_labels["abuse"].nl == "scheldpartij"
    await users.add(store, "sup1", "supervisor", PASSWORD, "test", time.time())
    await store.incidents.add_incident(Incident.new(RUDE, "abuse", time.time() - 60, agent=BERT, source="key"))
    sup = await logged_in(create_app(config, store), "sup1")
    try:
        page = visible((await sup.get("/logbook")).text)
        assert "scheldpartij" in page and "grof taalgebruik" not in page
        assert "scheldpartij" in visible((await sup.get(f"/letter?n={RUDE}&lang=nl")).text)
        assert "name-calling" in visible((await sup.get(f"/letter?n={RUDE}&lang=en")).text)
    finally:
        await sup.http.aclose()
