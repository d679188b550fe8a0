"""Console fixtures: the app over the test's real redis-server, an HTTP client, logged-in users."""

from __future__ import annotations

import re
import time

import httpx
import pytest_asyncio

from agi.actions import users
from console.app import create_app
from tests.conftest import make_config

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


class Client:
    """An httpx client on the ASGI app that knows how to log in and post a form with its CSRF token."""

    def __init__(self, app, base_url="http://console"):
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    async def get(self, url, **kw):
        return await self.http.get(url, **kw)

    async def post(self, url, data=None, *, csrf=True, page="/"):
        data = dict(data or {})
        if csrf is True:
            data["csrf"] = csrf_of((await self.http.get(page if page != "/login" else "/login")).text)
        elif csrf:
            data["csrf"] = csrf
        return await self.http.post(url, data=data)

    async def login(self, name, password=PASSWORD):
        return await self.post("/login", {"user": name, "password": password}, page="/login")


@pytest_asyncio.fixture
async def web_config(redis_server):
    return make_config(redis_server.url, web={"secret": "s" * 40, "max_failed_logins": 3})


@pytest_asyncio.fixture
async def app(web_config, store):
    await users.add(store, "sup1", "supervisor", PASSWORD, "test", time.time())
    await users.add(store, "admin1", "admin", PASSWORD, "test", time.time())
    return create_app(web_config, store)


@pytest_asyncio.fixture
async def anon(app):
    c = Client(app)
    yield c
    await c.http.aclose()


async def logged_in(app, name):
    c = Client(app)
    assert (await c.login(name)).status_code == 303
    return c


@pytest_asyncio.fixture
async def sup(app):
    c = await logged_in(app, "sup1")
    yield c
    await c.http.aclose()


@pytest_asyncio.fixture
async def admin(app):
    c = await logged_in(app, "admin1")
    yield c
    await c.http.aclose()
