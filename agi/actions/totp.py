"""The console's TOTP second factor (issue 30): enrolment, the code at login, reset.

A secret is made by pyotp (RFC 6238: 30-second steps, 6 digits, SHA-1, as every authenticator
app reads an ``otpauth://`` URI), encrypted with Fernet under a key derived from the console's
secret (GRENSWACHT_WEB_SECRET) and only then handed to the store; it is shown once, while it is
enrolled, and never logged. A code is accepted for the step before, the step of and the step
after the moment it is typed, and each step only once (Store.second_factors.use_step). Codes at
login count in the same throttle as passwords (Store.logins): a wrong code is a failed login.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass, replace

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agi.actions import users
from agi.actions.bounds import actor_name
from agi.actions.errors import ActionError
from agi.config import Config
from agi.logs import get_logger
from redis_schema.logins import address_key
from redis_schema.records import User
from redis_schema.store import Store

log = get_logger("grenswacht.users")

ISSUER = "Grenswacht"
STEP = 30  # seconds: RFC 6238's default, what authenticator apps assume
DRIFT = 1  # steps either side of now that are still accepted (a phone's clock, typing time)
PENDING_SECONDS = 15 * 60  # an enrolment not confirmed by then starts again
CODE_SECONDS = 5 * 60  # after a right password, how long the code may take


def _fernet(config: Config) -> Fernet:
    secret = config.web.secret
    if not secret:
        raise ActionError("a second factor needs GRENSWACHT_WEB_SECRET (its secrets are encrypted with it).")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"grenswacht-totp", info=b"totp-secret").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(config: Config, secret: str) -> str:
    return _fernet(config).encrypt(secret.encode()).decode()


def _open(config: Config, sealed: str) -> str:
    try:
        return _fernet(config).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        raise ActionError(
            "the second factor cannot be read (was the web secret changed?): an admin must reset it."
        ) from None


def _code(raw: str) -> str:
    code = "".join(raw.split())[:16]
    if not (len(code) == 6 and code.isdigit()):
        raise ActionError("the code is the 6 digits your authenticator app shows.")
    return code


def matching_step(secret: str, raw_code: str, now: float) -> int | None:
    """The time step whose code ``raw_code`` is (now, or DRIFT steps either side), or None."""
    try:
        code = _code(raw_code)
    except ActionError:
        return None
    totp, here = pyotp.TOTP(secret, interval=STEP), int(now) // STEP
    found = None
    for step in range(here - DRIFT, here + DRIFT + 1):  # every step is compared: no timing difference
        if hmac.compare_digest(totp.at(step * STEP), code):
            found = step
    return found


def required(config: Config, user: User) -> bool:
    """Whether this user must have a second factor (an admin, with ``[web] admin_totp = "required"``)."""
    return config.web.admin_totp == "required" and user.role == "admin"


async def enrolled(store: Store, name: str) -> bool:
    return await store.second_factors.enrolled(name)


@dataclass(frozen=True)
class Status:
    """What the user's /security page shows: enrolled since, or a secret being enrolled (shown
    only until it is confirmed)."""

    enrolled_at: float | None
    required: bool
    secret: str = ""
    uri: str = ""
    qr: str = ""  # the URI as an SVG data: URI


async def status(store: Store, config: Config, user: User) -> Status:
    factor = await store.second_factors.get(user.name)
    if factor is not None:
        return Status(factor.enrolled_at, required(config, user))
    sealed = await store.second_factors.pending(user.name)
    if sealed is None:
        return Status(None, required(config, user))
    secret = _open(config, sealed)
    uri = pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=user.name, issuer_name=ISSUER)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    return Status(None, required(config, user), secret, uri, qr)


async def start(store: Store, config: Config, user: User) -> None:
    """A new secret to enrol (replacing one not yet confirmed); shown until its first code confirms it."""
    if await store.second_factors.enrolled(user.name):
        raise ActionError("you already have a second factor; remove it first.")
    await store.second_factors.set_pending(user.name, _seal(config, pyotp.random_base32()), PENDING_SECONDS)


async def confirm(store: Store, config: Config, user: User, raw_code: str, actor: str, now: float) -> None:
    """The first code from the app: the pending secret becomes the user's second factor (audited)."""
    sealed = await store.second_factors.pending(user.name)
    if sealed is None:
        raise ActionError("there is no second factor being set up (it expires after 15 minutes): start again.")
    _code(raw_code)
    step = matching_step(_open(config, sealed), raw_code, now)
    if step is None:
        raise ActionError("that code is not right: check the time on your phone and try the next code.")
    await store.second_factors.enrol(user.name, sealed, now, step)
    await store.streams.audit(actor_name(actor), "totp-enrol", now, user=user.name)


