"""A FastAGI client that behaves like Asterisk: sends the agi_* block, answers every command.

Used by the tests and by the benchmark's load generator. It records every command line the
server sent, exactly as received, so tests assert on what a real peer observed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

_SET = re.compile(r'^SET VARIABLE (\S+) "((?:[^"\\]|\\.)*)"$')
_MSET = re.compile(r'^EXEC MSet "((?:[^"\\]|\\.)*)"$')


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def agi_header(
    script: str,
    callerid: str = "0612345678",
    calleridname: str = "Jansen",
    *,
    uniqueid: str = "1763800000.1",
    channel: str = "PJSIP/trunk-00000001",
    extension: str = "0201234567",
    args: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> bytes:
    headers = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": channel,
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": callerid,
        "agi_calleridname": calleridname,
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": extension,
        "agi_rdnis": "unknown",
        "agi_context": "inbound",
        "agi_extension": extension,
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000",
    }
    headers.update(extra or {})
    for i, a in enumerate(args, 1):
        headers[f"agi_arg_{i}"] = a
    return "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n"


async def connect(host: str, port: int, bind: str | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the server, from the source address ``bind`` when given."""
    return await asyncio.open_connection(host, port, local_addr=(bind, 0) if bind else None)


@dataclass
class AgiResult:
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    closed_by_server: bool = False


async def run_call(
    host: str,
    port: int,
    header: bytes,
    *,
    channel_vars: dict[str, str] | None = None,
    timeout: float = 10.0,
    bind: str | None = None,
) -> AgiResult:
    """One call: connect (from the address ``bind``, e.g. 127.0.0.2, to act as another peer),
    send the header, answer commands until the server closes."""
    channel_vars = dict(channel_vars or {})
    result = AgiResult()
    reader, writer = await connect(host, port, bind)
    try:
        writer.write(header)
        await writer.drain()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    line = await reader.readline()
                except ConnectionResetError:  # closed with our bytes unread, e.g. a refused peer
                    line = b""
                if not line:
                    result.closed_by_server = True
                    break
                text = line.decode().rstrip("\n")
                result.commands.append(text)
                m = _SET.match(text)
                if m:
                    name = m.group(1).lstrip("_")
                    result.variables[name] = channel_vars[name] = unescape(m.group(2))
                    writer.write(b"200 result=1\n")
                elif _MSET.match(text):
                    for pair in unescape(_MSET.match(text).group(1)).split(","):
                        name, _, value = pair.partition("=")
                        result.variables[name.lstrip("_")] = channel_vars[name.lstrip("_")] = value
                    writer.write(b"200 result=0\n")
                elif text.startswith("GET VARIABLE "):
                    name = text.split(" ", 2)[2]
                    if name in channel_vars:
                        writer.write(f"200 result=1 ({channel_vars[name]})\n".encode())
                    else:
                        writer.write(b"200 result=0\n")
                else:
                    writer.write(b"200 result=0\n")
                await writer.drain()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return result


# Hostile peers, for the tests and the benchmark's storm (bench/storm.py). Each kind is what a
# careless or malicious local process might send; what the server must answer is the caller's
# to assert: nothing, a route's fallback, or (mute: a valid request whose peer never answers;
# hangup: one that hangs up after its header) the route's first command and nothing after it.
HOSTILE_KINDS = ("silent", "half", "slowloris", "garbage", "huge", "duplicate", "injection", "mute", "hangup")


def hostile_payload(kind: str, script: str = "screen", uniqueid: str = "1763800000.66") -> bytes:
    if kind in ("silent", "slowloris"):
        return b""
    if kind == "half":
        return b"agi_network: yes\nagi_network_script: scr"
    if kind == "garbage":
        return b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\xfe GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x00"
    if kind == "huge":
        return b"agi_network: yes\nagi_x: " + b"a" * 1_000_000 + b"\n\n"
    if kind == "duplicate":
        return agi_header(script, uniqueid=uniqueid).replace(b"\n\n", b"\nagi_callerid: 0699999999\n\n")
    if kind == "injection":
        return agi_header(
            script, '0612345678"\nEXEC Dial(PJSIP/evil)\nagi_arg_9: x', 'Jan" , EXEC Dial(x)', uniqueid=uniqueid
        )
    if kind in ("mute", "hangup"):
        return agi_header(script, uniqueid=uniqueid)
    raise ValueError(f"unknown hostile kind {kind!r}")


async def hostile(
    kind: str,
    host: str,
    port: int,
    *,
    bind: str | None = None,
    script: str = "screen",
    uniqueid: str = "1763800000.66",
    timeout: float = 30.0,
    drip: float = 0.1,
) -> bytes:
    """One hostile peer of this kind; returns every byte the server wrote to it before it closed.

    It never answers a command. A slowloris drips a valid header, one byte every ``drip`` seconds.
    """
    reader, writer = await connect(host, port, bind)
    dripping = None
    try:
        if kind == "slowloris":
            dripping = asyncio.create_task(_drip(writer, agi_header(script, uniqueid=uniqueid), drip))
        else:
            writer.write(hostile_payload(kind, script, uniqueid))
        if kind == "hangup":
            writer.write_eof()
        return await asyncio.wait_for(read_to_end(reader), timeout)
    finally:
        if dripping is not None:
            dripping.cancel()
        writer.transport.abort()


async def _drip(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await asyncio.sleep(every)


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """Everything the server writes until it closes (a reset counts as closed)."""
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionError:
        pass
    return received
