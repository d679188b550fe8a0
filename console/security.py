"""Issue 30 pages of the console: the login's second step (a TOTP code), each user's /security
page (enrolling and removing a second factor; an admin resets another user's), and each user's
board alerts (sound, desktop notification). The service functions are agi.actions.totp and
agi.actions.alerts, which the CLI calls too.

Between a right password and its code the browser holds only a signed note in its cookie
(``m``: user, generation, time), which opens no page; the server-side session starts after the
code (console.app.Console.start_session).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agi.actions import ActionError, alerts, totp, users
from agi.logs import get_logger
from console.context import ConsolePages, Ctx, Endpoint, Handler
from console.i18n import translate
from redis_schema.records import User

log = get_logger("grenswacht.console")

# Pages an admin who must enrol may still open (everything else sends them to /security).
OPEN_WHILE_DUE = ("/security", "/security/start", "/security/confirm", "/logout", "/language")
PENDING = "m"  # the session cookie's note of a right password whose code is due


async def second_factor_due(c: ConsolePages, path: str, user: User) -> bool:
    """An admin without a second factor where one is required: every page but /security is closed."""
    return totp.required(c.config, user) and path not in OPEN_WHILE_DUE and not await totp.enrolled(c.store, user.name)


def code_due(c: ConsolePages, request: Request, session: dict[str, Any], user: User) -> Response:
    """The password was right and the user has a second factor: ask for the code."""
    fresh = {"c": session["c"], "l": session["l"], PENDING: [user.name, user.gen, c.clock()]}
    return c.write_session(RedirectResponse("/login/code", 303), fresh)


def _pending(c: ConsolePages, session: dict[str, Any]) -> tuple[str, int] | None:
    got = session.get(PENDING)
    if not (isinstance(got, list) and len(got) == 3):
        return None
    name, gen, at = got
    if not (isinstance(name, str) and isinstance(gen, int) and isinstance(at, (int, float))):
        return None
    return (name, gen) if 0 <= c.clock() - at <= totp.CODE_SECONDS else None


def _back_to_password(c: ConsolePages, session: dict[str, Any]) -> Response:
    """No (valid) note of a right password: to the login ("expired" when there was a note), or
    for a browser already logged in, to the board (which checks that session as every page does)."""
    expired = session.pop(PENDING, None) is not None
    where = "/" if "s" in session else "/login?expired=1" if expired else "/login"
    return c.write_session(RedirectResponse(where, 303), session)


class SecurityPages:
    def __init__(self, c: ConsolePages) -> None:
        self.c = c

    async def code_get(self, request: Request) -> Response:
        c = self.c
        session = c.read_session(request)
        if _pending(c, session) is None:
            return _back_to_password(c, session)
        return c.render(request, session, "login_code.html")

    async def code_post(self, request: Request) -> Response:
        c = self.c
        session = c.read_session(request)
        lang = session["l"]
        if c.plain_http_refused(request):
            return c.render(request, session, "login.html", 400, error=translate(lang, "needs_https"))
        form = await c.form(request)
        if form is None:
            return c.failure(request, session, 413, "too_large")
        pending = _pending(c, session)
        if pending is None:
            return _back_to_password(c, session)
        if not hmac.compare_digest(form.get("csrf", ""), session["c"]):
            return c.render(request, session, "login_code.html", 403, error=translate(lang, "csrf_login"))
        addr, now = request.client.host if request.client else "?", c.clock()
        got = await totp.login_code(c.store, c.config, *pending, form.get("code", ""), addr, now)
        if got.user is None:
            if got.refused_by or got.locked:  # locked out: the password is asked again after the lockout
                session.pop(PENDING, None)
                return c.render(request, session, "login.html", 429, error=translate(lang, "throttled"))
            return c.render(request, session, "login_code.html", 401, error=translate(lang, "totp_bad_code"))
        return await c.start_session(got.user, lang, now)

    async def security(self, ctx: Ctx, error: str = "", status: int = 200) -> Response:
        c, user = self.c, ctx.user
        try:
            state = await totp.status(c.store, c.config, user)
        except ActionError as exc:  # a pending secret that cannot be read: start again
            state, error = totp.Status(None, totp.required(c.config, user)), exc.in_language(ctx.session["l"])
        others: list[User] = []
        if users.may(user.role, "admin"):
            others = [u for u in await users.list_users(c.store) if await totp.enrolled(c.store, u.name)]
        return c.show(
            ctx,
            "security.html",
            status,
            state=state,
            others=others,
            due=await second_factor_due(c, "/", user),
            error=error,
            done=ctx.request.query_params.get("done", ""),
        )

    async def security_action(self, ctx: Ctx) -> Response:
        c, what, now = self.c, ctx.request.path_params["what"], self.c.clock()
        try:
            if what == "start":
                await totp.start(c.store, c.config, ctx.user)
                return RedirectResponse("/security", 303)
            if what == "confirm":
                await totp.confirm(c.store, c.config, ctx.user, ctx.form.get("code", ""), ctx.actor, now)
            elif what == "remove":
                addr = ctx.request.client.host if ctx.request.client else "?"
                await totp.remove_own(c.store, c.config, ctx.user, ctx.form.get("code", ""), ctx.actor, now, addr)
            elif what == "reset" and users.may(ctx.user.role, "admin"):
                if users.user_name(ctx.form.get("name", "")) == ctx.user.name:
                    raise ActionError("reset another user's second factor; remove your own with a code.")
                await totp.reset(c.store, ctx.form.get("name", ""), ctx.actor, now)
            elif what == "reset":
                return c.failure(ctx.request, ctx.session, 403, "admin_only", ctx.user)
            else:
                return c.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.security(ctx, exc.in_language(ctx.session["l"]), 400)
        return RedirectResponse(f"/security?done={what}", 303)

    async def alerts_save(self, ctx: Ctx) -> Response:
        """The board's alert switches (console.js posts them as they change; a plain form works too)."""
        f = ctx.form
        choice = alerts.Alerts(sound=f.get("sound") == "1", desktop=f.get("desktop") == "1")
        await alerts.put(self.c.store, ctx.user.name, choice, ctx.actor, self.c.clock())
        return Response(status_code=204) if f.get("js") == "1" else RedirectResponse("/", 303)


def routes(c: ConsolePages, agt: Callable[[Handler], Endpoint], sup: Callable[[Handler], Endpoint]) -> list[Route]:
    if c.config.web.admin_totp == "required" and not c.config.web.secret:
        log.warning(
            "web-totp-needs-secret",
            detail="[web] admin_totp = required, but GRENSWACHT_WEB_SECRET is not set: "
            "admins cannot set up the second factor they must have",
        )
    p = SecurityPages(c)
    return [
        Route("/login/code", p.code_get, methods=["GET"]),
        Route("/login/code", p.code_post, methods=["POST"]),
        Route("/security", agt(p.security)),
        Route("/security/{what:str}", agt(p.security_action), methods=["POST"]),
        Route("/alerts", sup(p.alerts_save), methods=["POST"]),
    ]
