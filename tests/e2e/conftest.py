"""Session fixtures for the end-to-end tests: Redis + Grenswacht + a real Asterisk 22."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from agi.service import Service
from tests.conftest import make_config
from tests.support.asterisk import DEFAULT_ROOT, AmiObserver, Asterisk
from tests.support.redis_server import free_port


@pytest.fixture(scope="session")
def asterisk_root() -> Path:
    root = Path(DEFAULT_ROOT)
    if not (root / "usr/sbin/asterisk").exists():
        # Never skip: the suite's own setup provisions Asterisk (scripts/provision-asterisk).
        raise RuntimeError(f"no Asterisk root at {root}: run scripts/setup (or scripts/provision-asterisk) first")
    return root


@pytest.fixture(scope="session")
def agi_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def asterisk(asterisk_root, agi_port):
    ast = Asterisk(root=asterisk_root, agi_port=agi_port, agents=("1001", "1002"))
    ast.start()
    yield ast
    ast.cleanup()


@pytest.fixture(scope="session")
def e2e_config(redis_server, asterisk, agi_port, tmp_path_factory):
    journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    return make_config(
        redis_server.url,
        agi={"listen": f"127.0.0.1:{agi_port}", "secret": asterisk.use_agi_secret()},
        routing={"senior_destination": "Local/senior@seniors"},
        ami={"address": f"127.0.0.1:{asterisk.ami_port}", "username": asterisk.ami_user, "secret": asterisk.ami_secret},
        aftercare={"cooldown_seconds": 3},
        storage={"journal_path": str(journal)},
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def grenswacht(e2e_config):
    svc = Service(e2e_config)
    await svc.start()
    yield svc
    await svc.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ami(asterisk):
    obs = await AmiObserver(asterisk).connect()
    yield obs
    obs.close()


@pytest_asyncio.fixture(loop_scope="session")
async def e2e(grenswacht, ami, asterisk, store, rdb):
    """A clean store before each call; every channel hung up after."""
    await rdb.flushdb()
    journal = grenswacht.deps.logbook.journal  # without Redis persistence it keeps incidents
    for iid in list(journal.entries):  # for days; each test starts from nothing
        await journal.note({"op": "drop", "id": iid})
    await unpause_all(asterisk, ami)
    ami.reset()
    asterisk.mark_log()
    yield grenswacht
    asterisk.rx("channel request hangup all")
    await unpause_all(asterisk, ami)


async def unpause_all(asterisk, ami) -> None:
    """A cool-down still running when the next test empties Redis would never end: every test
    starts (and ends) with every agent unpaused in every queue."""
    for agent in asterisk.agents:
        for queue in ("support", "sales"):
            await ami.action(Action="QueuePause", Interface=f"Local/{agent}@agents/n", Queue=queue, Paused="false")
