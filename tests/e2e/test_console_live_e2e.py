"""An incident pressed on a real Asterisk call appears on the console's live board within 2 s."""

from __future__ import annotations

import asyncio
import time

import pytest
from selenium.webdriver.common.by import By

from agi.actions import users
from console.i18n import VALUES
from tests.console.browser import chromium, console_process, shot
from tests.e2e.board import open_board, row_appears
from tests.e2e.test_agent_key_e2e import call_and_press, incidents, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
PASSWORD = "a long enough password"


async def test_a_key_press_appears_on_the_live_board_within_two_seconds(e2e, ami, redis_server, tmp_path):
    await users.add(e2e.deps.store, "sup", "supervisor", PASSWORD, "test", time.time())
    with console_process(tmp_path, redis_server.url) as base, chromium() as driver:
        await open_board(driver, base, "sup", PASSWORD)
        assert await asyncio.to_thread(lambda: driver.find_elements(By.CSS_SELECTOR, "#live-rows tr")) == []
        seen = row_appears(driver, "#live-rows tr", N)
        await call_and_press(ami)
        [inc] = await wait_until(lambda: incidents(e2e))
        appeared = await seen
        assert appeared - inc.at < 2.0, f"on the board {appeared - inc.at:.2f} s after the key press"
        row = driver.find_element(By.CSS_SELECTOR, "#live-rows tr").text
        assert any(word in row for word in VALUES["category"]["abuse"]) and "support" in row  # in nl or en
        await asyncio.to_thread(shot, driver, "board-live")
