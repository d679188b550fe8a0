"""Bans, allowlist and written warnings, for numbers and number ranges (prefixes)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from agi.actions.bounds import actor_name, reason_text, wide_range
from agi.actions.errors import ActionError
from agi.actions.formats import iso
from agi.config import DEFAULT_MIN_PREFIX_DIGITS, Config
from agi.engine import DAY, Action, Allow, Ban, decide, rung_at_least
from agi.prefixes import PrefixCache
from redis_schema.store import Store

MAX_BAN_DAYS = 3650


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


def ban_days(config: Config, days: int | None, label: str = "the ban length in days") -> int:
    """The ban's length: as given, else the protocol's ``ban_days`` (90 when that is 0)."""
    days = days if days is not None else config.protocol_for(None)[1].ban_days or 90
    if not 1 <= days <= MAX_BAN_DAYS:
        raise ActionError(f"{label} must be a whole number from 1 to {MAX_BAN_DAYS} (ten years).")
    return days


def checked_range(
    target: Target, min_prefix_digits: int, confirmed: bool, ask: str = "confirm that you mean the whole range"
) -> None:
    """A ban or allowlist entry for a range as wide as a country needs ``confirmed`` (pure);
    ``ask`` says how to confirm (the CLI: --yes)."""
    why = wide_range(target.value, min_prefix_digits) if target.kind == "prefix" else None
    if why and not confirmed:
        raise ActionError(f"{why}; {ask}.")


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
    await _clear(store, target, "ban", "unban", "has no ban", actor, now)


async def disallow(store: Store, target: Target, actor: str, now: float) -> None:
    await _clear(store, target, "allow", "disallow", "is not on the allowlist", actor, now)


async def _clear(store: Store, target: Target, what: str, action: str, missing: str, actor: str, now: float) -> None:
    actor = actor_name(actor)
    if target.kind == "prefix":
        removed = await store.lists.clear_prefix(what, target.value)
    else:
        removed = await (
            store.lists.clear_ban(target.value) if what == "ban" else store.lists.clear_allow(target.value)
        )
    if not removed:
        raise ActionError(f"{target.value} {missing}.")
    await store.streams.audit(actor, action, now, **{target.kind: target.value})


async def active_bans(store: Store, now: float, limit: int = 1000) -> list[BanRow]:
    """Active bans, numbers (from the bans index, never a SCAN) and ranges, soonest end first."""
    numbers = await store.lists.banned_numbers(now, limit)
    rows = [
        BanRow(n, "number", r.ban.until, r.ban.source, r.ban.reason, r.ban.actor, r.ban.set_at)
        for n, r in (await store.screening.load_callers(numbers)).items()
        if r.ban is not None and r.ban.until > now
    ]
    bans, _ = await store.screening.load_prefixes()
    rows += [
        BanRow(p, "prefix", b.until, "prefix", b.reason, b.actor, b.set_at) for p, b in bans.items() if b.until > now
    ]
    return sorted(rows, key=lambda r: (r.until, r.target))


async def allowlist(store: Store, limit: int = 1000) -> list[AllowRow]:
    """Allowlisted numbers (from the allowlist index, never a SCAN) and ranges."""
    numbers = await store.lists.allowed_numbers(limit)
    rows = [
        AllowRow(n, "number", r.allow.reason, r.allow.actor, r.allow.set_at)
        for n, r in (await store.screening.load_callers(numbers)).items()
        if r.allow is not None
    ]
    _, allows = await store.screening.load_prefixes()
    rows += [AllowRow(p, "prefix", a.reason, a.actor, a.set_at) for p, a in allows.items()]
    return sorted(rows, key=lambda r: (r.kind, r.target))


async def load_prefixes(store: Store) -> PrefixCache:
    cache = PrefixCache()
    cache.replace(*await store.screening.load_prefixes())
    return cache


async def due_warnings(store: Store, config: Config, now: float) -> list[WarningDue]:
    """Callers at or above the written-warning rung with no warning recorded.

    Candidates are the owners of incidents in the protocol window (the logbook index), so
    the work grows with incidents, never with every caller.
    """
    _, protocol = config.protocol_for(None)
    prefixes = await load_prefixes(store)
    ids = await store.incidents.incident_ids(now - protocol.window_days * DAY)
    owners = await store.incidents.owners(i for i, _ in ids)
    out = []
    for number, rec in sorted((await store.screening.load_callers(n for n in owners.values() if n)).items()):
        if rec.warning_sent_at is not None or not rec.incidents:
            continue
        pban, pallow = prefixes.lookup(number)
        d = decide(rec, protocol, now, prefix_ban=pban, prefix_allow=pallow)
        if d.action is not Action.ALLOW and rung_at_least(d.action, protocol.written_warning_at):
            out.append(WarningDue(number, d.action.value, d.score, d.incidents, rec.incidents[-1].at))
    return out


async def mark_warning_sent(store: Store, number: str, actor: str, now: float) -> None:
    actor = actor_name(actor)
    await store.incidents.mark_warning_sent(number, now, actor)
    await store.streams.audit(actor, "warning-sent", now, number=number)
