"""Route ``quieter``: the agent pressed the quieter key (default ``*4``); a second press restores.

What the agent hears from the caller is what Asterisk transmits to the agent's channel:
``VOLUME(TX)`` on that channel (func_volume; TX is towards the device, RX what the device sends).
The route reads the current gain and answers the next one in ``GW_VOLUME``, which the dialplan
sets: ``[help] quieter_db`` down, or back to 0. Nothing is logged and the caller hears nothing.
"""

from __future__ import annotations

from agi import channel_vars as cv
from agi.deps import Deps
from agi.fastagi.server import AgiSession
from agi.logs import get_logger

log = get_logger("grenswacht.route.quieter")


def lowered_gain(db: float) -> str:
    """VOLUME's gain for ``db`` quieter. func_volume divides the samples by ``-gain`` when the gain
    is negative (it is a factor, not decibels): 10 dB is an amplitude factor of 10**(10/20) = 3.16."""
    return f"-{10 ** (db / 20):.2f}"


def next_gain(current: str | None, db: float) -> str:
    """Lowered when it is not (gain 0 or unset), restored to 0 when it is: a toggle."""
    try:
        lowered = float(current or "0") != 0.0
    except ValueError:
        lowered = False
    return "0" if lowered else lowered_gain(db)


async def handle(session: AgiSession, deps: Deps) -> None:
    gain = next_gain(await session.get_full_variable("${VOLUME(TX)}"), deps.config.help.quieter_db)
    await session.set_variables({cv.VOLUME: gain})


async def fallback(session: AgiSession, deps: Deps, reason: str) -> None:
    await session.set_variables({cv.VOLUME: ""})
    log.warning("quieter-failed", reason=reason, channel=session.channel, uniqueid=session.uniqueid)
