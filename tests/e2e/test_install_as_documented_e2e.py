"""The dialplan installed word for word as dialplan/README.md says (sections 1, 2 and 4), with and
without the optional secret file (section 6), on a real Asterisk 22 of its own: the PBX's own
route (``[from-trunk]``) is there at start, after ``dialplan reload`` and after a restart.

An ``#include`` of a file that does not exist makes Asterisk drop the whole extensions.conf at
start (0 extensions), so a README that hands one out would wipe every route of the PBX.
"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from tests.e2e.test_check_e2e import check
from tests.support.asterisk import REPO, Asterisk
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.asterisk]

README = (REPO / "dialplan" / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of one '## N. title' section of dialplan/README.md."""
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def blocks(text: str) -> list[str]:
    """The fenced code blocks of a README section, in order."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


class AsDocumented(Asterisk):
    """The test PBX, but its extensions.conf and features.conf are the README's blocks, with the
    paths of a real PBX (/etc/asterisk, /usr/share/asterisk/sounds) pointing into the instance."""

    with_secret: bool = False

    def to_instance(self, text: str, host: bool) -> str:
        base = str(self.host_base) if host else self.base
        return text.replace("/etc/asterisk/", f"{base}/etc/").replace(
            "/usr/share/asterisk/sounds/", f"{base}/data/sounds/"
        )

    def write_config(self) -> None:
        super().write_config()
        etc = self.host_base / "etc"
        # Section 1: the shell lines, run as written (paths into this instance).
        for line in blocks(section("1. Files"))[0].splitlines():
            subprocess.run(shlex.split(self.to_instance(line, host=True)), cwd=REPO, check=True)
        # Section 2: extensions.conf is the README's block (the address of this test's FastAGI port).
        extensions = self.to_instance(blocks(section("2. extensions.conf"))[0], host=False)
        extensions = extensions.replace("agi://127.0.0.1:4573", f"agi://127.0.0.1:{self.agi_port}")
        (etc / "extensions.conf").write_text(extensions)
        # Section 4: features.conf's applicationmap.
        features = self.to_instance(blocks(section("4. Agents' feature codes"))[0], host=False)
        (etc / "features.conf").write_text("[general]\n[featuremap]\n" + features)
        secret_file = etc / "grenswacht" / "secret.conf"
        if self.with_secret:  # section 6's line that writes it
            secret_file.write_text(f"GRENSWACHT_AGI_SECRET={self.agi_secret}\n")
        else:
            secret_file.unlink(missing_ok=True)


@pytest.fixture(params=["without the secret file", "with the secret file"])
def pbx(request, asterisk_root):
    ast = AsDocumented(root=asterisk_root, agi_port=free_port())
    ast.with_secret = request.param == "with the secret file"
    if ast.with_secret:
        ast.agi_secret = "0123456789abcdef0123"
    yield ast
    ast.cleanup()


def routes(ast: Asterisk, context: str) -> str:
    return ast.rx(f"dialplan show {context}")


def test_the_pbx_keeps_its_own_routes_installed_as_the_readme_says(pbx):
    # The README still hands out the optional file under [globals], and the route it shows.
    text = section("2. extensions.conf")
    assert "/etc/asterisk/grenswacht/secret.conf" in text and "[from-trunk]" in text
    pbx.start()
    for when in ("at start", "after dialplan reload", "after a restart"):
        if when == "after dialplan reload":
            pbx.rx("dialplan reload")
        elif when == "after a restart":
            pbx.stop()
            pbx.start()
        own = routes(pbx, "from-trunk")
        assert "'_X.' =>" in own and "Gosub(grenswacht-screen,s,1(${EXTEN}))" in own, f"{when}:\n{own}"
        assert "Queue(support)" in own, when
        assert "'s' =>" in routes(pbx, "grenswacht-screen"), when
        globals_ = pbx.rx("dialplan show globals")
        if pbx.with_secret:
            assert f"GRENSWACHT_AGI_SECRET={pbx.agi_secret}" in globals_, when
        else:
            assert "GRENSWACHT_AGI_SECRET" not in globals_, when
    # The feature codes of section 4 are loaded too.
    assert "grenswacht-endlog" in pbx.rx("features show")


def test_an_include_of_a_missing_file_would_wipe_the_pbx(asterisk_root, tmp_path, redis_server):
    """Why the README says #tryinclude: the same install with #include and no secret file loses
    the PBX's own route (this test keeps the reason visible, and fails if Asterisk ever changes)."""

    class WithInclude(AsDocumented):
        def write_config(self) -> None:
            super().write_config()
            conf = self.host_base / "etc" / "extensions.conf"
            conf.write_text(conf.read_text().replace("#tryinclude", "#include"))

    ast = WithInclude(root=asterisk_root, agi_port=free_port())
    try:
        ast.start()
        assert "#include /gw-run/" in (ast.host_base / "etc" / "extensions.conf").read_text()
        assert "'_X.' =>" not in routes(ast, "from-trunk")
        # `grenswacht check` says what happened, not that an include of Grenswacht's is missing.
        out = check(tmp_path, ast, redis_server.url, strict=False)
        assert out.returncode == 2
        assert out.stderr.startswith(
            "grenswacht: the dialplan on Asterisk is empty, the PBX's own routes included, so "
            "extensions.conf did not load"
        )
    finally:
        ast.cleanup()
