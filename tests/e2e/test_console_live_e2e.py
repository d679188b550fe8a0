"""An incident pressed on a real Asterisk call appears on the console's live board within 2 s."""

from __future__ import annotations

import asyncio
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from agi.actions import users
from tests.console.browser import chromium, console_process, login, shot
from tests.e2e.test_agent_key_e2e import call_and_press, incidents, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
PASSWORD = "a long enough password"


async def test_a_key_press_appears_on_the_live_board_within_two_seconds(e2e, ami, redis_server, tmp_path):
    await users.add(e2e.deps.store, "sup", "supervisor", PASSWORD, "test", time.time())
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        # Selenium blocks: it runs in a thread so the service (on this loop) keeps answering Asterisk.
        await asyncio.to_thread(login, driver, base, "sup", PASSWORD)
        assert await asyncio.to_thread(lambda: driver.find_elements(By.CSS_SELECTOR, "#live-rows tr")) == []
        await asyncio.to_thread(
            WebDriverWait(driver, 10).until, lambda d: "on" in d.find_element(By.ID, "live-dot").get_attribute("class")
        )

        def row_appears() -> float:
            WebDriverWait(driver, 30, poll_frequency=0.05).until(
                lambda d: any(N in r.text for r in d.find_elements(By.CSS_SELECTOR, "#live-rows tr"))
            )
            return time.time()

        seen = asyncio.create_task(asyncio.to_thread(row_appears))
        await call_and_press(ami)
        [inc] = await wait_until(lambda: incidents(e2e))
        appeared = await seen
        assert appeared - inc.at < 2.0, f"on the board {appeared - inc.at:.2f} s after the key press"
        row = driver.find_element(By.CSS_SELECTOR, "#live-rows tr").text
        assert "abuse" in row and "support" in row
        await asyncio.to_thread(shot, driver, "board-live")
