"""Background jobs of the after-care path, started by the service."""

from __future__ import annotations

import asyncio

import structlog

from agi.aftercare import cooldown
from agi.aftercare.journal import Journal
from agi.ami.client import AmiClient

log = structlog.get_logger("grenswacht.jobs")

JOURNAL_REPLAY_SECONDS = 2.0


async def replay_loop(deps) -> None:
    """Replay the journal at start and whenever it holds something, until Redis takes it."""
    while True:
        if deps.journal.pending():
            stored = await deps.journal.replay(deps.store)
            if stored:
                log.info("journal-replay", stored=stored, left=deps.journal.pending())
        await asyncio.sleep(JOURNAL_REPLAY_SECONDS)


def start(deps) -> list:
    """Wire up the after-care dependencies and return the coroutines to run."""
    cfg = deps.config
    if deps.journal is None:
        deps.journal = Journal(cfg.storage.journal_path)
    jobs = [replay_loop(deps)]
    if deps.ami is None and cfg.ami.secret:
        host, port = cfg.ami.host_port
        deps.ami = AmiClient(host, port, cfg.ami.username, cfg.ami.secret, reconnect_max=cfg.ami.reconnect_max_seconds)
        jobs.append(deps.ami.connect())
    elif deps.ami is None:
        log.warning("ami-not-configured", hint="set GRENSWACHT_AMI_SECRET to enable cool-down pauses and UserEvents")
    jobs.append(cooldown.scheduler(deps))
    return jobs
