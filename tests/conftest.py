"""Shared fixtures: a real redis-server for the session, a clean database per test."""

from __future__ import annotations

import tempfile

import pytest
import pytest_asyncio

from agi.config import Config
from agi.service import Service
from agi.wiring import build_store
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.cleanup()


def make_config(redis_url: str, **sections) -> Config:
    """A test configuration: the given Redis, a free port, no AMI, a journal of its own."""
    journal = tempfile.mkdtemp(prefix="gw-journal-") + "/journal.jsonl"
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
async def store(config):
    store = build_store(config)
    await store.redis.flushdb()
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
