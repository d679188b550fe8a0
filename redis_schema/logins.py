"""Console logins: the failed-login throttle (one Lua script that checks and counts in one step)
and the server-side sessions that logging out ends.

Key templates are in :mod:`redis_schema.keys` (``login_account``, ``login_address``,
``session``); the layout is in SCHEMA.md. The throttle's keys share the ``{login}`` hash tag:
its script touches an account's and an address's key at once, which a Redis Cluster allows
only within one slot.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from importlib import resources
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from redis_schema import keys

Client = Redis | RedisCluster

# Which limit refused an attempt (the script's answer), as the log and the audit trail name it.
LIMITS = {1: "account-and-address", 2: "account", 3: "address"}


def address_key(host: str) -> str:
    """The address a failure counts against: an IPv4 address itself, an IPv6 address's /64 (one
    host usually holds a whole /64, so counting single addresses would let it try on for ever)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Limits:
    """Failures before logins are refused, and for how long (seconds) after the last one."""

    per_account_and_address: int
    per_account: int
    per_address: int
    window: int


@dataclass(frozen=True)
class Attempt:
    """The throttle's answer: allowed (counted) or refused, and by which limit."""

    allowed: bool
    refused_by: str = ""
    counts: tuple[int, int, int] = (0, 0, 0)  # after this attempt: account and address, account, address

    def locks(self, limits: Limits) -> str:
        """The limit this attempt reached if its password turns out wrong ('' for none): a lockout."""
        reached = (
            self.counts[0] >= limits.per_account_and_address,
            self.counts[1] >= limits.per_account,
            self.counts[2] >= limits.per_address,
        )
        return next((LIMITS[i + 1] for i, hit in enumerate(reached) if hit), "")


@dataclass(frozen=True)
class Lockout:
    """A lock an admin may lift: an account (from one or every address) or an address."""

    kind: str  # "account" or "address"
    name: str
    failures: int
    seconds_left: int


class Logins:
    """The failed-login throttle: per account and address, per account, per address."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis
        self._script = redis.register_script(
            resources.files("redis_schema").joinpath("lua/login_attempt.lua").read_text("utf-8")
        )

    async def attempt(self, account: str, address: str, limits: Limits) -> Attempt:
        """Count one attempt before its password is checked; refused when a limit is reached."""
        got = cast(
            list[int],
            await self._script(
                keys=[keys.login_account(account), keys.login_address(address)],
                args=[
                    address,
                    limits.per_account_and_address,
                    limits.per_account,
                    limits.per_address,
                    limits.window,
                    "try",
                ],
            ),
        )
        if not got[0]:
            return Attempt(False, LIMITS.get(int(got[1]), "?"))
        return Attempt(True, "", (int(got[1]), int(got[2]), int(got[3])))

    async def succeeded(self, account: str, address: str) -> None:
        """The password was right: clear this account's failures from this address, take the attempt back."""
        await self._script(
            keys=[keys.login_account(account), keys.login_address(address)], args=[address, 0, 0, 0, 0, "ok"]
        )

    async def lockouts(self, limits: Limits) -> list[Lockout]:
        """Accounts and addresses at a limit now (for the admin page); a few keys, in one slot."""
        found: list[Lockout] = []
        async for key in self._redis.scan_iter(match=keys.LOGIN_SCAN, count=1000):
            ttl = int(await self._redis.ttl(key))
            kind, _, name = key[len(keys.LOGIN_PREFIX) :].partition(":")
            if kind == "account":
                fields = cast(dict[str, str], await self._redis.hgetall(key))
                worst = max((int(v) for f, v in fields.items() if f.startswith("a:")), default=0)
                total = int(fields.get("all", 0))
                if worst >= limits.per_account_and_address or total >= limits.per_account:
                    found.append(Lockout("account", name, total, ttl))
            elif kind == "address":
                count = int(cast(str, await self._redis.get(key)) or 0)
                if count >= limits.per_address:
                    found.append(Lockout("address", name, count, ttl))
        return sorted(found, key=lambda lock: (lock.kind, lock.name))

    async def unlock_account(self, account: str) -> bool:
        """Forget every failure of an account (from any address); False when there were none."""
        return bool(await self._redis.delete(keys.login_account(account)))

    async def unlock_address(self, address: str) -> bool:
        """Forget every failure from an address (an IPv6 address: from its /64)."""
        return bool(await self._redis.delete(keys.login_address(address_key(address))))


def _session_key(sid: str) -> str:
    """A session's key names the SHA-256 of its id: reading Redis does not give a usable cookie."""
    return keys.session(hashlib.sha256(sid.encode()).hexdigest())


@dataclass(frozen=True)
class Session:
    user: str
    gen: int
    last_seen: float


class Sessions:
    """Server-side console sessions: a hash per session, expiring after the idle limit (and
    removed by logging out), so a cookie saved earlier opens nothing once its session ended."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    async def start(self, sid: str, user: str, gen: int, now: float, idle_seconds: int) -> None:
        key = _session_key(sid)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"u": user, "g": str(gen), "t": repr(now)})
            pipe.expire(key, idle_seconds)
            await pipe.execute()

    async def get(self, sid: str) -> Session | None:
        raw = cast(dict[str, str], await self._redis.hgetall(_session_key(sid)))
        try:
            return Session(raw["u"], int(raw["g"]), float(raw["t"]))
        except (KeyError, ValueError):
            return None

    async def touch(self, sid: str, now: float, idle_seconds: int) -> None:
        """Activity: the idle limit counts from now (only for a session that still exists)."""
        key = _session_key(sid)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, "t", repr(now))  # re-creates a just-ended one as a stub without a user: never valid
            pipe.expire(key, idle_seconds)
            await pipe.execute()

    async def end(self, sid: str) -> None:
        await self._redis.delete(_session_key(sid))
