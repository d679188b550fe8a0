"""FastAGI routes: one module per route, one explicit table.

Each module has ``async def handle(session, deps)`` and ``async def fallback(session, deps,
reason)``; the second answers a request that cannot be trusted or whose handler failed.

| route | runs on | called from (dialplan/grenswacht-extensions.conf) |
|---|---|---|
| screen | the caller's channel, before any agent rings | grenswacht-screen |
| endlog | the agent's channel, bridged | grenswacht-agent-key (feature code *0, *9) |
| handover | the agent's channel, bridged | grenswacht-agent-key (feature code *8) |
| senior | the caller's channel, after a handover | grenswacht-handover |
| callback | the agent's channel (book, time, confirm); the placed call (result) | grenswacht-agent-key (*7), grenswacht-callback |
| help | the agent's channel, bridged (ask); its hang-up handler (end) | grenswacht-agent-key (*2), grenswacht-help-end |
| quieter | the agent's channel, bridged | grenswacht-agent-key (*4) |
| answered | the agent's channel, as the agent answers (start); its hangup handler (end) | grenswacht-answered (Queue gosub / Dial U()) |
| aftercall | the agent's own phone, after the call (after-call code *00, *09) | grenswacht-after-call |
"""

from agi.deps import Deps
from agi.fastagi.server import Route
from agi.routes import aftercall, answered, callback, endlog, handover, help, quieter, screen, senior

ROUTES: dict[str, Route[Deps]] = {
    "screen": screen,
    "endlog": endlog,
    "handover": handover,
    "senior": senior,
    "callback": callback,
    "help": help,  # issue 29
    "quieter": quieter,  # issue 29
    "answered": answered,
    "aftercall": aftercall,
}
