"""The composition root (agi.wiring): one configuration holder shared by every part, swapped once on reload."""

from __future__ import annotations

from pathlib import Path

from agi.config import load_config
from agi.service import Service
from tests.support.redis_server import free_port


def write(path: Path, redis_url: str, journal: Path, body: str = "", port: int = free_port()) -> None:
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n[agi]\nlisten = "127.0.0.1:{port}"\n'
        f'[storage]\njournal_path = "{journal}"\n[ami]\naddress = "127.0.0.1:1"\n{body}'
    )


async def test_every_part_reads_one_config_holder_and_a_reload_swaps_it_once(tmp_path, redis_server):
    cfg, journal = tmp_path / "gw.toml", tmp_path / "j.jsonl"
    write(cfg, redis_server.url, journal)
    svc = Service(load_config(cfg, env={"GRENSWACHT_AMI_SECRET": "s" * 20}), config_path=str(cfg))
    try:
        settings = svc.deps.settings
        assert svc.placer is not None
        assert svc.deps.logbook.settings is settings and svc.placer.settings is settings
        assert svc.placer.rules.attempts == 3
        write(cfg, redis_server.url, journal, "[callbacks]\nattempts = 7\n[aftercare]\ncooldown_seconds = 45\n")
        assert svc.reload() is True
        assert svc.deps.settings is settings  # the same holder, its content swapped
        assert svc.config is svc.deps.config is svc.deps.logbook.config is svc.placer.config is settings.current
        assert svc.placer.rules.attempts == 7 and svc.deps.logbook.config.aftercare.cooldown_seconds == 45
    finally:
        await svc.deps.store.close()
