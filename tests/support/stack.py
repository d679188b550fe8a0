"""The whole stack on one machine: redis-server, Asterisk 22, the Grenswacht service, an AMI observer.

Started and torn down in one place for the demo and the benchmark (the end-to-end tests build the
same pieces as pytest fixtures).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from agi.config import Config
from agi.service import Service
from tests.support.asterisk import DEFAULT_ROOT, AmiObserver, Asterisk
from tests.support.redis_server import RedisServer, free_port


@dataclass
class Pbx:
    redis: RedisServer
    asterisk: Asterisk
    service: Service
    ami: AmiObserver


@asynccontextmanager
async def running_pbx(agents: tuple[str, ...], settings: dict, *, with_ami: bool = True):
    """``settings``: configuration sections on top of the stack's own addresses (redis, agi, ami)."""
    redis = RedisServer().start()
    agi_port = free_port()
    ast = Asterisk(root=Path(DEFAULT_ROOT), agi_port=agi_port, agents=agents)
    svc = obs = None
    try:
        ast.start()
        data = {"redis": {"url": redis.url}, "agi": {"listen": f"127.0.0.1:{agi_port}"}, **settings}
        if with_ami:
            data["ami"] = {"address": f"127.0.0.1:{ast.ami_port}", "username": ast.ami_user, "secret": ast.ami_secret}
        config = Config.model_validate(data)
        svc = Service(config)
        await svc.start()
        if svc.deps.ami is not None:
            await svc.deps.ami.wait_connected(10)
        obs = await AmiObserver(ast).connect()
        yield Pbx(redis, ast, svc, obs)
    finally:
        if obs:
            obs.close()
        if svc:
            await svc.stop()
        ast.cleanup()
        redis.cleanup()
