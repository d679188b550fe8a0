"""Browser test helpers: `grenswacht web` as a real process, headless Chromium from Debian via Selenium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.redis_server import free_port

# Screenshots go to build/screenshots (ignored by git), so a test run leaves the clone clean;
# scripts/refresh-screenshots points this at docs/console to renew the pictures in the docs.
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("GRENSWACHT_SCREENSHOTS") or ROOT / "build" / "screenshots")
SCRIPT = str(Path(sys.executable).with_name("grenswacht"))


@contextmanager
def console_process(tmp_path: Path, redis_url: str):
    """`grenswacht web` on a free port; yields its base URL, stops it afterwards."""
    port = free_port()
    cfg = tmp_path / "console.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_url}"\n[web]\nlisten = "127.0.0.1:{port}"\nlanguage = "en"\n')
    env = dict(os.environ, GRENSWACHT_WEB_SECRET="b" * 40)
    proc = subprocess.Popen(
        [SCRIPT, "--config", str(cfg), "web"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60  # a loaded test machine starts a process slowly
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    # Ended first: reading stderr of a console still running would wait for ever.
                    proc.terminate()
                    raise RuntimeError(f"console did not start: {proc.communicate(timeout=10)[1].decode()[-500:]}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium(*extra: str):
    """Headless Chromium; ``extra``: more command-line flags (e.g. --autoplay-policy=...)."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
        "--lang=en-GB",
        *extra,
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> Path:
    """Save a full-page screenshot to SHOTS/NAME.png (build/screenshots unless refreshing the docs)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 900)")
    driver.set_window_size(1400, min(int(height) + 40, 2400))
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 900)
    return path


def login(driver, base: str, name: str, password: str) -> None:
    driver.get(base + "/login")
    driver.find_element(By.NAME, "user").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "live-table")))


def wait(driver, seconds: float = 10, poll: float = 0.5) -> WebDriverWait:
    # A page that swaps its parts in place (the board's rows, /me's refresh) can replace an element
    # between finding it and reading it: that is a "not yet", not a failure.
    return WebDriverWait(
        driver,
        seconds,
        poll_frequency=poll,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    )
