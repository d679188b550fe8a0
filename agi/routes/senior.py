"""Route ``senior``: run on the caller's channel in ``grenswacht-handover``.

Sets where the senior colleague is and what their display shows, from the caller's current
record; without the store it still sets the destination (count unknown: ``[GW ?]``).
"""

from __future__ import annotations

from agi import channel_vars as cv
from agi.deps import Deps
from agi.engine import Reason
from agi.fastagi.server import AgiSession
from agi.logs import get_logger
from agi.numbers import normalise
from agi.routes.values import prompts_dir, senior_values
from agi.screening import screen

log = get_logger("grenswacht.route.senior")


async def handle(session: AgiSession, deps: Deps) -> None:
    number = normalise(
        await session.get_variable(cv.CALLER) or session.headers.get("agi_callerid"), deps.config.numbers.default_region
    )
    result = await screen(
        deps.config, deps.store, deps.prefixes, number, None, deps.clock(), deps.config.agi.screen_budget_ms / 1000
    )
    count = "?" if result.decision.reason is Reason.STORE_UNAVAILABLE else result.decision.incidents
    await session.set_variables(
        {
            **senior_values(deps.config, count, session.headers.get("agi_calleridname", "")),
            cv.PROMPTS: prompts_dir(deps.config),
        }
    )


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({**senior_values(deps.config, "?", ""), cv.PROMPTS: prompts_dir(deps.config)})
    log.warning("senior-fallback", reason=reason, uniqueid=session.uniqueid)
