"""Issue 29 in headless Chromium: the agent's own page and the block-request flow, with screenshots."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from agi.actions import users
from agi.aftercare.cooldown import Cooldown
from agi.engine import Incident
from tests.console.browser import chromium, console_process, login, shot, wait

PASSWORD = "a long enough password"
N = "+31612345678"
ANNA = "PJSIP/anna"


def login_agent(driver, base: str, name: str) -> None:
    driver.get(base + "/login")
    driver.find_element(By.NAME, "user").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait(driver).until(EC.presence_of_element_located((By.ID, "my-incidents")))


async def test_the_agent_writes_an_account_asks_for_a_ban_and_sees_the_supervisors_answer(
    redis_server, store, tmp_path
):
    now = time.time()
    await users.add(store, "anna", "agent", PASSWORD, "test", now, interfaces=[ANNA])
    await users.add(store, "sup", "supervisor", PASSWORD, "test", now, phone="PJSIP/1005")
    iid, _ = await store.incidents.add_incident(
        Incident.new(N, "threat", now - 600, agent=ANNA, queue="support", note="threat", source="key")
    )
    await store.incidents.add_incident(
        Incident.new("+31687654321", "abuse", now - 300, agent="PJSIP/bram", source="key")
    )
    await store.cooldowns.swap(ANNA, None, Cooldown(ANNA, ("support",), now - 60, now + 240))
    with console_process(tmp_path, redis_server.url) as base, chromium() as agent, chromium() as supervisor:
        login_agent(agent, base, "anna")
        page = agent.find_element(By.TAG_NAME, "main").text
        assert N in page and "+31687654321" not in page and ANNA in page  # her incident, her cool-down
        assert [a.text for a in agent.find_elements(By.CSS_SELECTOR, "header nav a")] == ["My page"]
        form = agent.find_element(By.CSS_SELECTOR, f"#incident-{iid} textarea[name=account]")
        form.send_keys("He said: 'I know where you live, and I will come by.'")
        form.find_element(By.XPATH, "./ancestor::form").submit()
        wait(agent).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
        reason = agent.find_element(By.CSS_SELECTOR, f"#incident-{iid} input[name=reason]")
        reason.send_keys("threatened to come to the office")
        reason.find_element(By.XPATH, "./ancestor::form").submit()
        wait(agent).until(lambda d: "open" in d.find_element(By.ID, "my-requests").text)
        shot(agent, "agent-page")
        # The supervisor sees the request on the board and approves it: the ban is theirs.
        login(supervisor, base, "sup", PASSWORD)
        row = supervisor.find_element(By.ID, "block-requests")
        assert "threatened to come to the office" in row.text and "anna" in row.text
        shot(supervisor, "board-block-request")
        row.find_element(By.CSS_SELECTOR, "button.approve").click()
        wait(supervisor).until(EC.presence_of_element_located((By.ID, "live-table")))
        assert not supervisor.find_elements(By.ID, "block-requests")
        ban = (await store.screening.load_caller(N)).ban
        assert ban is not None and ban.actor == "web:sup"
        agent.refresh()
        assert "approved" in agent.find_element(By.ID, "my-requests").text
        shot(agent, "agent-page-approved")
        # The agent's account is in the incident the supervisor opens.
        supervisor.get(f"{base}/incidents/{iid}")
        assert "I know where you live" in supervisor.find_element(By.TAG_NAME, "main").text
