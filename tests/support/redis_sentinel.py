"""A real Redis Sentinel set (one primary, one replica, three sentinels) on free loopback ports."""

from __future__ import annotations

import subprocess
import time

from tests.support.redis_cluster import redis_cli
from tests.support.redis_server import RedisServer

SERVICE = "grenswacht"
DURABLE = ("--appendonly", "yes", "--appendfsync", "always", "--repl-diskless-sync-delay", "0")


class Sentinel(RedisServer):
    """One ``redis-server --sentinel`` watching ``primary_port`` as ``service`` (stopped like a RedisServer)."""

    def __init__(self, service: str, primary_port: int):
        super().__init__()
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 5000\n"
            f"sentinel parallel-syncs {service} 1\n"
        )

    def start(self) -> Sentinel:
        self.proc = subprocess.Popen(
            [self.binary, str(self.conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while "PONG" not in redis_cli(self.port, "ping"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis sentinel did not start on port {self.port}")
            time.sleep(0.05)
        return self


class SentinelSet:
    """``start()`` a primary, its replica and three sentinels watching it as ``SERVICE``;
    ``cleanup()`` leaves no process or directory behind."""

    def __init__(self, service: str = SERVICE):
        self.service = service
        self.primary = RedisServer(extra_args=DURABLE)
        self.replica = RedisServer(extra_args=DURABLE + ("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.watchers = [Sentinel(service, self.primary.port) for _ in range(3)]
        self.sentinel_ports = [w.port for w in self.watchers]

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, self.replica]

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.sentinel_ports]

    def start(self) -> SentinelSet:
        try:
            self.primary.start()
            self.replica.start()
            for watcher in self.watchers:
                watcher.start()
            self.wait_ready()
        except BaseException:
            self.cleanup()
            raise
        return self

    def primary_port(self, sentinel: int = 0) -> int | None:
        out = redis_cli(self.sentinel_ports[sentinel], "sentinel", "get-master-addr-by-name", self.service).split()
        return int(out[1]) if len(out) == 2 and out[1].isdigit() else None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every sentinel names the same primary and knows the replica and the other sentinels."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ports = {self.primary_port(i) for i in range(3)}
                info = redis_cli(self.sentinel_ports[0], "sentinel", "master", self.service)
                fields = dict(zip(info.split()[::2], info.split()[1::2]))
                if (
                    len(ports) == 1
                    and None not in ports
                    and fields.get("num-slaves") == "1"
                    and fields.get("num-other-sentinels") == "2"
                    and "master_link_status:up" in redis_cli(self.replica.port, "info", "replication")
                ):
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the Sentinel set did not become ready")

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def failover(self) -> None:
        """``SENTINEL FAILOVER``: the replica becomes the primary (the old one a replica)."""
        redis_cli(self.sentinel_ports[0], "sentinel", "failover", self.service)

    def cleanup(self) -> None:
        for server in (*self.watchers, *self.servers):
            server.cleanup()
