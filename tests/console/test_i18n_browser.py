"""Issue 30 in headless Chromium: the console switched to Dutch, and the statistics charts
named in Dutch and coloured as the tags beside the logbook's rows (screenshots for docs/console.md)."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from agi.actions import users
from agi.engine import Incident
from tests.console.browser import chromium, console_process, login, shot, wait

PASSWORD = "a long enough password"
CATEGORIES = ("abuse", "intimidation", "threat", "handover")
DUTCH = {"abuse": "grof taalgebruik", "intimidation": "intimidatie", "threat": "bedreiging", "handover": "naar senior"}


def rgb(hex_colour: str) -> str:
    h = hex_colour.strip().lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


async def seed(store) -> None:
    now = time.time()
    for k in range(24):
        cat = CATEGORIES[k % len(CATEGORIES)]
        inc = Incident.new(
            f"+3161300{k % 9:04d}", cat, now - k * 5 * 3600, agent=f"PJSIP/10{k % 3}", queue="support", source="key"
        )
        await store.incidents.add_incident(inc)
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    await store.screening.add_counts({(day, "screen.allow"): 80, (day, "screen.warn"): 9, (day, "screen.refuse"): 3})


async def test_dutch_pages_and_charts_coloured_as_their_tags(tmp_path, redis_server, store):
    await users.add(store, "anne", "admin", PASSWORD, "setup", time.time())
    await seed(store)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        login(driver, base, "anne", PASSWORD)  # the configuration's language: English
        driver.find_element(By.CSS_SELECTOR, "header .who button[name=lang]").click()  # to Dutch
        wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl")
        assert "Incidenten vandaag" in driver.find_element(By.TAG_NAME, "main").text
        shot(driver, "board-nl")
        # The logbook's tags: Dutch words, each category its colour.
        driver.get(base + "/logbook")
        tags = {}
        for cat in CATEGORIES:
            tag = driver.find_element(By.CSS_SELECTOR, f"td span.tag.{cat}")
            assert tag.text == DUTCH[cat]
            tags[cat] = tag.value_of_css_property("background-color").replace("rgba", "rgb").replace(", 1)", ")")
        assert len(set(tags.values())) == len(CATEGORIES)  # four categories, four colours
        # The charts: legends in Dutch, each category's bars in its tag's colour.
        driver.get(base + "/stats")
        wait(driver).until(lambda d: d.execute_script("return !!(window.Chart && Chart.getChart('chart-day'))"))
        datasets = driver.execute_script(
            "return Chart.getChart('chart-day').data.datasets.map(function (d) { return [d.label, d.backgroundColor]; })"
        )
        shown = {label: rgb(colour) for label, colour in datasets}
        assert shown == {DUTCH[c]: tags[c] for c in CATEGORIES}
        screen = driver.execute_script("return Chart.getChart('chart-screen').data.labels")
        assert sorted(screen) == ["doorlaten", "waarschuwen", "weigeren"]
        legend = driver.execute_script("return Chart.getChart('chart-agent').data.datasets[0].label")
        assert legend == "incidenten"
        shot(driver, "stats-nl")
