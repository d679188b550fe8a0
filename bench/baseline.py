"""The smallest possible screening server, for scale: plain asyncio, one Redis GET, one SET VARIABLE.

It does no normalisation, no protocol, no logging and no fail-open: just the bare round trips
that any screening needs. Run: python -m bench.baseline PORT REDIS_URL
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis


async def main(port: int, url: str) -> None:
    redis = Redis.from_url(url, decode_responses=True, max_connections=256)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        callerid = ""
        try:
            while True:
                line = await reader.readline()
                if not line or line == b"\n":
                    break
                if line.startswith(b"agi_callerid: "):
                    callerid = line[14:-1].decode()
            value = await redis.get(f"bl:{callerid}") or "allow"
            writer.write(f'SET VARIABLE GW_ACTION "{value}"\n'.encode())
            await writer.drain()
            await reader.readline()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
