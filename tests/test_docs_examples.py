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
