"""The supervisor console: a Starlette app over the same service layer (agi.actions) as the CLI.

Every page, stream and download needs a session; every POST needs the session's CSRF token;
roles are checked here on the server. Templates escape everything (Jinja2 autoescape).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agi import wiring
from agi.actions import ActionError, agents, alerts, audit, cooldowns, lists, logbook, names, police, queries, users
from agi.actions import help as help_actions
from agi.actions.lists import Target
from agi.ami.client import AmiClient
from agi.callbacks import appointments
from agi.callbacks.model import OPEN
from agi.callbacks.rules import BadTime, Rules
from agi.config import Config
from agi.engine import Incident
from agi.logs import get_logger
from agi.numbers import BadNumber, parse_operator_number, parse_prefix
from agi.sentences import Sentence
from console import security
from console.context import Ctx, Endpoint, Handler
from console.i18n import LANGUAGES, date_format, translate, value_word
from console.live import BEHIND, STATUS, Entry, Feed, entry_id, newer
from redis_schema.incident_log import incident_dict
from redis_schema.records import User, export_json
from redis_schema.store import Store

log = get_logger("grenswacht.console")
HERE = Path(__file__).parent
COOKIE = "gw_session"
MAX_FORM_FIELDS = 50
MAX_BODY = 64 * 1024  # a posted form larger than this is refused (413)
DUE_SHOWN = 200  # callers due a written warning on one page
FINISHED_CALLBACKS_SHOWN = 50  # the callbacks page: every open appointment, then the latest finished ones
STREAM_SECONDS = 300  # an event stream ends after this; the browser reconnects (and is checked again)
KEEPALIVE_SECONDS = 15  # an open stream's comment line, and the session renewed as often
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

R = TypeVar("R", bound=Response)


class Console:
    def __init__(self, config: Config, store: Store, clock: Callable[[], float] = time.time):
        self.config, self.store, self.clock = config, store, clock
        self.zone = ZoneInfo(config.web.timezone)
        self._ami: AmiClient | None = None  # issue 29: listen-ins (Console.pbx)
        secret = config.web.secret
        if not secret:
            secret = secrets.token_urlsafe(48)
            log.warning(
                "web-secret-ephemeral",
                detail="GRENSWACHT_WEB_SECRET is not set: sessions end when the "
                "console restarts and are not shared between instances",
            )
        self.signer = URLSafeSerializer(secret, salt="grenswacht-session")
        loaders = [FileSystemLoader(str(HERE / "templates"))]
        if config.web.letter_templates:
            loaders.insert(0, FileSystemLoader(config.web.letter_templates))  # the organisation's letters
        self.env = Environment(
            loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True), enable_async=False
        )
        self.feed = Feed(store)  # one reader of the event stream for every open board
        self.stream_seconds, self.keepalive_seconds = STREAM_SECONDS, KEEPALIVE_SECONDS
        self.category_words = {name: (w.nl, w.en) for name, w in config.web.category_labels.items()}

        @pass_context
        def local_filter(context: Context, ts: float | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
            return self.local(ts, fmt, context.get("letter_lang") or context.get("lang") or config.web.language)

        self.env.filters["local"] = local_filter
        self.env.filters["left"] = lambda until: _duration(max(0.0, until - self.clock()))
        self.env.filters["since"] = lambda start: _duration(max(0.0, self.clock() - start))
        # Issue 30: names. `{{ i.agent|agent }}` and `{{ number|who(name) }}` are how a template shows
        # an agent and a caller; the agents' names are read again on every request (Console.serve).
        self.agent_names: dict[str, str] = {}
        self.env.filters["agent"] = lambda interface: names.agent_label(self.agent_names, interface or "")
        self.env.filters["who"] = _who

    # ---- helpers --------------------------------------------------------------------------
    def local(self, ts: float | str | None, fmt: str = "%Y-%m-%d %H:%M", lang: str = "en") -> str:
        if ts in (None, ""):
            return ""
        try:
            when = datetime.fromtimestamp(float(ts), self.zone)
            return when.strftime(date_format(fmt, when.weekday(), when.month, lang))
        except (TypeError, ValueError, OverflowError, OSError):
            return "?"

    def words(self, lang: str) -> dict[str, Any]:
        """What every template writes with, in ``lang``: t("key"), label(kind, value) for a stored
        value (a category, a decision, a status...), and the language itself."""

        def label(kind: str, value: object) -> str:
            return value_word(lang, kind, str(value), self.category_words if kind == "category" else None)

        return {"t": lambda key: translate(lang, key), "label": label, "lang": lang}

    def read_session(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(COOKIE, "")
        try:
            data = self.signer.loads(raw) if raw else {}
        except BadSignature:
            data = {}
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            data = {"c": secrets.token_urlsafe(24)}
        if data.get("l") not in LANGUAGES:
            data["l"] = self.config.web.language
        return data

    def write_session(self, response: R, session: dict[str, Any]) -> R:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(session),
            httponly=True,
            samesite="strict",
            secure=self.config.web.secure_cookies,
            path="/",
        )
        return response

    def render(
        self,
        request: Request,
        session: dict[str, Any],
        name: str,
        status: int = 200,
        user: User | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(
            **self.words(session.get("l", "nl")),
            csrf=session["c"],
            user=user,
            path=request.url.path,
            now=self.clock(),
            **ctx,
        )
        return self.write_session(HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS), session)

    async def form(self, request: Request) -> dict[str, str] | None:
        """The posted form; None when it is larger than MAX_BODY or of unknown length."""
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            return None
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024) as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}

    def number(self, raw: str, valid: bool = False) -> str:
        if not raw.strip():
            raise ActionError("enter a phone number.")
        try:
            return parse_operator_number(raw.strip(), self.config.numbers.default_region, valid=valid)
        except BadNumber as exc:
            raise ActionError.again(exc) from None

    def target(self, raw: str, kind: str, valid: bool = True) -> Target:
        if kind == "prefix":
            try:
                return Target("prefix", parse_prefix(raw.strip()))
            except BadNumber as exc:
                raise ActionError.again(exc) from None
        return Target("number", self.number(raw, valid))

    def ban_days(self, form: dict[str, str]) -> int:
        days = form.get("days", "").strip()
        if days and not days.isdigit():
            raise ActionError("the ban length must be a whole number of days.")
        return lists.ban_days(self.config, int(days) if days else None)

    # ---- authentication -------------------------------------------------------------------
    def page(self, role: str = "supervisor") -> Callable[[Handler], Endpoint]:
        """Decorate a handler: session, idle expiry, CSRF on POST, role; the handler gets a Ctx.
        With the store unreachable (at any step) the answer is the 503 page."""

        def wrap(fn: Handler) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                session = self.read_session(request)
                try:
                    return await self.serve(request, session, fn, role)
                except RedisError as exc:
                    return self.store_down(request, session, exc)

            return endpoint

        return wrap

    @property
    def idle_seconds(self) -> int:
        return self.config.web.session_idle_minutes * 60

    async def session_user(self, session: dict[str, Any], now: float) -> tuple[User | None, bool]:
        """The user of a session held on the server, and whether it ended (idle, or logged out)."""
        sid = session.get("s")
        if not isinstance(sid, str):
            return None, False
        found = await self.store.sessions.get(sid)
        if found is None or now - found.last_seen > self.idle_seconds:
            if found is not None:
                await self.store.sessions.end(sid)
            return None, True
        user = await users.get(self.store, found.user)
        return (user if user is not None and user.gen == found.gen else None), False

    async def serve(self, request: Request, session: dict[str, Any], fn: Handler, role: str) -> Response:
        now = self.clock()
        user, ended = await self.session_user(session, now)
        if user is None:
            fresh = {"c": secrets.token_urlsafe(24) if ended else session["c"], "l": session["l"]}
            return self.write_session(RedirectResponse("/login?expired=1" if ended else "/login", 303), fresh)
        form: dict[str, str] = {}
        if request.method == "POST":
            posted = await self.form(request)
            if posted is None:
                return self.failure(request, session, 413, "too_large", user)
            form = posted
            if not hmac.compare_digest(form.get("csrf", ""), session["c"]):
                log.warning("console-csrf-refused", user=user.name, path=request.url.path)
                return self.failure(request, session, 403, "csrf_refused", user)
        if not users.may(user.role, role):  # the one role check (agent < supervisor < admin)
            return self.failure(request, session, 403, "admin_only" if role == "admin" else "supervisors_only", user)
        if await security.second_factor_due(self, request.url.path, user):  # issue 30: enrol first
            return RedirectResponse("/security", 303)
        await self.store.sessions.touch(session["s"], now, self.idle_seconds)
        self.agent_names = await names.agent_names(self.store)  # issue 30: the `agent` filter's names
        ctx = Ctx(request, user, session, form)
        response = await fn(ctx)
        if not isinstance(response, StreamingResponse):
            self.write_session(response, session)
        return response

    def failure(
        self, request: Request, session: dict[str, Any], status: int, key: str, user: User | None = None
    ) -> HTMLResponse:
        """An error as a page in the user's language (never a bare status line)."""
        return self.render(request, session, "error.html", status, user=user, message=translate(session["l"], key))

    def store_down(self, request: Request, session: dict[str, Any], exc: Exception) -> HTMLResponse:
        log.warning("console-store-error", error=type(exc).__name__, path=request.url.path)
        return self.failure(request, session, 503, "store_down")

    def plain_http_refused(self, request: Request) -> bool:
        """Secure cookies, but this page came over plain HTTP: the browser would keep no cookie."""
        return self.config.web.secure_cookies and request.url.scheme != "https"

    async def login_get(self, request: Request) -> Response:
        session = self.read_session(request)
        if "lang" in request.query_params and request.query_params["lang"] in LANGUAGES:
            session["l"] = request.query_params["lang"]
        if self.plain_http_refused(request):
            return self.render(request, session, "login.html", 400, error=translate(session["l"], "needs_https"))
        msg = translate(session["l"], "expired") if request.query_params.get("expired") else ""
        return self.render(request, session, "login.html", error=msg)

    async def login_post(self, request: Request) -> Response:
        session = self.read_session(request)
        if self.plain_http_refused(request):
            return self.render(request, session, "login.html", 400, error=translate(session["l"], "needs_https"))
        form = await self.form(request)
        if form is None:
            return self.failure(request, session, 413, "too_large")
        if not hmac.compare_digest(form.get("csrf", ""), session["c"]):
            return self.render(request, session, "login.html", 403, error=translate(session["l"], "csrf_login"))
        addr = request.client.host if request.client else "?"
        now = self.clock()
        try:
            got = await users.login(self.store, self.config, form.get("user", ""), form.get("password", ""), addr, now)
            if got.user is None:
                lang = session["l"]
                if got.refused_by:
                    return self.render(request, session, "login.html", 429, error=translate(lang, "throttled"))
                error = translate(lang, "bad_login") + (" " + translate(lang, "throttled") if got.locked else "")
                return self.render(request, session, "login.html", 401, error=error)
            if got.code_due:  # issue 30: the second factor's code (console.security)
                return security.code_due(self, request, session, got.user)
            return await self.start_session(got.user, session["l"], now)
        except RedisError as exc:
            return self.store_down(request, session, exc)

    async def start_session(self, user: User, lang: str, now: float) -> Response:
        """A new session on the server, and a fresh CSRF token with it (no fixation)."""
        sid = secrets.token_urlsafe(32)
        await self.store.sessions.start(sid, user.name, user.gen, now, self.idle_seconds)
        home = "/" if users.may(user.role, "supervisor") else "/me"  # an agent: their own page
        return self.write_session(RedirectResponse(home, 303), {"s": sid, "c": secrets.token_urlsafe(24), "l": lang})

    async def logout(self, ctx: Ctx) -> Response:
        await self.store.sessions.end(ctx.session["s"])
        ctx.session.clear()
        ctx.session.update({"c": secrets.token_urlsafe(24), "l": self.config.web.language})
        return RedirectResponse("/login", 303)

    async def set_language(self, ctx: Ctx) -> Response:
        if ctx.form.get("lang") in LANGUAGES:
            ctx.session["l"] = ctx.form["lang"]
        back = ctx.form.get("back", "/")
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", 303)

    # ---- pages ----------------------------------------------------------------------------
    def show(self, ctx: Ctx, name: str, status: int = 200, **kw: Any) -> HTMLResponse:
        return self.render(ctx.request, ctx.session, name, status, user=ctx.user, **kw)

    # ---- the live board (issue 30: a board that stays live) ---------------------------------
    async def panels_data(self, now: float, today: list[Incident] | None = None) -> dict[str, Any]:
        """The board's side panels: cool-downs, today's handovers, threats not yet reported, incidents
        awaiting a debrief."""
        if today is None:
            today = await self.today(now)
        return {
            "cooldowns": await cooldowns.running(self.store, now),
            "handovers": [i for i in today if i.category == "handover"],
            "awaiting": await logbook.open_debriefs(self.store, now, limit=PANEL_ROWS),
            "threats": await police.unreported_threats(self.store, self.config, now, limit=PANEL_ROWS),  # issue 28
            "talking": await help_actions.live_calls(self.store, now),  # issue 29: the live calls
        }

    def since_midnight(self, now: float) -> float:
        midnight = datetime.fromtimestamp(now, self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return (now - midnight.timestamp()) / 3600

    async def today(self, now: float) -> list[Incident]:
        """Today's newest incidents (BOARD_ROWS of them: the logbook shows every one)."""
        return list(await logbook.recent(self.store, now, self.since_midnight(now), BOARD_ROWS))

    async def board(self, ctx: Ctx) -> Response:
        now = self.clock()
        today = await self.today(now)
        helped, requests = await help_actions.active(self.store, now), await agents.open_requests(self.store)
        return self.show(
            ctx,
            "board.html",
            incidents=[i for i in today if i.category != "handover"],
            today_count=await logbook.recent_count(self.store, now, self.since_midnight(now)),
            today_shown=len(today),
            today_from=datetime.fromtimestamp(now, self.zone).strftime("%Y-%m-%d"),
            last_event=await self.store.streams.last_event_id(),
            **await self.panels_data(now, today),
            help=helped,
            block_requests=requests,
            caller_names=await names.caller_names(
                self.store, [*(h.caller for h in helped), *(r.caller for r in requests)]
            ),
            ban_days=lists.ban_days(self.config, None),
            saved=ctx.request.query_params.get("saved"),
            alerts=await alerts.get(self.store, ctx.user.name),  # issue 30: this user's sound and desktop alerts
        )

    async def board_panels(self, ctx: Ctx) -> Response:
        """The side panels alone: the board fetches them again when the stream says they changed."""
        return self.show(ctx, "_board_panels.html", **await self.panels_data(self.clock()))

    async def event_text(self, entry: Entry, lang: str, csrf: str) -> str:
        """One logbook event as the board's SSE text: a new incident's row (escaped by the
        template), a help request's row or its end, or "panels" (a handover, a debrief, a
        cool-down: the side panels changed)."""
        kind, iid = entry.fields.get("type", "incident"), entry.fields.get("id", "")
        if kind in ("help", "help-end"):
            return await self.help_event(entry.id, entry.fields, lang, csrf)
        if kind == "incident" and iid:

            async def load() -> object:
                try:
                    return await logbook.get(self.store, iid)
                except ActionError:
                    return None

            inc = await self.feed.cached(f"incident:{entry.id}", load)
            if isinstance(inc, Incident) and inc.category != "handover":
                row = self.env.get_template("_incident_row.html")
                html = row.render(i=inc, board=True, **self.words(lang)).replace("\n", " ")
                return f"id: {entry.id}\nevent: incident\ndata: {html}\n\n"
        return f"id: {entry.id}\nevent: panels\ndata: {kind}\n\n"

    async def events(self, ctx: Ctx) -> Response:
        """Server-sent events from the process's one feed. Resumes after ``Last-Event-ID`` (what the
        browser sends when it reconnects) or ``?after=`` (the page's load); renews the session
        while it is open; says when the store is unreachable and when the session has ended."""
        start = entry_id(ctx.request.headers.get("last-event-id")) or entry_id(ctx.request.query_params.get("after"))
        lang = ctx.session["l"]

        def status(state: str) -> str:
            return f"event: status\ndata: {state}\n\n"

        async def stream() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            deadline, renewed = loop.time() + self.stream_seconds, loop.time()
            last = start or "$"
            async with self.feed.subscribe() as queue:
                yield "retry: 2000\n\n" + status("up" if self.feed.up else "down")
                if start:
                    try:
                        for old in await self.feed.missed(start):
                            text = await self.event_text(old, lang, ctx.session["c"])
                            last = old.id
                            yield text
                    except RedisError:
                        yield status("down")
                while loop.time() < deadline:
                    got: Entry | None
                    try:
                        got = await asyncio.wait_for(queue.get(), self.keepalive_seconds)
                    except TimeoutError:
                        got = None
                    if loop.time() - renewed >= self.keepalive_seconds:  # an open board is activity
                        renewed = loop.time()
                        if not await self.renew(ctx):
                            yield "event: ended\ndata: session\n\n"
                            return
                    if got is None:
                        yield ": keep-alive\n\n"
                    elif queue.qsize() > BEHIND:
                        return  # too far behind: the browser reconnects and catches up from Redis
                    elif got.fields.get("type") == STATUS:
                        yield status(got.fields["state"])
                    elif newer(got.id, last):
                        last = got.id
                        try:
                            yield await self.event_text(got, lang, ctx.session["c"])
                        except RedisError:
                            yield status("down")

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    async def help_event(self, eid: str, fields: Mapping[str, str], lang: str, csrf: str) -> str:
        """A help request as a ready row (``help``), or its end (``help-end``, the call id); ": " (a
        comment) when the request has already gone."""
        call = fields.get("id", "")
        req = await help_actions.get(self.store, call, self.clock()) if fields.get("type") == "help" else None
        if req is None:
            return f"id: {eid}\nevent: help-end\ndata: {call}\n\n" if call else ": \n\n"
        html = self.env.get_template("_help_row.html").render(
            h=req,
            csrf=csrf,
            caller_names=await names.caller_names(self.store, [req.caller]),
            **self.words(lang),
        )
        return f"id: {eid}\nevent: help\ndata: {html.replace(chr(10), ' ')}\n\n"

    async def pbx(self) -> AmiClient | None:
        """The console's own AMI connection (for listen-ins), made on first use; None without [ami] secret."""
        if self._ami is None:
            self._ami = wiring.build_ami(self.config)
            if self._ami is None:
                return None
            await self._ami.connect()
        await self._ami.wait_connected(5)
        return self._ami

    async def help_action(self, ctx: Ctx, agent: str | None = None) -> Response:
        """Listen, whisper or take over on a help request's call (or, with ``agent``, on that agent's
        live call): the channel is Grenswacht's own record's, never the browser's."""
        call, mode = ctx.request.path_params["call"], ctx.request.path_params["mode"]
        pbx, now = await self.pbx(), self.clock()
        try:
            if agent is None:
                await help_actions.listen(self.store, pbx, ctx.user, call, mode, ctx.actor, now)
            else:
                await help_actions.listen_live(self.store, pbx, ctx.user, agent, call, mode, ctx.actor, now)
        except ActionError as exc:
            return self.show(ctx, "error.html", 409, message=said(ctx, exc))
        return RedirectResponse("/?ringing=" + mode, 303)

    async def live_action(self, ctx: Ctx) -> Response:
        """Listen, whisper or take over on any live call of the board (issue 29): the form names the
        agent interface and the call, which only look the call up in ``store.live``."""
        return await self.help_action(ctx, ctx.form.get("agent", "")[:200])

    # ---- the agent's own page (issue 29): every check of ownership is in agi.actions.agents -------
    async def me(self, ctx: Ctx, error: str = "", status: int = 200, live: bool = False) -> Response:
        """The agent's own page; ``live``: only what changes by itself (the page's refresh, /me/live)."""
        now, user = self.clock(), ctx.user
        return self.show(
            ctx,
            "me.html",
            status,
            calls=await agents.own_calls(self.store, self.config, user, now),
            incidents=[] if live else await agents.own_incidents(self.store, user, now),
            callbacks=await agents.own_callbacks(self.store, user),
            cooldowns=await agents.own_cooldowns(self.store, user, now),
            requests=await agents.own_requests(self.store, user),
            cbtime=self.callback_time,
            max_account=logbook.MAX_ACCOUNT,
            error=error,
            saved=ctx.request.query_params.get("saved"),
        )

    async def me_live(self, ctx: Ctx) -> Response:
        """The agent's current call, cool-down, block requests and callbacks, for the page to refresh
        itself (issue 29): the same per-request checks as /me, so only ever the agent's own."""
        return await self.me(ctx, live=True)

    async def me_action(self, ctx: Ctx) -> Response:
        iid, what, now = ctx.request.path_params["iid"], ctx.request.path_params["what"], self.clock()
        try:
            if what == "account":
                await agents.write_account(self.store, ctx.user, iid, ctx.form.get("account", ""), now)
            elif what == "block":
                await agents.request_block(self.store, ctx.user, iid, ctx.form.get("reason", ""), now)
            else:
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.me(ctx, said(ctx, exc), 400)
        return RedirectResponse("/me?saved=1", 303)

    async def block_decide(self, ctx: Ctx) -> Response:
        """A supervisor approves (sets the ban) or declines (with a note) an agent's block request."""
        rid, what = ctx.request.path_params["rid"], ctx.request.path_params["what"]
        if what not in ("approve", "decline"):
            return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        try:
            days = self.ban_days(ctx.form) if what == "approve" else None
            note = ctx.form.get("note", "")
            await agents.decide(self.store, self.config, rid, what == "approve", note, days, ctx.actor, self.clock())
        except ActionError as exc:
            return self.show(ctx, "error.html", 400, message=said(ctx, exc))
        return RedirectResponse("/?saved=1", 303)

    async def renew(self, ctx: Ctx) -> bool:
        """Renew an open board's session; False once it has ended (logged out, expired, user gone)."""
        try:
            user, _ = await self.session_user(ctx.session, self.clock())
            if user is not None:
                await self.store.sessions.touch(ctx.session["s"], self.clock(), self.idle_seconds)
        except RedisError:
            return True  # the store is away: the status event says so; the session is judged when it is back
        return user is not None

    def filters(self, q: Mapping[str, str]) -> logbook.Filters:
        """The logbook filters, as `grenswacht incidents list` makes them (agi.actions.queries)."""
        return queries.incident_filters(
            self.config,
            agent=q.get("agent", ""),
            queue=q.get("queue", ""),
            category=q.get("category", ""),
            since=queries.local_day(q.get("from", ""), self.zone),
            until=queries.local_day(q.get("to", ""), self.zone, end=True),
            open_only=q.get("open") == "1",
        )

    async def logbook_page(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        fmt = ctx.request.path_params.get("fmt", "")
        if fmt not in ("", "csv", "json"):
            return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        try:
            f = await queries.with_caller(self.config, self.store, self.filters(q), q.get("caller", ""))  # or a name
            page = int(q.get("page", "1")) if q.get("page", "1").isdigit() else 1
            after = logbook.position(q.get("after", ""))  # where a "next" link continues a sparse filter
        except ActionError as exc:
            return self.show(
                ctx,
                "logbook.html",
                400,
                error=said(ctx, exc),
                page=logbook.Page(),
                q=q,
                qs="",
                categories=self.categories(),
            )
        if fmt:  # the whole filtered result, streamed: the same pieces as `grenswacht export`
            stream = logbook.export_stream(self.store, f, ctx.actor, self.clock(), fmt, self.zone)
            return _download(stream, fmt, "logbook")
        result = await logbook.query(self.store, f, page, 50, after=after)
        qs = urlencode({k: v for k, v in q.items() if k not in ("page", "after") and v})
        return self.show(ctx, "logbook.html", page=result, q=q, qs=qs, categories=self.categories())

    def categories(self) -> list[str]:
        return list(self.config.protocol_for(None)[1].weights)

    async def incident(self, ctx: Ctx, error: str = "", status: int = 200) -> Response:
        try:
            inc = await logbook.get(self.store, ctx.request.path_params["iid"])
        except ActionError as exc:
            return self.show(ctx, "error.html", 404, message=said(ctx, exc))
        return self.show(
            ctx,
            "incident.html",
            status,
            i=inc,
            debriefs=await logbook.debriefs(self.store, inc),
            rec=await self.store.live.recording(inc.id),
            may_hear=ctx.user.role in EVIDENCE_ROLES,
            answers=logbook.DEBRIEF_ANSWERS,
            error=error,
            saved=ctx.request.query_params.get("saved"),
        )

    async def debrief(self, ctx: Ctx) -> Response:
        iid = ctx.request.path_params["iid"]
        try:
            await logbook.debrief(
                self.store, iid, ctx.form.get("answer", ""), ctx.form.get("note", ""), ctx.actor, self.clock()
            )
        except ActionError as exc:
            return await self.incident(ctx, said(ctx, exc), 400)
        return RedirectResponse(f"/incidents/{iid}?saved=1", 303)

    async def caller(self, ctx: Ctx, error: str = "", status: int = 200, raw: str | None = None) -> Response:
        raw = ctx.request.query_params.get("n", "") if raw is None else raw
        if not raw:
            return self.show(ctx, "caller.html", status, view=None, error=error, raw="")
        try:
            found = await names.find_callers(self.config, self.store, raw)  # a number, or a name (issue 30)
        except ActionError as exc:
            return self.show(ctx, "caller.html", 400, view=None, error=said(ctx, exc), raw=raw)
        if len(found) > 1:
            return self.show(ctx, "caller.html", status, view=None, error=error, raw=raw, found=found)
        number = found[0].number
        view = await logbook.caller_view(self.config, self.store, number, self.clock())
        return self.show(
            ctx,
            "caller.html",
            status,
            view=view,
            error=error,
            raw=raw,
            saved=ctx.request.query_params.get("saved"),
            ban_days=lists.ban_days(self.config, None),
            callbacks=await appointments.listing(self.store, now=self.clock(), caller=number),
            open_statuses=OPEN,
            cbtime=self.callback_time,
        )

    async def change_lists(self, what: str, raw: str, kind: str, ctx: Ctx) -> bool:
        """Ban, lift, allowlist or disallow a number or range; False when ``what`` is none of these."""
        now, reason = self.clock(), ctx.form.get("reason", "")  # its length is the action's to refuse
        if kind not in ("number", "prefix"):
            raise ActionError("choose a number or a number range.")
        # A range as wide as a country needs the form's tick box (the CLI's --yes).
        sure, digits = ctx.form.get("confirm_range") == "yes", self.config.numbers.min_prefix_digits
        if what in ("ban", "allow"):
            asked = lists.Change(self.target(raw, kind), reason, ctx.actor, now, sure, digits)
            if what == "ban":
                await lists.ban(self.store, asked, self.ban_days(ctx.form))
            else:
                await lists.allow(self.store, asked)
        elif what in ("unban", "disallow"):
            if what == "unban" and ctx.form.get("confirm") != "yes":  # the form's tick box, checked here too
                raise ActionError("tick the box to confirm that the ban is to be lifted.")
            # Lifting also works for a number screening banned although it is not a valid one.
            change = lists.unban if what == "unban" else lists.disallow
            await change(self.store, self.target(raw, kind, valid=False), ctx.actor, now)
        else:
            return False
        return True

    async def caller_action(self, ctx: Ctx) -> Response:
        what, raw = ctx.request.path_params["what"], ctx.form.get("number", "")
        try:
            if what == "warning-sent":
                number = self.number(raw, valid=False)
                await lists.mark_warning_sent(self.store, number, ctx.actor, self.clock())
            elif not await self.change_lists(what, raw, "number", ctx):
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.caller(ctx, said(ctx, exc), 400, raw=raw)
        if ctx.form.get("back", "") == "warnings":
            return RedirectResponse("/warnings?saved=1", 303)
        return RedirectResponse("/caller?" + urlencode({"n": self.number(raw, valid=False), "saved": "1"}), 303)

    async def bans(self, ctx: Ctx, error: str = "", status: int = 200) -> Response:
        now = self.clock()
        q = ctx.request.query_params
        bans = await lists.ban_page(self.store, now, _page_number(q.get("page", "")))
        allows = await lists.allow_page(self.store, _page_number(q.get("apage", "")))
        return self.show(
            ctx,
            "bans.html",
            status,
            bans=bans,
            caller_names=await names.caller_names(self.store, [b.target for b in bans.rows if b.kind == "number"]),
            ranges=await lists.range_bans(self.store, now),
            allows=allows,
            allow_ranges=await lists.range_allows(self.store),
            error=error,
            form=ctx.form,
            ban_days=lists.ban_days(self.config, None),
            saved=ctx.request.query_params.get("saved"),
        )

    async def bans_action(self, ctx: Ctx) -> Response:
        try:
            if not await self.change_lists(
                ctx.request.path_params["what"], ctx.form.get("target", ""), ctx.form.get("kind", "number"), ctx
            ):
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.bans(ctx, said(ctx, exc), 400)
        return RedirectResponse("/bans?saved=1", 303)

    # ---- callback appointments: the same functions as `grenswacht callbacks move|cancel` ------------------
    def callback_time(self, ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """An appointment's time in the callbacks' zone (the zone a typed time without offset is read in)."""
        return datetime.fromtimestamp(ts, ZoneInfo(self.config.callbacks.timezone)).strftime(fmt)

    async def callbacks(self, ctx: Ctx, error: str = "", status: int = 200) -> Response:
        every = await appointments.load_all(self.store)  # by due time
        finished = sorted((a for a in every if a.status not in OPEN), key=lambda a: (-a.updated, a.id))
        return self.show(
            ctx,
            "callbacks.html",
            status,
            open=[a for a in every if a.status in OPEN],
            finished=finished[:FINISHED_CALLBACKS_SHOWN],
            error=error,
            form=ctx.form,
            zone=self.config.callbacks.timezone,
            cbtime=self.callback_time,
            saved=ctx.request.query_params.get("saved"),
        )

    async def callbacks_action(self, ctx: Ctx) -> Response:
        what, aid, now = ctx.request.path_params["what"], ctx.form.get("id", "")[:64], self.clock()
        try:
            if what == "move":
                due = appointments.parse_time(ctx.form.get("at", "")[:64], self.config.callbacks.timezone)
                appt = await appointments.operator_move(
                    self.store, Rules.from_config(self.config.callbacks), aid, due=due, now=now, actor=ctx.actor
                )
            elif what == "cancel":
                appt = await appointments.operator_cancel(self.store, aid, now=now, actor=ctx.actor)
            else:
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except (BadTime, appointments.NotFound, appointments.Conflict) as exc:
            return await self.callbacks(ctx, said(ctx, exc), 400)
        if ctx.form.get("back", "") == "caller":
            return RedirectResponse("/caller?" + urlencode({"n": appt.caller, "saved": "1"}), 303)
        return RedirectResponse("/callbacks?saved=1", 303)

    async def warnings(self, ctx: Ctx) -> Response:
        """One page of the warnings worklist (agi.actions.lists.warnings_due), latest incident first."""
        q, now = ctx.request.query_params, self.clock()
        try:
            after = lists.warning_position(q.get("after", ""))
        except ActionError as exc:
            return self.show(ctx, "error.html", 400, message=said(ctx, exc))
        page = await lists.warnings_due(self.store, self.config, now, after, DUE_SHOWN)
        return self.show(
            ctx,
            "warnings.html",
            due=page.items,
            caller_names=await names.caller_names(self.store, [w.caller for w in page.items]),
            next_after=page.after,
            as_of=now,
            saved=q.get("saved"),
        )

    async def letter(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        lang = str(q.get("lang")) if q.get("lang") in LANGUAGES else str(ctx.session["l"])
        try:
            number = self.number(q.get("n", ""))
        except ActionError as exc:
            return self.show(ctx, "error.html", 400, message=said(ctx, exc))
        view = await logbook.caller_view(self.config, self.store, number, self.clock())
        window = self.clock() - view.window_days * 86400
        incidents = [i for i in view.record.incidents if i.at >= window and i.category not in ("handover", "callback")]
        ban = lists.ban_in_force(view.record.ban, self.clock())  # worded for a caller already banned
        label = self.words(lang)["label"]  # the categories in the letter's language
        cats = {i.category: label("category", i.category) for i in incidents}
        return self.show(
            ctx, f"letter_{lang}.html", view=view, incidents=incidents, letter_lang=lang, ban=ban, cats=cats
        )

    async def stats(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params.get("days", "30")
        days = int(q) if q.isdigit() and 7 <= int(q) <= 366 else 30
        s = await audit.stats(self.store, self.clock(), days, self.config.web.timezone)
        return self.show(
            ctx,
            "stats.html",
            s=s,
            days=days,
            data=(
                {
                    "days": s.days,
                    "per_day": s.per_day,
                    "per_week": s.per_week,
                    "screenings": s.screenings,
                    "repeat": s.repeat_callers,
                    "per_agent": [(names.agent_label(self.agent_names, a), n) for a, n in s.per_agent],
                    "open_age": list(s.open_by_age.items()),
                    "words": self.chart_words(ctx.session["l"], s),
                }
            ),
        )

    def chart_words(self, lang: str, s: audit.Stats) -> dict[str, Any]:
        """The charts' legends and labels in ``lang`` (console.js writes no word of its own)."""
        label = self.words(lang)["label"]
        return {
            "category": {c: label("category", c) for c in {*s.per_day, *s.per_week}},
            "action": {a: label("action", a) for a in s.screenings},
            "age": {a: label("age", a) for a in s.open_by_age},
            "incidents": translate(lang, "chart_incidents"),
            "open": translate(lang, "chart_open"),
        }

    async def audit_page(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        entries = await audit.audit(
            self.store, q.get("actor", "")[:100], q.get("action", "")[:50], q.get("text", "")[:100], 200
        )
        return self.show(ctx, "audit.html", entries=entries, q=q)

    async def admin(self, ctx: Ctx, error: str = "", status: int = 200, done: str = "") -> Response:
        return self.show(
            ctx,
            "admin.html",
            status,
            users=await users.list_users(self.store),
            roles=users.ROLES,
            lockouts=await users.lockouts(self.store, self.config),
            agent_names=sorted(self.agent_names.items()),
            error=error,
            done=done or self.done_text(ctx),
        )

    def done_text(self, ctx: Ctx) -> str:
        """The admin page's "done" line, from the redirect's ?done=ok|erased|purged and ?n=."""
        q, lang = ctx.request.query_params, ctx.session["l"]
        done, n = q.get("done", ""), q.get("n", "0")
        if done in ("erased", "purged"):
            return translate(lang, f"{done}_n").format(n=int(n) if n.isdigit() else 0)
        return translate(lang, "saved_ok") if done else ""

    async def admin_action(self, ctx: Ctx) -> Response:
        what, f, now = ctx.request.path_params["what"], ctx.form, self.clock()
        try:
            if what == "user-add":
                await users.add(
                    self.store,
                    f.get("name", ""),
                    f.get("role", ""),
                    f.get("password", ""),
                    ctx.actor,
                    now,
                    phone=f.get("phone", ""),
                    interfaces=f.get("interfaces", "").split()[:20],
                )
            elif what == "user-phone":
                await users.set_phone(self.store, f.get("name", ""), f.get("phone", ""), ctx.actor, now)
            elif what == "user-passwd":
                await users.passwd(self.store, f.get("name", ""), f.get("password", ""), ctx.actor, now)
            elif what == "user-remove":
                if users.user_name(f.get("name", "")) == ctx.user.name:
                    raise ActionError("you cannot remove your own account.")
                await users.remove(self.store, f.get("name", ""), ctx.actor, now)
            elif what == "unlock":
                await users.unlock(self.store, f.get("name", ""), ctx.actor, now)
            elif what == "agent-name":  # issue 30: the same functions as `grenswacht agents name|unname`
                await names.name_agent(self.store, f.get("interface", ""), f.get("display_name", ""), ctx.actor, now)
            elif what == "agent-unname":
                await names.unname_agent(self.store, f.get("interface", ""), ctx.actor, now)
            elif what == "erase":
                n = await logbook.erase(
                    self.store, self.number(f.get("number", "")), f.get("confirm", ""), ctx.actor, now
                )
                return RedirectResponse("/admin?" + urlencode({"done": "erased", "n": n}), 303)
            elif what == "purge":
                if f.get("confirm") != "yes":
                    raise ActionError("tick the box to confirm the purge.")
                n = await logbook.purge(self.store, ctx.actor, now)
                return RedirectResponse("/admin?" + urlencode({"done": "purged", "n": n}), 303)
            else:
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.admin(ctx, said(ctx, exc), 400)
        return RedirectResponse("/admin?done=ok", 303)

    async def admin_export(self, ctx: Ctx) -> Response:
        try:
            number = self.number(ctx.request.query_params.get("n", ""))
        except ActionError as exc:
            return await self.admin(ctx, said(ctx, exc), 400)
        view = await logbook.export_caller(self.config, self.store, number, ctx.actor, self.clock())
        r = view.record
        data = {
            "exported_at": self.local(self.clock(), "%Y-%m-%dT%H:%M:%S%z"),
            "caller": number,
            "name": view.name,  # issue 30: the caller ID name kept for them
            "decision": {
                "action": view.decision.action.value,
                "reason": view.decision.reason.value,
                "score": view.decision.score,
            },
            "ban": None if r.ban is None else r.ban.__dict__,
            "allowlisted": None if r.allow is None else r.allow.__dict__,
            "warning_sent_at": r.warning_sent_at,
            "incidents": [incident_dict(number, i) for i in r.incidents],
            "callbacks": [a.public() for a in view.appointments],
        }
        return Response(
            export_json(data),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="caller-export.json"', "Cache-Control": "no-store"},
        )

    async def end_cooldown(self, ctx: Ctx) -> Response:
        try:
            await cooldowns.end_now(self.store, ctx.form.get("agent", "")[:200], ctx.actor, self.clock())
        except ActionError as exc:
            return self.show(ctx, "error.html", 400, message=said(ctx, exc))
        return RedirectResponse("/", 303)

    # ---- evidence for the police (issue 28) --------------------------------------------------
    async def evidence_action(self, ctx: Ctx) -> Response:
        """POST the agent's account, or the "reported" mark, of an incident."""
        iid, what, now = ctx.request.path_params["iid"], ctx.request.path_params["what"], self.clock()
        try:
            if what == "account":
                await logbook.set_account(self.store, iid, ctx.form.get("account", ""), ctx.actor, now)
            elif what == "reported":
                raw = ctx.form.get("on", "")
                try:
                    on = datetime.fromisoformat(raw).replace(tzinfo=self.zone).timestamp() if raw else now
                except ValueError:
                    raise ActionError("{raw!r} is not a date (YYYY-MM-DD).", raw=raw[:20]) from None
                await police.mark_reported(self.store, iid, on, ctx.form.get("reference", ""), ctx.actor, now)
            else:
                return self.failure(ctx.request, ctx.session, 404, "no_action", ctx.user)
        except ActionError as exc:
            return await self.incident(ctx, said(ctx, exc), 400)
        return RedirectResponse(f"/incidents/{iid}?saved=1", 303)

    async def evidence_file(self, ctx: Ctx) -> Response:
        """GET the recording (the player asks in ranges) or the police report: supervisors and admins
        only, every play, download and report in the audit trail with the user."""
        iid, what, now = ctx.request.path_params["iid"], ctx.request.path_params["what"], self.clock()
        if ctx.user.role not in EVIDENCE_ROLES:
            return self.failure(ctx.request, ctx.session, 403, "for_supervisors", ctx.user)
        try:
            if what == "report.zip":
                data = await police.report(self.store, self.config, iid, ctx.actor, now)
                headers = {
                    "Content-Disposition": f'attachment; filename="report-{iid}.zip"',
                    "Cache-Control": "no-store",
                }
                return Response(data, media_type="application/zip", headers=headers)
            if what != "recording.wav":
                return self.failure(ctx.request, ctx.session, 404, "no_file", ctx.user)
            # Every request is audited, a player's range requests too (a range is part of a play).
            how = "download" if ctx.request.query_params.get("download") else "play"
            part = ctx.request.headers.get("range", "")[:40]
            rec = await police.recording(self.store, iid, ctx.actor, now, how, part)
        except ActionError as exc:
            return self.show(ctx, "error.html", 404, message=said(ctx, exc))
        disposition = "attachment" if ctx.request.query_params.get("download") else "inline"
        headers = {"Content-Disposition": f'{disposition}; filename="recording-{iid}.wav"', "Cache-Control": "no-store"}
        return FileResponse(rec.file, media_type="audio/wav", headers=headers)


EVIDENCE_ROLES = ("supervisor", "admin")


def said(ctx: Ctx, exc: Sentence) -> str:
    """A refusal's sentence in the user's language (issue 30: agi.sentences)."""
    return exc.in_language(ctx.session["l"])


def _error_handlers(c: Console) -> Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Every error outside a page's handler (an unknown address, a wrong method, the store down at
    the login, a bug) as a page in the visitor's language: never a bare status line."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        key = {404: "not_found", 405: "method_not_allowed"}.get(status, "server_error")
        return c.failure(request, c.read_session(request), status, key)

    async def store_error(request: Request, exc: Exception) -> Response:
        return c.store_down(request, c.read_session(request), exc)

    async def crash(request: Request, exc: Exception) -> Response:
        return c.failure(request, c.read_session(request), 500, "server_error")

    return {HTTPException: http_error, RedisError: store_error, Exception: crash}


@pass_context
def _who(ctx: Context, number: str, name: str = "") -> str:
    """A caller as a page shows them: "Jan Jansen (+31612345678)" (the name given, or the page's
    ``caller_names``), or the number alone."""
    return names.label(number, name or ctx.get("caller_names", {}).get(number, ""))


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _download(stream: AsyncIterator[str], fmt: str, name: str) -> Response:
    """An export as a streamed file: the pieces `grenswacht export` writes (agi.actions.logbook.export_stream)."""
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"}
    media = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    return StreamingResponse(stream, media_type=media, headers=headers)


def create_app(config: Config, store: Store | None = None, clock: Callable[[], float] = time.time) -> Starlette:
    """The console; with no store given, it builds (and closes) its own from the configuration."""
    from contextlib import asynccontextmanager

    own = store is None
    store = store or wiring.build_store(config)
    c = Console(config, store, clock)
    agt, sup, adm = c.page("agent"), c.page("supervisor"), c.page("admin")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if c._ami is not None:
            await c._ami.close()
        await c.feed.stop()
        if own:
            await store.close()

    routes = [
        Route("/login", c.login_get, methods=["GET"]),
        Route("/login", c.login_post, methods=["POST"]),
        Route("/logout", agt(c.logout), methods=["POST"]),
        Route("/language", agt(c.set_language), methods=["POST"]),
        Route("/", sup(c.board)),
        Route("/events", sup(c.events)),
        Route("/board/panels", sup(c.board_panels)),
        Route("/logbook", sup(c.logbook_page)),
        Route("/logbook.{fmt:str}", sup(c.logbook_page)),
        Route("/incidents/{iid:str}", sup(c.incident)),
        Route("/incidents/{iid:str}/debrief", sup(c.debrief), methods=["POST"]),
        Route("/incidents/{iid:str}/evidence/{what:str}", sup(c.evidence_action), methods=["POST"]),
        Route("/incidents/{iid:str}/{what:str}", sup(c.evidence_file)),
        Route("/caller", sup(c.caller)),
        Route("/caller/{what:str}", sup(c.caller_action), methods=["POST"]),
        Route("/bans", sup(c.bans)),
        Route("/bans/{what:str}", sup(c.bans_action), methods=["POST"]),
        Route("/callbacks", sup(c.callbacks)),
        Route("/callbacks/{what:str}", sup(c.callbacks_action), methods=["POST"]),
        Route("/warnings", sup(c.warnings)),
        Route("/letter", sup(c.letter)),
        Route("/stats", sup(c.stats)),
        Route("/audit", sup(c.audit_page)),
        Route("/cooldowns/end", sup(c.end_cooldown), methods=["POST"]),
        # Issue 29: help requests, the agent's own page, block requests.
        Route("/help/{call:str}/{mode:str}", sup(c.help_action), methods=["POST"]),
        Route("/me", agt(c.me)),
        Route("/me/live", agt(c.me_live)),
        Route("/me/incidents/{iid:str}/{what:str}", agt(c.me_action), methods=["POST"]),
        Route("/block-requests/{rid:str}/{what:str}", sup(c.block_decide), methods=["POST"]),
        # Issue 29: listen in on any live call of a queue (the board's live calls).
        Route("/live/{call:str}/{mode:str}", sup(c.live_action), methods=["POST"]),
        Route("/admin", adm(c.admin)),
        Route("/admin/export", adm(c.admin_export)),
        Route("/admin/{what:str}", adm(c.admin_action), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    routes[-1:-1] = security.routes(c, agt, sup)  # issue 30: the second factor, the board's alerts
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=_error_handlers(c))
    app.state.console = c
    return app


BOARD_ROWS = 100  # today's newest incidents on the live board (it read and drew 500: most of its time at scale)
PANEL_ROWS = 50  # the oldest open debriefs and unreported threats in the board's panels (the logbook has all)


def _page_number(raw: str) -> int:
    """A page number from the query (1 for anything else; the list keeps it within its pages)."""
    return int(raw) if raw.isdigit() and len(raw) <= 9 else 1
