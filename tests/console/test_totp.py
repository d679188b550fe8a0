"""Issue 30: an optional TOTP second factor. Enrolment confirmed by a first code, the code asked
after the password, a wrong or reused code refused and counted by the login throttle, the
secret stored encrypted and shown only while enrolling, an admin's (audited) reset, the CLI's
`users totp-reset`, and `[web] admin_totp = "required"`."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pyotp
import pytest
import pytest_asyncio

from agi.actions import totp, users
from console.app import create_app
from tests.conftest import make_config
from tests.console.conftest import PASSWORD, Client, csrf_of
from tests.console.test_users_cli import gw  # noqa: F401  (a fixture)

T0 = 1_800_000_000.0  # a step boundary: 1_800_000_000 / 30 is whole
SECRET_RE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def code(secret: str, at: float) -> str:
    return pyotp.TOTP(secret).at(at)


async def audit_of(store, action: str) -> list[dict]:
    return [e for e in await store.streams.audit_recent(1000) if e["action"] == action]


@pytest_asyncio.fixture
async def clock():
    return Clock()


async def make_app(redis_server, store, clock, **web):
    config = make_config(redis_server.url, web={"secret": "s" * 40, "max_failed_logins": 3, "language": "en", **web})
    for name, role in (("sup1", "supervisor"), ("admin1", "admin")):
        if await users.get(store, name) is None:
            await users.add(store, name, role, PASSWORD, "test", time.time())
    return create_app(config, store, clock), config


@pytest_asyncio.fixture
async def tapp(redis_server, store, clock):
    return (await make_app(redis_server, store, clock))[0]


async def password_step(app, name: str) -> Client:
    c = Client(app)
    r = await c.login(name)
    assert r.status_code == 303 and r.headers["location"] == "/login/code", r.text
    return c


async def enrol(c: Client, clock: Clock) -> str:
    """Through the pages, as a user would: start, read the secret once, confirm with its code."""
    assert (await c.post("/security/start", page="/security")).status_code == 303
    page = (await c.get("/security")).text
    secret = SECRET_RE.search(page).group(1)
    assert f"otpauth://totp/Grenswacht:{c_name(page)}?secret={secret}" in page.replace("%3A", ":")
    assert 'src="data:image/svg+xml' in page  # the QR code, inline
    r = await c.post("/security/confirm", {"code": code(secret, clock.now)}, page="/security")
    assert r.status_code == 303, r.text
    return secret


def c_name(page: str) -> str:
    return re.search(r"<span>([a-z0-9._-]+) · ", page).group(1)


async def test_enrol_then_log_in_with_right_wrong_and_reused_codes(redis_server, store, clock):
    app, _ = await make_app(redis_server, store, clock, max_failed_logins=10)
    admin = Client(app)
    assert (await admin.login("admin1")).headers["location"] == "/"  # no second factor yet
    # A wrong first code does not enrol.
    await admin.post("/security/start", page="/security")
    page = (await admin.get("/security")).text
    secret = SECRET_RE.search(page).group(1)
    bad = await admin.post("/security/confirm", {"code": "000000"}, page="/security")
    assert bad.status_code == 400 and "not right" in bad.text
    assert not await totp.enrolled(store, "admin1")
    assert (
        await admin.post("/security/confirm", {"code": code(secret, clock.now)}, page="/security")
    ).status_code == 303
    assert await totp.enrolled(store, "admin1")
    # The secret is never shown again, and Redis holds it only encrypted.
    after = (await admin.get("/security")).text
    assert secret not in after and 'id="totp-on"' in after
    stored = await store.second_factors.get("admin1")
    assert stored is not None and secret not in stored.sealed and stored.last_step == int(T0) // 30
    assert [e["user"] for e in await audit_of(store, "totp-enrol")] == ["admin1"]

    clock.now = T0 + 90
    c = await password_step(app, "admin1")
    # A right password alone opens nothing.
    peek = Client(app)
    peek.http.cookies = httpx.Cookies(c.http.cookies)
    assert (await peek.get("/")).headers["location"].startswith("/login")
    assert (await c.post("/login/code", {"code": "123456"}, page="/login/code")).status_code == 401
    assert (await c.post("/login/code", {"code": "12a"}, page="/login/code")).status_code == 401
    ok = await c.post("/login/code", {"code": code(secret, clock.now)}, page="/login/code")
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert (await c.get("/")).status_code == 200
    assert next(e.get("second_factor") for e in await audit_of(store, "login")) == "totp"
    # The same code again (another browser, same 30 seconds): refused, counted.
    other = await password_step(app, "admin1")
    assert (await other.post("/login/code", {"code": code(secret, clock.now)}, page="/login/code")).status_code == 401
    # An older code (of a step before the last one used) is refused too; the next one works.
    assert (await other.post("/login/code", {"code": code(secret, T0 + 60)}, page="/login/code")).status_code == 401
    clock.now += 30
    await users.unlock(store, "admin1", "test", clock.now)  # the two failures above count toward a lockout
    other = await password_step(app, "admin1")
    assert (await other.post("/login/code", {"code": code(secret, clock.now)}, page="/login/code")).status_code == 303
    assert len(await audit_of(store, "login-code-failed")) == 4


async def test_wrong_codes_count_in_the_password_throttle(tapp, store, clock):
    app = tapp
    admin = Client(app)
    await admin.login("admin1")
    secret = await enrol(admin, clock)
    clock.now += 60
    waiting = await password_step(app, "admin1")  # attempt 1 of 3 (max_failed_logins = 3): counted until the code
    c = await password_step(app, "admin1")  # 2
    token = csrf_of((await c.get("/login/code")).text)
    locked = await c.post("/login/code", {"code": "222222"}, csrf=token)  # 3: the lockout
    assert locked.status_code == 429
    assert [e["address"] for e in await audit_of(store, "login-lockout")] == ["127.0.0.1"]
    # The lockout holds for the code and the password alike: the right ones are refused now.
    right = await waiting.post("/login/code", {"code": code(secret, clock.now)}, page="/login/code")
    assert right.status_code == 429
    again = await c.post("/login/code", {"code": code(secret, clock.now)}, csrf=token)
    assert again.headers["location"] == "/login"  # the locked-out browser's note is gone: the password first
    assert (await Client(app).login("admin1")).status_code == 429
    await users.unlock(store, "admin1", "test", clock.now)
    c = await password_step(app, "admin1")
    assert (await c.post("/login/code", {"code": code(secret, clock.now)}, page="/login/code")).status_code == 303
    # A right code gives back both attempts (the password's and its own): this probe is the only
    # one counted on the account now; the address keeps the three failures from before the unlock.
    limits = users.login_limits(app.state.console.config)
    assert (await store.logins.attempt("admin1", "127.0.0.1", limits)).counts == (1, 1, 4)


async def test_a_code_is_due_within_five_minutes_of_the_password(tapp, clock):
    admin = Client(tapp)
    await admin.login("admin1")
    secret = await enrol(admin, clock)
    clock.now += 30
    c = await password_step(tapp, "admin1")
    clock.now += totp.CODE_SECONDS + 1
    late = await c.post("/login/code", {"code": code(secret, clock.now)}, page="/login")
    assert late.status_code == 303 and late.headers["location"] == "/login?expired=1"
    # No note at all (a forged or stale cookie): back to the password.
    assert (await Client(tapp).get("/login/code")).headers["location"] == "/login"


async def test_an_admin_resets_another_users_second_factor(tapp, store, clock):
    sup = Client(tapp)
    await sup.login("sup1")
    await enrol(sup, clock)
    assert (await sup.get("/")).status_code == 200
    # A supervisor may not reset anyone's (not even by a direct POST).
    assert (await sup.post("/security/reset", {"name": "admin1"}, page="/security")).status_code == 403
    admin = Client(tapp)
    await admin.login("admin1")
    page = (await admin.get("/security")).text
    assert "<strong>sup1</strong>" in page  # the list of users with a second factor
    own = await admin.post("/security/reset", {"name": "admin1"}, page="/security")
    assert own.status_code == 400 and "another user" in own.text
    assert (await admin.post("/security/reset", {"name": "sup1"}, page="/security")).status_code == 303
    assert not await totp.enrolled(store, "sup1")
    assert [(e["actor"], e["user"]) for e in await audit_of(store, "totp-reset")] == [("web:admin1", "sup1")]
    # The supervisor's session ended (a lost phone may be in other hands); the password alone logs in now.
    assert (await sup.get("/")).status_code == 303
    assert (await Client(tapp).login("sup1")).headers["location"] == "/"
    again = await admin.post("/security/reset", {"name": "sup1"}, page="/security")
    assert again.status_code == 400 and "has no second factor" in again.text


async def test_a_user_removes_their_own_with_a_code(tapp, store, clock):
    sup = Client(tapp)
    await sup.login("sup1")
    secret = await enrol(sup, clock)
    wrong = await sup.post("/security/remove", {"code": "999999"}, page="/security")
    assert wrong.status_code == 400 and await totp.enrolled(store, "sup1")
    clock.now += 30
    assert (await sup.post("/security/remove", {"code": code(secret, clock.now)}, page="/security")).status_code == 303
    assert not await totp.enrolled(store, "sup1")
    assert [e["user"] for e in await audit_of(store, "totp-remove")] == ["sup1"]


async def test_guessing_the_code_to_remove_it_is_throttled(tapp, store, clock):
    """A session in other hands cannot guess its way to removing the second factor."""
    sup = Client(tapp)
    await sup.login("sup1")
    secret = await enrol(sup, clock)
    clock.now += 30
    valid = {code(secret, clock.now + d) for d in (-30, 0, 30)}
    guesses = [g for g in (f"{i:06d}" for i in range(10)) if g not in valid][:4]
    answers = [(await sup.post("/security/remove", {"code": g}, page="/security")).text for g in guesses]
    assert all("not right" in a for a in answers[:3]) and "too many wrong codes" in answers[3]
    # Even the right code now waits for the lockout to pass (max_failed_logins = 3).
    r = await sup.post("/security/remove", {"code": code(secret, clock.now)}, page="/security")
    assert r.status_code == 400 and await totp.enrolled(store, "sup1")
    assert len(await audit_of(store, "totp-remove-failed")) == 3


async def test_required_for_admins_they_enrol_before_any_other_page(redis_server, store, clock):
    app, config = await make_app(redis_server, store, clock, admin_totp="required")
    admin = Client(app)
    assert (await admin.login("admin1")).status_code == 303
    for page in ("/", "/admin", "/logbook"):
        r = await admin.get(page)
        assert r.status_code == 303 and r.headers["location"] == "/security", page
    assert "must have a second factor" in (await admin.get("/security")).text
    secret = await enrol(admin, clock)
    assert (await admin.get("/admin")).status_code == 200
    clock.now += 30
    no = await admin.post("/security/remove", {"code": code(secret, clock.now)}, page="/security")
    assert no.status_code == 400 and await totp.enrolled(store, "admin1")
    # A supervisor is not held to it.
    sup = Client(app)
    await sup.login("sup1")
    assert (await sup.get("/")).status_code == 200


async def test_enrolment_needs_the_web_secret(redis_server, store, clock):
    config = make_config(redis_server.url)  # no GRENSWACHT_WEB_SECRET
    await users.add(store, "sup1", "supervisor", PASSWORD, "test", time.time())
    app = create_app(config, store, clock)
    sup = Client(app)
    await sup.login("sup1")
    r = await sup.post("/security/start", page="/security")
    assert r.status_code == 400 and "GRENSWACHT_WEB_SECRET" in r.text


async def test_cli_totp_reset(gw, store, redis_server, clock):  # noqa: F811
    app, config = await make_app(redis_server, store, clock)
    admin = Client(app)
    await admin.login("admin1")
    await enrol(admin, clock)
    out = gw("users", "totp-reset", "admin1", "--actor", "root")
    assert "second factor removed" in out.stdout
    assert not await totp.enrolled(store, "admin1")
    assert [(e["actor"], e["user"]) for e in await audit_of(store, "totp-reset")] == [("root", "admin1")]
    for args, sentence in ((("admin1",), "has no second factor"), (("nobody",), "there is no user nobody")):
        bad = gw("users", "totp-reset", *args, ok=False)
        assert bad.returncode == 2 and sentence in bad.stderr and "Traceback" not in bad.stderr


async def test_removing_a_user_removes_their_second_factor_and_settings(tapp, store, clock):
    sup = Client(tapp)
    await sup.login("sup1")
    await enrol(sup, clock)
    await sup.post("/alerts", {"sound": "1", "js": "1"})
    assert await store.preferences.get("sup1") == {"sound": "1", "desktop": "0"}
    await users.remove(store, "sup1", "test", clock.now)
    assert not await totp.enrolled(store, "sup1") and await store.preferences.get("sup1") == {}


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_a_code_that_is_not_six_digits_matches_nothing(raw):
    secret = pyotp.random_base32()
    assert totp.matching_step(secret, raw, T0) is None
    assert totp.matching_step(secret, " ".join(code(secret, T0)[i : i + 3] for i in (0, 3)), T0) == int(T0) // 30
    assert totp.matching_step(secret, code(secret, T0 + 60), T0) is None  # two steps ahead: too far


async def test_codes_sent_at_once_get_at_most_the_limit_checked(tapp, store, clock):
    admin = Client(tapp)
    await admin.login("admin1")
    secret = await enrol(admin, clock)
    clock.now += 30
    c = await password_step(tapp, "admin1")  # attempt 1 of 3
    token = csrf_of((await c.get("/login/code")).text)
    valid = {code(secret, clock.now + d) for d in (-30, 0, 30)}
    guesses = [g for g in (f"{i:06d}" for i in range(30)) if g not in valid][:20]
    answers = await asyncio.gather(*(c.http.post("/login/code", data={"code": g, "csrf": token}) for g in guesses))
    codes = sorted(r.status_code for r in answers)
    # Two are checked (attempts 2 and 3, the second reaching the lockout); the other 18 are refused unchecked.
    assert codes == [401] + [429] * 19, codes
    assert len(await audit_of(store, "login-code-failed")) == 2