async def remove_own(
    store: Store, config: Config, user: User, raw_code: str, actor: str, now: float, address: str
) -> None:
    """The user removes their own second factor, proving it with a current code (not if required).
    The code is counted by the login throttle like one at login: a session taken over cannot
    guess its way to removing the second factor."""
    if required(config, user):
        raise ActionError("an admin must have a second factor here ([web] admin_totp = required).")
    factor = await store.second_factors.get(user.name)
    if factor is None:
        raise ActionError("you have no second factor.")
    where, limits = address_key(address), users.login_limits(config)
    if not (await store.logins.attempt(user.name, where, limits)).allowed:
        raise ActionError("too many wrong codes: try again later.")
    step = matching_step(_open(config, factor.sealed), raw_code, now)
    if step is None or not await store.second_factors.use_step(user.name, step):
        await store.streams.audit(actor_name(actor), "totp-remove-failed", now, user=user.name, address=address)
        raise ActionError("that code is not right (or was used already).")
    await store.logins.succeeded(user.name, where)
    await store.second_factors.remove(user.name)
    await store.streams.audit(actor_name(actor), "totp-remove", now, user=user.name)


async def reset(store: Store, name: str, actor: str, now: float) -> None:
    """An admin (or the CLI) removes another user's second factor, e.g. after a lost phone: audited,
    and the user's sessions end (their generation moves on, as with a new password)."""
    actor, name = actor_name(actor), users.user_name(name)
    user = await users.get(store, name)
    if user is None:
        raise ActionError(f"there is no user {name}.")
    if not await store.second_factors.remove(name):
        raise ActionError(f"user {name} has no second factor.")
    await store.users.put(name, replace(user, gen=user.gen + 1))
    await store.streams.audit(actor, "totp-reset", now, user=name)


async def login_code(
    store: Store, config: Config, name: str, gen: int, raw_code: str, address: str, now: float
) -> users.Login:
    """The second step of a login whose password was right (users.login said ``code_due``):
    counted by the same throttle first, like a password; a wrong or reused code is a failed login."""
    where, limits = address_key(address), users.login_limits(config)
    attempt = await store.logins.attempt(name, where, limits)
    if not attempt.allowed:
        log.warning("console-login-throttled", user=name, address=address, limit=attempt.refused_by, step="code")
        return users.Login(None, refused_by=attempt.refused_by)
    user = await users.get(store, name)
    factor = await store.second_factors.get(name)
    step = None
    if user is not None and user.gen == gen and factor is not None:
        try:
            step = matching_step(_open(config, factor.sealed), raw_code, now)
        except ActionError:
            log.warning("console-totp-unreadable", user=name)
    if user is None or step is None or not await store.second_factors.use_step(name, step):
        return await users.failed(store, limits, attempt, name, address, now, "login-code-failed")
    # Both steps right: take back the password's attempt and the code's.
    await store.logins.succeeded(name, where)
    await store.logins.succeeded(name, where)
    await store.streams.audit(f"web:{name}", "login", now, address=address, second_factor="totp")
    return users.Login(user)
