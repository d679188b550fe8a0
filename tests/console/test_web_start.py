"""`grenswacht web` says where it listens, and warns when it listens beyond loopback without TLS."""

from __future__ import annotations

import os
import subprocess

from tests.console.test_users_cli import SCRIPT
from tests.support.redis_server import free_port


def first_lines(tmp_path, redis_url: str, listen: str, extra: str = "", until: str = "web-listening") -> str:
    cfg = tmp_path / "web.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_url}"\n[web]\nlisten = "{listen}"\n{extra}')
    env = dict(os.environ, GRENSWACHT_WEB_SECRET="c" * 40)
    proc = subprocess.Popen(
        [SCRIPT, "--config", str(cfg), "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if until in line or "Traceback" in line:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    return "".join(seen)


def test_plain_http_beyond_loopback_is_warned_about(tmp_path, redis_server):
    port = free_port()
    out = first_lines(tmp_path, redis_server.url, f"0.0.0.0:{port}")
    assert "console-plain-http-beyond-loopback" in out and f"http://0.0.0.0:{port}/" in out


def test_loopback_starts_without_the_warning(tmp_path, redis_server):
    port = free_port()
    out = first_lines(tmp_path, redis_server.url, f"127.0.0.1:{port}")
    assert f"http://127.0.0.1:{port}/" in out and "beyond-loopback" not in out


def test_half_a_tls_setting_is_one_sentence(tmp_path, redis_server):
    cfg = tmp_path / "web.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[web]\nlisten = "127.0.0.1:{free_port()}"\ntls_key = "/x"\n')
    out = subprocess.run([SCRIPT, "--config", str(cfg), "web"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "tls_certificate and web.tls_key go together" in out.stderr
