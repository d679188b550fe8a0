"""Console user accounts: argon2 password hashes in Redis; roles agent, supervisor and admin (issue 29)."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import secrets
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agi.actions.bounds import actor_name
from agi.actions.errors import ActionError
from agi.config import Config
from agi.logs import get_logger
from redis_schema.logins import Attempt, Limits, Lockout, address_key
from redis_schema.records import User
from redis_schema.store import Store

log = get_logger("grenswacht.users")

ROLES = ("supervisor", "admin", "agent")
# What each role may open (console.app checks it on every request): an agent only their own page.
RANK = {"agent": 0, "supervisor": 1, "admin": 2}
# A dial string as Asterisk's Dial() and Originate take it: TECH/resource, e.g. PJSIP/1005,
# Local/1005@phones/n; no arguments, options or dialplan-special characters.
_DIAL = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.+@-]{1,80}(/n)?$")
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


def may(role: str, needed: str) -> bool:
    """Whether a user of ``role`` may open a page for ``needed`` (agent < supervisor < admin)."""
    return RANK.get(role, -1) >= RANK[needed]


def dial_string(raw: str, what: str = "phone") -> str:
    """A dial string (PJSIP/1005), or ActionError with one sentence."""
    value = raw.strip()
    if not _DIAL.match(value):
        raise ActionError(
            f"{what} {value[:40]!r} is not a dial string such as PJSIP/1005 (technology/resource, no options)."
        )
    return value


def interfaces_of(role: str, raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """An agent's interfaces: at least one, each a dial string; no other role has any."""
    found = tuple(dict.fromkeys(dial_string(i, "interface") for i in raw if i.strip()))
    if role == "agent" and not found:
        raise ActionError("an agent needs at least one interface, such as PJSIP/1001.")
    if role != "agent" and found:
        raise ActionError("only an agent has interfaces.")
    return found


async def add(
    store: Store,
    name: str,
    role: str,
    password: str,
    actor: str,
    now: float,
    *,
    phone: str = "",
    interfaces: list[str] | tuple[str, ...] = (),
) -> User:
    actor, name = actor_name(actor), user_name(name)
    if role not in ROLES:
        raise ActionError(f"the role must be {', '.join(ROLES[:-1])} or {ROLES[-1]}.")
    phone = dial_string(phone) if phone.strip() else ""
    ifaces = interfaces_of(role, interfaces)
    if await store.users.get(name) is not None:
        raise ActionError(f"user {name} already exists.")
    pw_hash = await asyncio.to_thread(_hasher.hash, _password(password))
    user = User(name, role, fresh_generation(), now, actor, pw_hash, phone, ifaces)
    await store.users.put(user.name, user)
    await store.streams.audit(actor, "user-add", now, user=name, role=role, phone=phone, interfaces=" ".join(ifaces))
    return user


async def set_phone(store: Store, name: str, phone: str, actor: str, now: float) -> User:
    """Give a user a phone (or none, with ""): the dial string a listen-in rings."""
    actor, name = actor_name(actor), user_name(name)
    phone = dial_string(phone) if phone.strip() else ""
    user = await get(store, name)
    if user is None:
        raise ActionError(f"there is no user {name}.")
    new = replace(user, phone=phone)
    await store.users.put(new.name, new)
    await store.streams.audit(actor, "user-phone", now, user=name, phone=phone)
    return new


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
    new = replace(user, gen=user.gen + 1, hash=pw_hash)
    await store.users.put(new.name, new)
    await store.streams.audit(actor, "user-passwd", now, user=name)


async def remove(store: Store, name: str, actor: str, now: float) -> None:
    actor, name = actor_name(actor), user_name(name)
    if not await store.users.remove(name):
        raise ActionError(f"there is no user {name}.")
    await store.second_factors.remove(name)  # issue 30: their second factor and settings go with them
    await store.preferences.remove(name)
    await store.streams.audit(actor, "user-remove", now, user=name)


