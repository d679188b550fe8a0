"""Every `$ grenswacht ...` example in README.md and docs/cli.md runs, in order, against a real Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def console_blocks(path: Path) -> list[str]:
    text = path.read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return ["\n".join(l[2:] for l in b.splitlines() if l.startswith("$ ")) for b in blocks]


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_documented_examples_run(doc, tmp_path, redis_server, store):
    blocks = console_blocks(REPO / doc)
    assert blocks, f"{doc} has no console examples"
    cfg = tmp_path / "grenswacht.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n')
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = dict(os.environ, GRENSWACHT_CONFIG=str(cfg), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr


def config_table(text: str) -> dict[str, tuple[set[str], set[str]]]:
    """README's configuration table: section -> (keys, environment variables). A key is a backticked
    name outside parentheses; text in parentheses (defaults, values, remarks) is not one."""
    body = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, tuple[set[str], set[str]]] = {}
    for line in body.splitlines():
        row = re.fullmatch(r"\| `\[([a-z_.A-Z]+)\]` \| (.*) \|", line)
        if not row:
            continue
        cell = row.group(2)
        while re.search(r"\([^()]*\)", cell):
            cell = re.sub(r"\([^()]*\)", "", cell)
        names = set(re.findall(r"`([^`]+)`", cell))
        out[row.group(1)] = ({n for n in names if n.islower()}, {n for n in names if n.isupper()})
    return out


def test_readme_config_table_matches_the_config_model():
    from collections.abc import Mapping
    from typing import get_args

    from pydantic import BaseModel

    from agi.config import SECRETS, Config

    secrets = {(section, key): var for section, key, var in SECRETS}
    table = config_table((REPO / "README.md").read_text())
    want: dict[str, tuple[set[str], set[str]]] = {}
    for name, field in Config.model_fields.items():
        model = field.annotation
        if get_args(model) and issubclass(getattr(model, "__origin__", object), Mapping):
            model = get_args(model)[1]  # [protocols.NAME]; [dids] maps numbers to names
            name = f"{name}.NAME" if isinstance(model, type) and issubclass(model, BaseModel) else name
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        section = name.removesuffix(".NAME")
        want[name] = (
            {k for k, f in fields.items() if not f.exclude},
            {secrets[(section, k)] for k, f in fields.items() if f.exclude},
        )
    assert table.keys() == want.keys()
    for section, (keys, env) in want.items():
        assert table[section] == (keys, env), section
