"""The live board in headless Chromium (issue 30): an incident added from the CLI appears as a
row, a handover in its side panel, and when the session ends (the password changed) the page
says so plainly instead of only greying a dot."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from agi.actions import logbook, users
from agi.aftercare import notify
from agi.engine import Incident
from tests.conftest import make_config
from tests.console.browser import chromium, console_process, login, shot, wait

PASSWORD = "a long enough password"
N = "+31612345678"


async def test_the_live_board_in_a_browser(tmp_path, redis_server, store):
    await users.add(store, "bea", "supervisor", PASSWORD, "setup", time.time())
    config = make_config(redis_server.url)
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        login(driver, base, "bea", PASSWORD)
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#live-dot.on")))
        now = time.time()
        iid = await logbook.add(store, config, N, "threat", "typed in at the CLI", now, "cli:anne", now)
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#live-rows a[href="/incidents/{iid}"]')))
        handover = Incident.new(N, "handover", now, agent="PJSIP/anna", note="asked for a senior", source="handover")
        await store.incidents.add_incident(handover)
        await store.streams.publish_event(notify.payload(handover))
        wait(driver).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, f'#board-panels a[href="/incidents/{handover.id}"]'))
        )
        assert not driver.find_elements(By.CSS_SELECTOR, f'#live-rows a[href="/incidents/{handover.id}"]')
        state = driver.find_element(By.ID, "live-state")
        assert not state.is_displayed()
        shot(driver, "board-live-sources")
        # The password changed elsewhere: the session ends, and the board says so within a keep-alive.
        await users.passwd(store, "bea", "another long password", "admin", time.time())
        wait(driver, 40).until(EC.visibility_of_element_located((By.ID, "live-state")))
        assert "session has ended" in state.text
        assert "on" not in driver.find_element(By.ID, "live-dot").get_attribute("class")
        shot(driver, "board-ended")
