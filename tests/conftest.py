"""Shared fixtures: a real redis-server for the session, a clean database per test.

Under pytest-xdist every session fixture here is per worker: each worker process has its own
redis-server (and, in tests/e2e, its own Asterisk), so nothing is shared between workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from argon2 import PasswordHasher, profiles
from hypothesis import settings

from agi.actions import users
from agi.config import Config
from agi.service import Service
from agi.wiring import build_store, redis_client
from tests.support.redis_server import RedisServer

# Hypothesis fails an example that takes over 200 ms: a timed assertion, and one that a test run
# sharing the processor with others (pytest-xdist workers, the 3.12/3.13 runs) trips at random.
# The properties are what the tests check; speed targets live in bench/.
settings.register_profile("grenswacht", deadline=None)
settings.load_profile("grenswacht")

# Console passwords: the product hashes with argon2's default cost (RFC 9106 low-memory: 64 MiB,
# 3 passes, 4 lanes), about 0.2 s of processor time per hash or check, and the console tests log in
# hundreds of times: minutes of the test command's processor time. The tests check who may log in,
# not how long a guess costs, so they hash at argon2's cheapest cost; a check reads the cost from
# the stored hash, so the console started as a process (tests/console/browser.py) follows.
# tests/test_password_cost.py holds the product's own cost (PRODUCT_HASHER) to the default.
PRODUCT_HASHER = users._hasher
users._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)

_journals: pytest.TempPathFactory | None = None


@pytest.fixture(scope="session", autouse=True)
def _journal_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """make_config's journals go under pytest's own temporary folder (kept for the last few runs
    only, like tmp_path), not into the system's temporary folder for good."""
    global _journals
    _journals = tmp_path_factory


def _new_journal() -> Path:
    if _journals is None:
        raise RuntimeError("make_config is for tests: it needs the pytest session (tests/conftest.py)")
    return _journals.mktemp("journal") / "journal.jsonl"


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.cleanup()


def make_config(redis_url: str, **sections) -> Config:
    """A test configuration: the given Redis, a free port, no AMI, a journal of its own."""
    journal = str(_new_journal())
    data = {
        "redis": {"url": redis_url},
        "agi": {"listen": "127.0.0.1:0"},
        "ami": {"address": "127.0.0.1:1"},
        "storage": {"journal_path": journal},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and name in data:
            data[name].update(value)
        else:
            data[name] = value
    return Config.model_validate(data, context={"ephemeral_ports": True})


@pytest.fixture
def config(redis_server) -> Config:
    return make_config(redis_server.url)


@pytest_asyncio.fixture
async def rdb(config):
    """A Redis client of the test's own (Store keeps its client to itself), to arrange and look."""
    client = redis_client(config)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def store(config, rdb):
    store = build_store(config)
    await rdb.flushdb()  # a Cluster: on every primary
    yield store
    await store.close()


@pytest_asyncio.fixture
async def service(config, store):
    """The FastAGI service on a free port, with its own store connection."""
    svc = Service(config)
    host, port = await svc.start()
    svc.host, svc.port = host, port
    yield svc
    await svc.stop()
