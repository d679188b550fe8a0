"""A real Redis Cluster (three primaries, three replicas) on free loopback ports, for the tests."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time

from tests.support.redis_server import RedisServer

CLUSTER_ARGS = (
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "1000",
    "--cluster-replica-validity-factor",
    "0",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--repl-diskless-sync-delay",
    "0",
)


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too (Redis wants the port <= 55535)."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


def redis_cli(port: int, *args: str, timeout: float = 10.0) -> str:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is not installed; run scripts/setup (apt-get install redis-server)")
    done = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True, timeout=timeout
    )
    return done.stdout


class RedisClusterSet:
    """``start()`` six cluster-enabled servers, joins them with ``redis-cli --cluster create``, waits
    until every node says ``cluster_state:ok``; ``cleanup()`` leaves no process or directory."""

    def __init__(self, primaries: int = 3):
        self.nodes = [RedisServer(pick=cluster_port, extra_args=CLUSTER_ARGS) for _ in range(primaries * 2)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisClusterSet:
        try:
            for node in self.nodes:
                node.extra_args += ("--cluster-config-file", str(node.dir / "nodes.conf"))
                node.start()
            out = redis_cli(
                self.nodes[0].port,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
                timeout=60,
            )
            if "[OK] All 16384 slots covered" not in out:
                raise RuntimeError(f"redis-cli --cluster create failed: {out[-500:]}")
            self.wait_ok()
        except BaseException:
            self.cleanup()
            raise
        return self

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node reports cluster_state:ok, knows one primary per slot range, and
        every replica is in sync with its primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [n for n in self.nodes if n.proc is not None]
            if (
                all("cluster_state:ok" in redis_cli(n.port, "cluster", "info") for n in alive)
                and all(len(self.primaries_of(n.port)) == len(self.nodes) // 2 for n in alive)
                and all(
                    "role:master" in info or "master_link_status:up" in info
                    for info in (redis_cli(n.port, "info", "replication") for n in alive)
                )
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def primaries_of(self, port: int) -> list[int]:
        """Ports of the primaries with slots, as node ``port`` sees them (not failed ones)."""
        found = []
        for line in redis_cli(port, "cluster", "nodes").splitlines():
            parts = line.split()
            if len(parts) > 8 and "master" in parts[2] and "fail" not in parts[2]:
                found.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        return found

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def primary_for(self, key: str) -> RedisServer:
        slot = int(redis_cli(self.nodes[0].port, "cluster", "keyslot", key).strip())
        for line in redis_cli(self.nodes[0].port, "cluster", "nodes").splitlines():
            parts = line.split()
            if "master" in parts[2] and "fail" not in parts[2]:
                for rng in parts[8:]:
                    lo, _, hi = rng.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return self.node(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        raise RuntimeError(f"no primary holds the slot of {key!r}")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        node_id = redis_cli(primary.port, "cluster", "myid").strip()
        for line in redis_cli(primary.port, "cluster", "nodes").splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[3] == node_id and "fail" not in parts[2]:
                return self.node(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        raise RuntimeError(f"primary on {primary.port} has no replica")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
