"""Bans, allowlist and written warnings, for numbers and number ranges (prefixes)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from agi.actions.bounds import actor_name, cursor, reason_text, wide_range
from agi.actions.errors import ActionError
from agi.actions.formats import iso
from agi.config import DEFAULT_MIN_PREFIX_DIGITS, Config, ProtocolConfig
from agi.engine import DAY, Action, Allow, Ban, CallerRecord, decide, rung_at_least
from agi.prefixes import PrefixCache
from agi.sentences import Words
from redis_schema.records import MAX_TIME
from redis_schema.store import Store

MAX_BAN_DAYS = 3650
_NUMBER = re.compile(r"\+?[0-9]{1,20}")  # a number as the worklist holds it
Row = TypeVar("Row")


@dataclass(frozen=True)
class Target:
    kind: str  # "number" | "prefix"
    value: str  # E.164 number or a prefix like +3185123


@dataclass(frozen=True)
class BanRow:
    target: str
    kind: str
    until: float
    source: str
    reason: str
    actor: str
    set_at: float


@dataclass(frozen=True)
class AllowRow:
    target: str
    kind: str
    reason: str
    actor: str
    set_at: float


@dataclass(frozen=True)
class WarningDue:
    caller: str
    action: str
    score: int
    incidents: int
    last_incident: float


BAN_LENGTH = Words("the ban length in days", "de duur van de blokkade in dagen")
CONFIRM_RANGE = Words("confirm that you mean the whole range", "bevestig dat u de hele reeks bedoelt")


def ban_days(config: Config, days: int | None, label: str | Words = BAN_LENGTH) -> int:
    """The ban's length: as given, else the protocol's ``ban_days`` (90 when that is 0)."""
    days = days if days is not None else config.protocol_for(None)[1].ban_days or 90
    if not 1 <= days <= MAX_BAN_DAYS:
        raise ActionError(
            "{label} must be a whole number from 1 to {most} (ten years).", label=label, most=MAX_BAN_DAYS
        )
    return days


def checked_range(target: Target, min_prefix_digits: int, confirmed: bool, ask: str | Words = CONFIRM_RANGE) -> None:
    """A ban or allowlist entry for a range as wide as a country needs ``confirmed`` (pure);
    ``ask`` says how to confirm (the CLI: --yes)."""
    after = wide_range(target.value, min_prefix_digits) if target.kind == "prefix" else None
    if after is not None and not confirmed:
        raise ActionError(
            "{prefix} covers every number of a country or a large part of one (it has {after} of the {digits} digits "
            "after the country code that [numbers] min_prefix_digits asks for); {ask}.",
            prefix=target.value,
            after=after,
            digits=min_prefix_digits,
            ask=ask,
        )


@dataclass(frozen=True)
class Change:
    """One ban or allowlist entry as asked: for what, why, by whom, when, and whether a range as
    wide as a country was confirmed (the CLI's --yes, the console's tick box)."""

    target: Target
    reason: str
    actor: str
    now: float
    confirmed: bool = False
    min_prefix_digits: int = DEFAULT_MIN_PREFIX_DIGITS

    def checked(self) -> Change:
        """The change with its actor and reason checked, and a wide range confirmed (pure)."""
        checked = replace(self, actor=actor_name(self.actor), reason=reason_text(self.reason))
        checked_range(self.target, self.min_prefix_digits, self.confirmed)
        return checked


async def ban(store: Store, change: Change, days: int) -> float:
    """Set a contact ban; returns its end."""
    c = change.checked()
    until = c.now + days * DAY
    if c.target.kind == "prefix":
        await store.lists.set_prefix_ban(c.target.value, Ban(until, c.reason, "prefix", c.now, c.actor))
    else:
        await store.lists.set_ban(c.target.value, Ban(until, c.reason, "manual", c.now, c.actor))
    await store.streams.audit(
        c.actor, "ban", c.now, **{c.target.kind: c.target.value, "until": iso(until), "reason": c.reason}
    )
    return until


async def allow(store: Store, change: Change) -> None:
    """Put on the allowlist (screening lets it through)."""
    c = change.checked()
    entry = Allow(reason=c.reason, set_at=c.now, actor=c.actor)
    if c.target.kind == "prefix":
        await store.lists.set_prefix_allow(c.target.value, entry)
    else:
        await store.lists.set_allow(c.target.value, entry)
    await store.streams.audit(c.actor, "allow", c.now, **{c.target.kind: c.target.value, "reason": c.reason})


async def unban(store: Store, target: Target, actor: str, now: float) -> None:
    await _clear(store, target, "ban", "unban", actor, now)


async def disallow(store: Store, target: Target, actor: str, now: float) -> None:
    await _clear(store, target, "allow", "disallow", actor, now)


async def _clear(store: Store, target: Target, what: str, action: str, actor: str, now: float) -> None:
    actor = actor_name(actor)
    if target.kind == "prefix":
        removed = await store.lists.clear_prefix(what, target.value)
    else:
        removed = await (
            store.lists.clear_ban(target.value) if what == "ban" else store.lists.clear_allow(target.value)
        )
    if not removed and what == "ban":
        raise ActionError("{target} has no ban.", target=target.value)
    if not removed:
        raise ActionError("{target} is not on the allowlist.", target=target.value)
    if what == "allow" and target.kind == "number":  # decided again on the warnings list
        incidents = (await store.screening.load_caller(target.value)).incidents
        if incidents:
            await store.indexes.warnings.put(target.value, incidents[-1].at)
    await store.streams.audit(actor, action, now, **{target.kind: target.value})


LIST_PAGE = 100  # numbers a page of the bans page's lists shows


@dataclass(frozen=True)
class ListPage(Generic[Row]):
    """One page of banned or allowlisted numbers, and how many there are in all (exact: their index's count)."""

    rows: list[Row]
    total: int
    page: int
    per_page: int = LIST_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _page_of(page: int, total: int, per_page: int) -> int:
    """A page asked for, within the pages there are."""
    return min(max(page, 1), max(1, -(-total // per_page)))


async def number_bans(store: Store, now: float, offset: int, count: int) -> list[BanRow]:
    """Banned numbers (from the bans index, never a SCAN), soonest end first, ``offset`` of them skipped."""
    numbers = await store.lists.banned_numbers(now, count, offset)
    rows = [
        BanRow(n, "number", r.ban.until, r.ban.source, r.ban.reason, r.ban.actor, r.ban.set_at)
        for n, r in (await store.screening.load_callers(numbers)).items()
        if r.ban is not None and r.ban.until > now
    ]
    return sorted(rows, key=lambda r: (r.until, r.target))


async def range_bans(store: Store, now: float) -> list[BanRow]:
    """Banned number ranges (a few: one hash), soonest end first."""
    bans, _ = await store.screening.load_prefixes()
    rows = [
        BanRow(p, "prefix", b.until, "prefix", b.reason, b.actor, b.set_at) for p, b in bans.items() if b.until > now
    ]
    return sorted(rows, key=lambda r: (r.until, r.target))


async def active_bans(store: Store, now: float, limit: int = 1000) -> list[BanRow]:
    """Active bans, numbers (from the bans index, never a SCAN) and ranges, soonest end first."""
    rows = await number_bans(store, now, 0, limit) + await range_bans(store, now)
    return sorted(rows, key=lambda r: (r.until, r.target))


async def ban_page(store: Store, now: float, page: int, per_page: int = LIST_PAGE) -> ListPage[BanRow]:
    """A page of the banned numbers, soonest end first, and how many are banned (ranges: ``range_bans``)."""
    total = await store.lists.banned_count(now)
    page = _page_of(page, total, per_page)
    return ListPage(await number_bans(store, now, (page - 1) * per_page, per_page), total, page, per_page)


async def number_allows(store: Store, offset: int, count: int) -> list[AllowRow]:
    """Allowlisted numbers (from the allowlist index, never a SCAN), newest first, ``offset`` skipped."""
    numbers = await store.lists.allowed_numbers(count, offset)
    found = await store.screening.load_callers(numbers)
    return [
        AllowRow(n, "number", r.allow.reason, r.allow.actor, r.allow.set_at)
        for n in numbers
        if (r := found.get(n)) is not None and r.allow is not None
    ]


async def range_allows(store: Store) -> list[AllowRow]:
    _, allows = await store.screening.load_prefixes()
    return sorted(
        (AllowRow(p, "prefix", a.reason, a.actor, a.set_at) for p, a in allows.items()), key=lambda r: r.target
    )


async def allowlist(store: Store, limit: int = 1000) -> list[AllowRow]:
    """Allowlisted numbers (from the allowlist index, never a SCAN) and ranges."""
    rows = await number_allows(store, 0, limit) + await range_allows(store)
    return sorted(rows, key=lambda r: (r.kind, r.target))


async def allow_page(store: Store, page: int, per_page: int = LIST_PAGE) -> ListPage[AllowRow]:
    """A page of the allowlisted numbers, newest first, and how many there are (ranges: ``range_allows``)."""
    total = await store.lists.allowed_count()
    page = _page_of(page, total, per_page)
    return ListPage(await number_allows(store, (page - 1) * per_page, per_page), total, page, per_page)


async def load_prefixes(store: Store) -> PrefixCache:
    cache = PrefixCache()
    cache.replace(*await store.screening.load_prefixes())
    return cache


@dataclass(frozen=True)
class WarningsPage:
    items: list[WarningDue]
    more: bool = False
    after: str = ""  # where the next page begins ("<time>_<number>"); "" when there is none


def warning_position(raw: str) -> tuple[float, str] | None:
    """A place in the warnings worklist as the console's links carry it ("<time>_<number>"); "" is the top."""
    return cursor(raw, _NUMBER, Words("the warnings list", "de waarschuwingslijst"), MAX_TIME)


def due_entry(
    number: str, rec: CallerRecord, protocol: ProtocolConfig, prefixes: PrefixCache, now: float
) -> WarningDue | None:
    """Pure: the caller's entry when at or above the written-warning rung with no warning recorded."""
    if rec.warning_sent_at is not None or not rec.incidents:
        return None
    pban, pallow = prefixes.lookup(number)
    d = decide(rec, protocol, now, prefix_ban=pban, prefix_allow=pallow)
    if d.action is Action.ALLOW or not rung_at_least(d.action, protocol.written_warning_at):
        return None
    return WarningDue(number, d.action.value, d.score, d.incidents, rec.incidents[-1].at)


async def warnings_due(
    store: Store, config: Config, now: float, after: tuple[float, str] | None = None, per_page: int = 200
) -> WarningsPage:
    """One page of the callers due a written warning, latest incident first, from the worklist
    (``redis_schema.worklist``): each listed caller is decided as a call would be, and one found
    not due is taken off the list, so the work grows with the page, never with every caller."""
    _, protocol = config.protocol_for(None)
    worklist = store.indexes.warnings
    await worklist.trim(now - protocol.window_days * DAY)
    prefixes = await load_prefixes(store)
    found: list[tuple[WarningDue, float]] = []
    batch = per_page + 1
    while len(found) <= per_page:
        rows = await worklist.read(after, batch)
        records = await store.screening.load_callers(n for n, _ in rows)
        gone = []
        for number, at in rows:
            due = due_entry(number, records[number], protocol, prefixes, now)
            if due is None:
                gone.append(number)
            else:
                found.append((due, at))
        await worklist.drop(gone)
        if len(rows) < batch:
            break
        after = rows[-1][1], rows[-1][0]
        batch = min(batch * 2, 2000)
    shown = found[:per_page]
    if len(found) > per_page:
        last, at = shown[-1]
        return WarningsPage([w for w, _ in shown], True, f"{at!r}_{last.caller}")
    return WarningsPage([w for w, _ in shown])


async def due_warnings(store: Store, config: Config, now: float) -> list[WarningDue]:
    """Every caller due a written warning (every page of ``warnings_due``), latest incident first."""
    out: list[WarningDue] = []
    after: tuple[float, str] | None = None
    while True:
        page = await warnings_due(store, config, now, after, 2000)
        out += page.items
        if not page.more:
            return out
        after = warning_position(page.after)


async def mark_warning_sent(store: Store, number: str, actor: str, now: float) -> None:
    actor = actor_name(actor)
    await store.incidents.mark_warning_sent(number, now, actor)
    await store.streams.audit(actor, "warning-sent", now, number=number)


def ban_in_force(ban: Ban | None, now: float) -> Ban | None:
    """The caller's ban if it is still in force: a warning letter then states it instead of
    threatening one (console/templates/letter_*.html)."""
    return ban if ban is not None and ban.until > now else None
