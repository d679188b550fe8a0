"""Issue 30: `grenswacht agents name|list|unname`, the same functions as the admin page; audited,
bad input one sentence and exit code 2; the names shown in `incidents list` and the police report."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from agi.actions import police
from agi.engine import Incident
from tests.support.cli import run_cli


@pytest.fixture
def conf(config, tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(f'[redis]\nurl = "{config.redis.url}"\n')
    return path


async def test_name_list_and_remove_an_agent(store, conf):
    r = run_cli(["agents", "name", "PJSIP/1003", "Anne de Vries", "--actor", "piet", "--config", conf])
    assert r.returncode == 0 and r.stdout.strip() == "PJSIP/1003: shown as Anne de Vries", r.stderr
    listed = run_cli(["agents", "list", "--json", "--config", conf])
    assert json.loads(listed.stdout) == [{"interface": "PJSIP/1003", "name": "Anne de Vries"}]
    await store.incidents.add_incident(
        Incident.new("+31612345678", "abuse", time.time(), agent="PJSIP/1003", source="cli")
    )
    assert "Anne de Vries (PJSIP/1003)" in run_cli(["incidents", "list", "--config", conf]).stdout
    assert run_cli(["agents", "unname", "PJSIP/1003", "--actor", "piet", "--config", conf]).returncode == 0
    assert await store.agent_names.all() == {}
    audit = [(e["actor"], e["action"], e["interface"]) for e in await store.streams.audit_entries()]
    assert audit == [("piet", "agent-name", "PJSIP/1003"), ("piet", "agent-unname", "PJSIP/1003")]


@pytest.mark.parametrize(
    "args",
    [
        ["name", "1003", "Anne"],  # not an interface
        ["name", "PJSIP/1003", "A" * 65],  # too long
        ["name", "PJSIP/1003", "Anne\nde Vries"],  # a line break
        ["name", "PJSIP/1003", "Anne\x1b[31m"],  # a control character
        ["unname", "PJSIP/1004"],  # has no name
    ],
)
async def test_bad_input_is_one_sentence_and_exit_code_2(store, conf, args):
    r = run_cli(["agents", *args, "--config", conf])
    assert r.returncode == 2 and r.stdout == "" and r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert await store.agent_names.all() == {}


def test_the_police_report_names_the_agent_and_the_caller(config, tmp_path):
    inc = Incident.new("+31612345678", "threat", time.time(), agent="PJSIP/1003", caller_name="Jan Jansen")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(police.report_pdf(config, inc, [], None, "sup1", time.time(), "Anne de Vries"))
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "Staff member (extension): Anne de Vries (PJSIP/1003)" in text
    assert "Caller's name (as the caller ID showed it): Jan Jansen" in text
