"""FastAGI routes: one module per route, one explicit table.

Each module has ``async def handle(session, deps)`` and ``async def fallback(session, deps,
reason)``; the second answers a request that cannot be trusted or whose handler failed.
"""

from agi.routes import screen

ROUTES = {
    "screen": screen,
}
