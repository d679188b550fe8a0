"""What the console's page modules share with console.app without importing it: one authenticated
request (:class:`Ctx`), the handler and endpoint types of the page wrapper (console.app.Console.page),
and :class:`ConsolePages`, the part of console.app.Console that a page module (console.security)
calls. console.app imports the page modules, so they must not import it back (import contract
"console-no-cycle" in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from agi.config import Config
from redis_schema.records import User
from redis_schema.store import Store

R = TypeVar("R", bound=Response)


@dataclass
class Ctx:
    """One authenticated request: who, their session, the submitted form."""

    request: Request
    user: User
    session: dict[str, Any]
    form: dict[str, str] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return f"web:{self.user.name}"


# A page's handler (given the authenticated request), and what Starlette calls.
Handler: TypeAlias = Callable[[Ctx], Awaitable[Response]]
Endpoint: TypeAlias = Callable[[Request], Awaitable[Response]]


class ConsolePages(Protocol):
    """The console as a page module sees it (console.app.Console is one)."""

    config: Config
    store: Store
    clock: Callable[[], float]

    def read_session(self, request: Request) -> dict[str, Any]: ...

    def write_session(self, response: R, session: dict[str, Any]) -> R: ...

    def render(
        self, request: Request, session: dict[str, Any], name: str, status: int = 200, **kw: Any
    ) -> HTMLResponse:
        """A page before the session starts (the login's second step); a logged-in user's page goes through show."""

    def show(self, ctx: Ctx, name: str, status: int = 200, **kw: Any) -> HTMLResponse: ...

    def failure(
        self, request: Request, session: dict[str, Any], status: int, key: str, user: User | None = None
    ) -> HTMLResponse: ...

    def plain_http_refused(self, request: Request) -> bool: ...

    async def form(self, request: Request) -> dict[str, str] | None: ...

    async def start_session(self, user: User, lang: str, now: float) -> Response: ...
