"""A panoramisk ``Manager`` with what a long-running service needs around it.

- reconnects with exponential backoff (panoramisk retries at a fixed interval; we widen it
  after each failure and reset it on login), and logs every change of connection state;
- refuses header keys or values that contain CR or LF before anything is sent: AMI is a
  line protocol, and one injected line would be a new header, or a new action;
- never waits forever: every action has a timeout.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk import Manager

from agi.logs import get_logger

log = get_logger("grenswacht.ami")

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class AmiError(Exception):
    """The action could not be sent or Asterisk said no."""


class AmiUnsafe(ValueError):
    """A header would carry a line break (or an unusable key); nothing was sent."""


def check_action(fields: Mapping[str, Any]) -> dict[str, str]:
    """Validate one action's headers; return them as strings."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        text = str(value)
        if not _KEY.match(key):
            raise AmiUnsafe(f"AMI header name {key!r} is not allowed")
        if "\r" in text or "\n" in text:
            raise AmiUnsafe(f"AMI header {key} contains a line break")
        out[key] = text
    return out


class _Manager(Manager):  # type: ignore[misc]  # panoramisk has no type information
    """panoramisk's Manager, told about failed connection attempts and kept closed once closed.

    It logs in with ``Events: off``: Grenswacht only sends actions, and the answers to them (list
    answers such as QueueStatus's QueueMember included) come regardless. Without it Asterisk would
    send every event the AMI user may read (a Newexten for each dialplan step of every call in
    the PBX) and the service would parse each one beside its screening."""

    closed = False
    on_connect_failed: Callable[[Any, BaseException], None] | None = None
    on_login_refused: Callable[[Any], None] | None = None

    def __init__(self, **config: Any) -> None:
        config.setdefault("events", "off")
        super().__init__(**config)

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f: asyncio.Future[Any]) -> Any:
        exc = None if f.cancelled() else f.exception()
        if exc is not None and self.on_connect_failed is not None:
            self.on_connect_failed(self, exc)
        return super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        authenticated: bool = super().login(future)
        if not authenticated and self.on_login_refused is not None:
            self.on_login_refused(self)
        return authenticated

    def close(self) -> None:
        self.closed = True
        super().close()


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        reconnect_max: float = 30.0,
        action_timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.reconnect_max = reconnect_max
        self.action_timeout = action_timeout
        self.manager: _Manager | None = None
        self._backoff = 1.0
        self._logged_in = asyncio.Event()
        self._down_logged = self._refused_logged = False

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    async def connect(self) -> None:
        """Start connecting; returns at once. Use ``wait_connected`` to wait for the login."""
        loop = asyncio.get_running_loop()
        self.manager = _Manager(
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._secret,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=1,
            loop=loop,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            on_connect=lambda m: log.debug("ami-connected", host=self.host, port=self.port),
        )
        self.manager.on_connect_failed = self._on_disconnect
        self.manager.on_login_refused = self._on_login_refused
        self.manager.connect()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._logged_in.wait()
            return True
        except TimeoutError:
            return False

    def _on_login(self, manager: Any) -> None:
        self._backoff = 1.0
        manager.reconnect_timeout = 1
        self._logged_in.set()
        self._down_logged = self._refused_logged = False
        log.info("ami-logged-in", user=self.username)

    def _on_login_refused(self, manager: Any) -> None:
        if not self._refused_logged:
            self._refused_logged = True
            log.error(
                "ami-login-refused",
                user=self.username,
                hint="check GRENSWACHT_AMI_SECRET and the user's entry in Asterisk's manager.conf",
            )

    def _on_disconnect(self, manager: Any, exc: BaseException | None) -> None:
        """Logged once per outage (and when it ends, by _on_login), not on every retry."""
        was_up = self._logged_in.is_set()
        self._logged_in.clear()
        self._backoff = min(self._backoff * 2, self.reconnect_max)
        manager.reconnect_timeout = self._backoff
        if was_up or not self._down_logged:
            self._down_logged = True
            log.warning(
                "ami-disconnected", retrying_every_s_up_to=self.reconnect_max, error=type(exc).__name__ if exc else None
            )

    async def close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            self.manager = None
        self._logged_in.clear()

    async def action(self, fields: Mapping[str, Any], *, as_list: bool = False) -> Any:
        """Send one action and return its response (a list of messages when ``as_list``)."""
        checked = check_action(fields)
        if self.manager is None or not self.connected:
            raise AmiError("not connected to AMI")
        try:
            async with asyncio.timeout(self.action_timeout):
                resp = await self.manager.send_action(checked, as_list=as_list)
        except TimeoutError as exc:
            raise AmiError(f"AMI action {checked.get('Action')} timed out") from exc
        if as_list:
            return [dict(m) for m in resp]
        if isinstance(resp, list):
            resp = resp[0]
        if resp.get("Response") == "Error":
            raise AmiError(f"AMI {checked.get('Action')}: {resp.get('Message', 'error')}")
        return dict(resp)

    # ---- the actions Grenswacht uses -----------------------------------------------------
    async def member_pauses(self, interface: str) -> dict[str, str | None]:
        """Queue -> pause reason ('' when paused without one) or None when not paused, for one member."""
        msgs = await self.action({"Action": "QueueStatus", "Member": interface}, as_list=True)
        out: dict[str, str | None] = {}
        for m in msgs:
            if m.get("Event") == "QueueMember" and m.get("Location", m.get("Interface")) == interface:
                out[m["Queue"]] = m.get("PausedReason", "") if m.get("Paused") == "1" else None
        return out

    async def queue_pause(self, interface: str, queue: str, paused: bool, reason: str) -> None:
        await self.action(
            {
                "Action": "QueuePause",
                "Interface": interface,
                "Queue": queue,
                "Paused": "true" if paused else "false",
                "Reason": reason,
            }
        )

    async def user_event(self, name: str, fields: Mapping[str, Any]) -> None:
        await self.action({"Action": "UserEvent", "UserEvent": name, **fields})
