"""Console user accounts: argon2 password hashes in Redis, roles supervisor and admin."""

from __future__ import annotations

import asyncio
import functools
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agi.actions.bounds import actor_name
from agi.actions.errors import ActionError
from redis_schema.records import User
from redis_schema.store import Store

ROLES = ("supervisor", "admin")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the user does not exist takes as long as for a real user.
    Made on first use: an argon2 hash costs a third of a second, which every CLI command paid
    at import."""
    return _hasher.hash("grenswacht-no-such-user")


def user_name(raw: str) -> str:
    name = raw.strip().lower()
    if not _NAME.match(name):
        raise ActionError(f"{raw!r} is not a user name (2 to 32 of a-z, 0-9, '.', '_' or '-').")
    return name


def _password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ActionError(f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long.")
    return password


def fresh_generation() -> int:
    """A new account's session generation: random, so a session of an earlier account of the same
    name (removed, then added again) never matches it. Below 2**53: exact in any JSON reader."""
    return secrets.randbelow(2**53)


async def add(store: Store, name: str, role: str, password: str, actor: str, now: float) -> User:
    actor, name = actor_name(actor), user_name(name)
    if role not in ROLES:
        raise ActionError(f"the role must be {' or '.join(ROLES)}.")
    if await store.users.get(name) is not None:
        raise ActionError(f"user {name} already exists.")
    user = User(name, role, fresh_generation(), now, actor, await asyncio.to_thread(_hasher.hash, _password(password)))
    await store.users.put(user.name, user)
    await store.streams.audit(actor, "user-add", now, user=name, role=role)
    return user


async def list_users(store: Store) -> list[User]:
    return sorted((await store.users.all()).values(), key=lambda u: u.name)


async def get(store: Store, name: str) -> User | None:
    return await store.users.get(name)


async def passwd(store: Store, name: str, password: str, actor: str, now: float) -> None:
    actor, name = actor_name(actor), user_name(name)
    user = await get(store, name)
    if user is None:
        raise ActionError(f"there is no user {name}.")
    pw_hash = await asyncio.to_thread(_hasher.hash, _password(password))
    new = User(name, user.role, user.gen + 1, user.created_at, user.created_by, pw_hash)
    await store.users.put(new.name, new)
    await store.streams.audit(actor, "user-passwd", now, user=name)


async def remove(store: Store, name: str, actor: str, now: float) -> None:
    actor, name = actor_name(actor), user_name(name)
    if not await store.users.remove(name):
        raise ActionError(f"there is no user {name}.")
    await store.streams.audit(actor, "user-remove", now, user=name)


async def verify(store: Store, name: str, password: str) -> User | None:
    """The user if the password is right; None otherwise (same cost whether or not the user exists)."""
    user = await get(store, name.strip().lower()) if _NAME.match(name.strip().lower()) else None
    try:
        await asyncio.to_thread(_hasher.verify, user.hash if user else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    return user
