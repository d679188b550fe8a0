"""Names (issue 30): callers found by name as well as by number, and agents' display names.

The CLI (``grenswacht caller``, ``grenswacht agents name|names|unname``) and the console (the
caller search, the admin page) call these, so both accept and refuse the same input with the
same sentence. Caller names come from the calls (``store.names``); agent names are set here,
each change audited with who made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agi.actions.errors import ActionError
from agi.actions.users import INTERFACE, dial_string
from agi.config import Config
from agi.numbers import BadNumber, parse_operator_number
from redis_schema.caller_names import MAX_NAME, words
from redis_schema.store import Store

MAX_FOUND = 50  # callers listed for one search by name
MAX_FILTERED = 50  # callers whose incidents one logbook filter by name shows
MAX_AGENT_NAME = 64


@dataclass(frozen=True)
class Caller:
    number: str
    name: str  # "" when none is known

    @property
    def label(self) -> str:
        """How a caller is shown: "Jan Jansen (+31612345678)", or the number alone."""
        return label(self.number, self.name)


def label(number: str, name: str) -> str:
    return f"{name} ({number})" if name else number


async def find_callers(config: Config, store: Store, raw: str, most: int = MAX_FOUND) -> list[Caller]:
    """The callers a typed number or name stands for: the number itself, or every caller (at most
    ``most``) whose name has a word starting with each typed word. ActionError when none."""
    text = raw.strip()
    if not text:
        raise ActionError("enter a phone number or a name.")
    try:
        number = parse_operator_number(text, config.numbers.default_region, valid=False)
    except BadNumber as exc:
        if any(c.isdigit() for c in text) or not words(text) or len(text) > MAX_NAME:
            raise ActionError.again(exc) from None
    else:
        return [Caller(number, await store.names.get(number))]
    found = await store.names.search(text, most)
    if not found:
        raise ActionError("no caller is known by the name {name!r}.", name=text[:MAX_NAME])
    return [Caller(n, name) for n, name in sorted(found.items(), key=lambda item: (item[1].casefold(), item[0]))]


async def logbook_callers(config: Config, store: Store, raw: str) -> tuple[str, ...]:
    """The callers a logbook caller filter stands for (the console's logbook and its downloads,
    ``grenswacht incidents list --caller``): a number as typed, or every caller whose name matches
    as in :func:`find_callers`. ActionError when none, or more than MAX_FILTERED (type more of it)."""
    found = await find_callers(config, store, raw, MAX_FILTERED + 1)
    if len(found) > MAX_FILTERED:
        raise ActionError(
            "more than {most} callers go by the name {name!r}: type more of the name, or the number.",
            most=MAX_FILTERED,
            name=raw.strip()[:MAX_NAME],
        )
    return tuple(c.number for c in found)


async def caller_names(store: Store, numbers: list[str]) -> dict[str, str]:
    """number -> name, for a page that lists callers by number (bans, warnings)."""
    return await store.names.get_many(numbers)


# ---- agents ------------------------------------------------------------------------------------


def agent_name(raw: str) -> str:
    """A display name: 1 to MAX_AGENT_NAME printable characters on one line."""
    name = " ".join(raw.split()) if raw.isprintable() else ""
    if not name or len(name) > MAX_AGENT_NAME:
        raise ActionError(
            "the name {name!r} is not a display name (1 to {most} printable characters, no line breaks "
            "or control characters).",
            name=raw[:MAX_AGENT_NAME],
            most=MAX_AGENT_NAME,
        )
    return name


async def agent_names(store: Store) -> dict[str, str]:
    """interface -> display name, for every agent that has one."""
    return await store.agent_names.all()


async def name_agent(store: Store, interface: str, name: str, actor: str, now: float) -> tuple[str, str]:
    """Give an agent interface (PJSIP/1003) a display name; audited. Returns (interface, name)."""
    iface, shown = dial_string(interface, INTERFACE), agent_name(name)
    await store.agent_names.set(iface, shown)
    await store.streams.audit(actor, "agent-name", now, interface=iface, name=shown)
    return iface, shown


async def unname_agent(store: Store, interface: str, actor: str, now: float) -> None:
    """Take an agent interface's display name away; audited. ActionError when it had none."""
    iface = dial_string(interface, INTERFACE)
    if not await store.agent_names.remove(iface):
        raise ActionError("interface {interface} has no name.", interface=iface)
    await store.streams.audit(actor, "agent-unname", now, interface=iface)


def agent_label(names: Mapping[str, str], interface: str) -> str:
    """How an agent is shown: "Anne de Vries (PJSIP/1003)", or the interface alone."""
    return label(interface, names.get(interface, "") if interface else "")
