from __future__ import annotations

import asyncio

import pytest

from agi.ami.client import AmiClient, AmiError, AmiUnsafe, check_action
from tests.support.redis_server import free_port


@pytest.mark.parametrize(
    "fields",
    [
        {"Action": "UserEvent", "Caller": "+31\r\nAction: Originate"},
        {"Action": "QueuePause", "Reason": "x\ny"},
        {"Action": "Ping", "Bad Key": "v"},
        {"Action": "Ping", "X\r\n": "v"},
    ],
)
def test_line_breaks_and_bad_keys_are_refused_before_sending(fields):
    with pytest.raises(AmiUnsafe):
        check_action(fields)


async def test_unsafe_action_is_refused_even_without_a_connection():
    client = AmiClient("127.0.0.1", 1, "u", "s")
    with pytest.raises(AmiUnsafe):
        await client.action({"Action": "UserEvent", "Note": "a\nb"})
    with pytest.raises(AmiError, match="not connected"):
        await client.action({"Action": "Ping"})


async def test_reconnect_backs_off_and_is_quiet_after_close():
    client = AmiClient("127.0.0.1", free_port(), "u", "s", reconnect_max=4)
    await client.connect()
    # Each refused connection attempt: the wait before the next one, as the client sets it.
    waits: list[float] = []
    three_failed = asyncio.Event()
    on_failed = client.manager.on_connect_failed

    def record(manager, exc) -> None:
        on_failed(manager, exc)
        waits.append(manager.reconnect_timeout)
        if len(waits) == 3:
            three_failed.set()

    client.manager.on_connect_failed = record
    await asyncio.wait_for(three_failed.wait(), 30)  # attempts at about 0, 1 and 3 s
    assert waits[:3] == [2, 4, 4] and client._backoff == 4 and not client.connected
    await client.close()
    assert client.manager is None
