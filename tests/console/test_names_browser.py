"""Issue 30 in headless Chromium: the logbook shows the caller's name and the agent's name, and a
search by name finds the caller (screenshot for docs/console.md)."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from agi.actions import names, users
from agi.engine import Incident
from tests.console.browser import chromium, console_process, login, shot, wait

PASSWORD = "a long enough password"


async def test_the_logbook_shows_callers_and_agents_by_name(redis_server, store, tmp_path):
    now = time.time()
    await users.add(store, "sup", "supervisor", PASSWORD, "test", now)
    await names.name_agent(store, "PJSIP/1003", "Anne de Vries", "test", now)
    await store.incidents.add_incident(
        Incident.new(
            "+31612345678",
            "threat",
            now - 900,
            agent="PJSIP/1003",
            queue="support",
            caller_name="Jan Jansen",
            source="key",
        )
    )
    await store.incidents.add_incident(
        Incident.new(
            "+31687654321",
            "abuse",
            now - 300,
            agent="PJSIP/1004",
            queue="sales",
            caller_name="Els de Boer",
            source="key",
        )
    )
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        login(driver, base, "sup", PASSWORD)
        driver.get(base + "/logbook")
        table = wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.list"))).text
        assert "Jan Jansen (+31612345678)" in table and "Anne de Vries (PJSIP/1003)" in table
        assert "Els de Boer (+31687654321)" in table and "PJSIP/1004" in table
        shot(driver, "logbook-names")
        driver.get(base + "/caller")
        search = driver.find_element(By.NAME, "n")
        search.send_keys("jansen")
        search.submit()
        heading = wait(driver).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        assert heading.text == "Jan Jansen (+31612345678)"
