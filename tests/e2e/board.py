"""The console's live board in a real browser, for the end-to-end tests: Selenium blocks, so each
step runs in a thread and the service (on the test's loop) keeps answering Asterisk."""

from __future__ import annotations

import asyncio
import time

from selenium.webdriver.common.by import By

from tests.console.browser import login, wait


async def open_board(driver, base: str, user: str, password: str) -> None:
    """Log in and wait until the board is live (its event stream open: the dot is on)."""
    await asyncio.to_thread(login, driver, base, user, password)
    await asyncio.to_thread(
        wait(driver, 10).until, lambda d: "on" in d.find_element(By.ID, "live-dot").get_attribute("class")
    )


def row_appears(driver, rows: str, text: str) -> asyncio.Task[float]:
    """Watching from now on: the time a row holding ``text`` appears among ``rows`` (a CSS selector)."""

    def watch() -> float:
        wait(driver, 30, poll=0.05).until(lambda d: any(text in r.text for r in d.find_elements(By.CSS_SELECTOR, rows)))
        return time.time()

    return asyncio.create_task(asyncio.to_thread(watch))
