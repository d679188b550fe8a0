"""The console in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Logs in, walks every page (saving a screenshot of each to build/screenshots/, or docs/console/ under scripts/refresh-screenshots), debriefs an incident,
bans a number and sees the next FastAGI screening of it refuse.
"""

from __future__ import annotations

import json
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from agi.actions import lists, users
from agi.actions.lists import Target
from agi.aftercare.cooldown import Cooldown
from agi.engine import DAY, Incident
from tests.console.browser import chromium, console_process, login, shot, wait
from tests.support.agi_client import agi_header, run_call

PASSWORD = "a long enough password"
N = "+31612345678"


async def seed(store) -> str:
    """A month of plausible incidents, a cool-down, a range ban, screening counters."""
    now = time.time()
    agents = ("PJSIP/anna", "PJSIP/bram", "PJSIP/chris", "PJSIP/dewi")
    cats = ("abuse", "abuse", "intimidation", "threat", "handover")
    first = ""
    for k in range(60):
        number = f"+3161200{k % 17:04d}"
        cat = cats[k % len(cats)]
        inc = Incident.new(
            number,
            cat,
            now - (k * 15.3) * 3600,
            severity=1,
            agent=agents[k % 4],
            queue="support",
            note="raised voice, personal insults" if cat != "handover" else "asked for a senior",
            source="handover" if cat == "handover" else "key",
        )
        iid, _ = await store.incidents.add_incident(inc)
        first = first or iid
    await store.incidents.add_incident(
        Incident.new(N, "abuse", now - 3 * DAY, agent="PJSIP/anna", queue="support", note="shouted", source="key")
    )
    await store.cooldowns.swap("PJSIP/bram", None, Cooldown("PJSIP/bram", ("support",), now - 60, now + 240))
    await lists.ban(store, lists.Change(Target("prefix", "+3185123"), "robocalls", "sup-anne", now), 30)
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    await store.screening.add_counts(
        {
            (day, "screen.allow"): 812,
            (day, "screen.warn"): 41,
            (day, "screen.senior"): 12,
            (day, "screen.refuse"): 7,
            (day, "refused-while-banned"): 5,
        }
    )
    return first


async def test_console_in_a_browser(tmp_path, redis_server, store, service):
    await users.add(store, "anne", "admin", PASSWORD, "setup", time.time())
    first = await seed(store)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        driver.get(base + "/logbook")  # no session: the login page
        assert driver.current_url.endswith("/login")
        shot(driver, "login")
        login(driver, base, "anne", PASSWORD)
        shot(driver, "board")
        assert "PJSIP/bram" in driver.page_source  # the cool-down, with an end-now button
        # The logbook, filtered.
        driver.get(base + "/logbook")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
        assert len(rows) == 50  # 61 seeded: 50 a page
        shot(driver, "logbook")
        driver.find_element(By.PARTIAL_LINK_TEXT, "Next").click()  # htmx swaps the list in place
        wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.list tbody tr")) == 11)
        assert "page=2" in driver.current_url
        driver.get(base + "/logbook?category=threat")
        assert {
            r.find_elements(By.TAG_NAME, "td")[2].text
            for r in driver.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
        } == {"threat"}
        # Debrief an incident through the form.
        driver.get(f"{base}/incidents/{first}")
        driver.find_element(By.CSS_SELECTOR, "input[name=answer][value=conscious]").click()
        driver.find_element(By.NAME, "note").send_keys("Stayed calm, followed the protocol.")
        driver.find_element(By.CSS_SELECTOR, "form.stack button.primary").click()
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
        shot(driver, "incident")
        inc = (await store.incidents.get_incident(first))[1]
        assert (inc.debrief_answer, inc.debrief_by) == ("conscious", "web:anne")
        # Ban a number on its caller page; the next FastAGI screening refuses it.
        before = await run_call(service.host, service.port, agi_header("screen", callerid="0612345678"))
        assert before.variables["GW_ACTION"] != "refuse"
        driver.get(base + "/caller?n=0612345678")
        driver.find_element(By.NAME, "reason").send_keys("threatened staff")
        driver.find_element(By.CSS_SELECTOR, "button.danger").click()
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
        assert "banned" in driver.find_element(By.CSS_SELECTOR, "p.decision").text
        shot(driver, "caller")
        after = await run_call(
            service.host, service.port, agi_header("screen", callerid="0612345678", uniqueid="1763800000.2")
        )
        assert (after.variables["GW_ACTION"], after.variables["GW_REASON"]) == ("refuse", "banned")
        for page, name in (("/bans", "bans"), ("/warnings", "warnings"), ("/audit", "audit"), ("/admin", "admin")):
            driver.get(base + page)
            assert driver.find_elements(By.CSS_SELECTOR, "header.top")
            shot(driver, name)
        driver.get(base + "/bans")
        assert "+3185123" in driver.page_source and "robocalls" in driver.page_source
        driver.get(base + "/letter?n=0612345678&lang=nl")
        assert "Geachte" in driver.page_source
        shot(driver, "letter")
        driver.get(base + "/stats")
        wait(driver).until(
            lambda d: d.execute_script("return window.Chart && Object.keys(Chart.instances).length") == 5
        )
        data = json.loads(driver.find_element(By.ID, "stats-data").get_attribute("textContent"))
        assert data["screenings"]["allow"] == 812
        shot(driver, "stats")
