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


def agi_header(script: str, callerid: str = "0612345678", calleridname: str = "Jansen", *, uniqueid: str = "1763800000.1",
               channel: str = "PJSIP/trunk-00000001", extension: str = "0201234567", args: tuple[str, ...] = (),
               extra: dict[str, str] | None = None) -> bytes:
    headers = {
        "agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": channel, "agi_language": "en", "agi_type": "PJSIP", "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1", "agi_callerid": callerid, "agi_calleridname": calleridname,
        "agi_callingpres": "0", "agi_callingani2": "0", "agi_callington": "0", "agi_callingtns": "0",
        "agi_dnid": extension, "agi_rdnis": "unknown", "agi_context": "inbound", "agi_extension": extension,
        "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "140000000000",
    }
    headers.update(extra or {})
    for i, a in enumerate(args, 1):
        headers[f"agi_arg_{i}"] = a
    return "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n"


@dataclass
class AgiResult:
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    closed_by_server: bool = False


async def run_call(host: str, port: int, header: bytes, *, channel_vars: dict[str, str] | None = None,
                   timeout: float = 10.0) -> AgiResult:
    """One call: connect, send the header, answer commands until the server closes."""
    channel_vars = dict(channel_vars or {})
    result = AgiResult()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(header)
        await writer.drain()
        async with asyncio.timeout(timeout):
            while True:
                line = await reader.readline()
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
