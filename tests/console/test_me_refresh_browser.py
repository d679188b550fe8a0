"""Issue 29 in headless Chromium: the agent's page updates itself (a new call, a cool-down, the
supervisor's answer to a block request) without a reload, and leaves the agent's typing alone."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from agi.actions import agents, users
from agi.config import Config
from agi.engine import Incident
from redis_schema.records import Cooldown, LiveCall
from tests.console.browser import chromium, console_process, wait
from tests.console.test_agent_browser import PASSWORD, login_agent

ANNA = "PJSIP/anna"
N = "+31612345678"


async def test_the_agents_page_refreshes_itself(redis_server, store, tmp_path):
    now = time.time()
    anna = await users.add(store, "anna", "agent", PASSWORD, "test", now, interfaces=[ANNA])
    iid, _ = await store.incidents.add_incident(Incident.new(N, "threat", now - 600, agent=ANNA, source="key"))
    req = await agents.request_block(store, anna, iid, "threatened me", now)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        login_agent(driver, base, "anna")
        driver.execute_script("window.gwNotReloaded = true;")
        account = driver.find_element(By.CSS_SELECTOR, f"#incident-{iid} textarea[name=account]")
        account.send_keys("half a sentence")
        assert "+31687654321" not in driver.find_element(By.ID, "my-call").text
        # Meanwhile: a call is answered, a cool-down begins, the supervisor declines the request.
        later = time.time()
        await store.live.start(LiveCall(ANNA, "call-1", "+31687654321", "support", ANNA + "-0001", later), 600)
        await store.cooldowns.put(ANNA, Cooldown(ANNA, ("support",), later, later + 300))
        await agents.decide(store, Config(), req.id, False, "call me first", None, "web:sup", later)
        wait(driver, 30).until(lambda d: "+31687654321" in d.find_element(By.ID, "my-call").text)
        wait(driver, 30).until(lambda d: "call me first" in d.find_element(By.ID, "my-side").text)
        assert ANNA in driver.find_element(By.ID, "my-cooldown").text
        assert driver.execute_script("return window.gwNotReloaded === true;")  # no reload
        assert account.get_attribute("value") == "half a sentence"  # the agent's typing is still there
