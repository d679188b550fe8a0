"""FastAGI: the wire protocol (escaping, results) and a hardened asyncio server."""