async def verify(store: Store, name: str, password: str) -> User | None:
    """The user if the password is right; None otherwise (same cost whether or not the user exists)."""
    user = await get(store, name.strip().lower()) if _NAME.match(name.strip().lower()) else None
    try:
        await asyncio.to_thread(_hasher.verify, user.hash if user else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    return user


# ---- logging in: the throttle, the audit trail, lifting a lockout ------------------------------
@dataclass(frozen=True)
class Login:
    """A login's outcome: the user, or why not (refused by a limit before the password was checked,
    or a wrong password; ``locked`` names the limit this failure reached)."""

    user: User | None
    refused_by: str = ""
    locked: str = ""
    code_due: bool = False  # issue 30: the password was right; the second factor's code is still due


def login_limits(config: Config) -> Limits:
    web = config.web
    return Limits(
        web.max_failed_logins,
        max(web.max_failed_logins, web.max_failed_logins_per_account),
        max(web.max_failed_logins, web.max_failed_logins_per_address),
        web.lockout_minutes * 60,
    )


def _typed_name(raw: str) -> str:
    """A typed user name as the throttle counts it and the audit trail shows it (one printable line)."""
    name = raw.strip().lower()[:64]
    return name if name.isprintable() else "".join(ch for ch in name if ch.isprintable())


async def login(store: Store, config: Config, raw_name: str, password: str, address: str, now: float) -> Login:
    """Check a password, counted first by one atomic step (``Logins.attempt``): of any number of
    attempts sent at once, no more than the limit get their password checked. Failures and
    lockouts go into the audit trail and the log with the source address."""
    name, where = _typed_name(raw_name), address_key(address)
    limits = login_limits(config)
    attempt = await store.logins.attempt(name, where, limits)
    if not attempt.allowed:
        log.warning("console-login-throttled", user=name, address=address, limit=attempt.refused_by)
        return Login(None, refused_by=attempt.refused_by)
    user = await verify(store, name, password)
    actor = f"web:{name or '?'}"
    if user is None:
        return await failed(store, limits, attempt, name, address, now)
    if await store.second_factors.enrolled(user.name):  # issue 30: the attempt stays counted until the code
        return Login(user, code_due=True)
    await store.logins.succeeded(name, where)
    await store.streams.audit(actor, "login", now, address=address)
    return Login(user)


async def failed(
    store: Store, limits: Limits, attempt: Attempt, name: str, address: str, now: float, what: str = "login-failed"
) -> Login:
    """A wrong password (or second-factor code, ``what``): in the log and the audit trail with the
    address, and the lockout this failure reached, if any."""
    actor = f"web:{name or '?'}"
    log.info("console-" + what, user=name, address=address)
    await store.streams.audit(actor, what, now, address=address)
    locked = attempt.locks(limits)
    if locked:
        log.warning("console-login-lockout", user=name, address=address, limit=locked, minutes=limits.window // 60)
        await store.streams.audit(
            actor, "login-lockout", now, address=address, limit=locked, minutes=limits.window // 60
        )
    return Login(None, locked=locked)


async def lockouts(store: Store, config: Config) -> list[Lockout]:
    return await store.logins.lockouts(login_limits(config))


async def unlock(store: Store, target: str, actor: str, now: float) -> bool:
    """Lift a login lockout: of an account (its failures from every address) or of an address.
    False when there was nothing to lift."""
    actor, target = actor_name(actor), target.strip()
    try:  # an address, or an IPv6 /64 as the admin page shows it
        address = str(ipaddress.ip_network(target, strict=False).network_address)
    except ValueError:
        name = user_name(target)
        done = await store.logins.unlock_account(name)
        what = {"user": name}
    else:
        done = await store.logins.unlock_address(address)
        what = {"address": address_key(address)}
    if done:
        await store.streams.audit(actor, "login-unlock", now, **what)
    return done
