"""Redis key templates and TTLs: the only place key names are spelled (documented in SCHEMA.md)."""

from __future__ import annotations

import hashlib

PREFIX = "gw:"


# Per caller: one hash holding the caller's incidents, ban, allowlist entry and warning.
# The {hash tag} keeps every key of one caller in one Redis Cluster slot.
def caller(number: str) -> str:
    """The caller's hash; for a ``home`` of a withheld caller's key press, that press's own hash."""
    if number.startswith(WITHHELD_HOME):
        return f"{PREFIX}w:{{{number[len(WITHHELD_HOME) :]}}}"
    return f"{PREFIX}c:{{{number}}}"


# Withheld callers are all one "number", so their incidents would pile up in one hash that
# screening reads whole on every withheld call and add_incident.lua on every key press. Each
# press of a withheld caller has a hash of its own instead ("gw:w:{linkedid/source}"), named
# in the logbook index by its "home": the incident's owner in INCIDENT_OWNER.
ANONYMOUS = "anonymous"
WITHHELD_HOME = ANONYMOUS + "/"


def incident_home(caller: str, incident_id: str, linkedid: str, source: str) -> str:
    """The number whose hash (``caller(home)``) holds an incident: the caller's own, or for a
    withheld caller one per key press (the same press under another id finds it there)."""
    if caller != ANONYMOUS:
        return caller
    return WITHHELD_HOME + (f"{linkedid}/{source}" if linkedid else incident_id)


def shown_number(home: str) -> str:
    """The caller of an incident stored under ``home``."""
    return ANONYMOUS if home.startswith(WITHHELD_HOME) else home


CALLER_SCAN = PREFIX + "c:{*}"

# Global indexes for the supervisor tools (not read on the screening path).
INCIDENTS_BY_TIME = PREFIX + "incidents"  # ZSET incident id -> epoch seconds
INCIDENT_OWNER = PREFIX + "incident-owner"  # HASH incident id -> caller number
PREFIX_BANS = PREFIX + "prefix:ban"  # HASH prefix -> JSON {until, reason, at, by}
PREFIX_ALLOWS = PREFIX + "prefix:allow"  # HASH prefix -> JSON {reason, at, by}
EVENTS = PREFIX + "events"  # STREAM logbook event log (incidents, for wallboards)
AUDIT = PREFIX + "audit"  # STREAM audit trail of every change
COOLDOWNS = PREFIX + "cooldowns"  # HASH agent interface -> JSON cool-down state (one key: atomic)
CALLBACKS = PREFIX + "callbacks"  # HASH appointment id -> JSON appointment (one key: compare-and-set)
FORGOTTEN = PREFIX + "forgotten"  # ZSET forgotten_member(number) -> time of the erasure (see SCHEMA.md)
OLD_COOLDOWN_DUE = PREFIX + "cooldown:due"  # before 0.2: migrated into COOLDOWNS at start
OLD_COOLDOWN_STATE = PREFIX + "cooldown:state"
QUARANTINE = PREFIX + "quarantine"  # HASH "<kind>:<name>:<time>" -> a malformed entry set aside
BANS = PREFIX + "bans"  # ZSET number -> ban end (epoch s): the bans page never SCANs callers
ALLOWS = PREFIX + "allows"  # ZSET number -> when it was allowlisted (the allowlist page)
USERS = PREFIX + "users"  # HASH console user name -> JSON {role, hash, gen, at, by}


def forgotten_member(number: str) -> str:
    """A number's member in FORGOTTEN: its SHA-256, so the record of an erasure holds no number."""
    return hashlib.sha256(number.encode()).hexdigest()


def stats(day: str) -> str:
    """Per-day screening counters, day as YYYY-MM-DD (UTC)."""
    return f"{PREFIX}stats:{day}"


STATS_SCAN = PREFIX + "stats:*"

# Field names inside the caller hash. Incident fields are "<n>.<suffix>", n a short per-caller
# index counted in field NEXT_INDEX; the suffixes are in redis_schema.records.INCIDENT.
NEXT_INDEX = "n"
BAN_FIELDS = {"ban.until": "until", "ban.reason": "reason", "ban.src": "source", "ban.at": "set_at", "ban.by": "actor"}
ALLOW_FIELDS = {"allow.reason": "reason", "allow.at": "set_at", "allow.by": "actor"}
WARNING_SENT = "warn.at"
WARNING_BY = "warn.by"

# TTLs.
DAY = 86_400
STATS_TTL = 400 * DAY
EVENTS_MAXLEN = 100_000


# ---- live calls and recordings (redis_schema.live_calls; issue 28) ----------------------------
def live_call(agent: str) -> str:
    """STRING JSON LiveCall: the call this agent interface answered last, with a TTL (the call
    plus [recordings] window_minutes after it ended)."""
    return f"{PREFIX}live:{agent}"


RECORDINGS_OPEN = PREFIX + "rec:open"  # HASH recording id -> JSON LiveCall whose file is not settled yet
RECORDINGS = PREFIX + "recordings"  # HASH incident id -> JSON Recording (a kept recording)
# Issue 29: help requests of calls in progress, by call (linkedid). One hash: the second press on
# the same call is an HSETNX that finds the first; each value carries its own end of life.
HELP = PREFIX + "help"  # HASH linkedid -> JSON help request (redis_schema.records.HELP)
BLOCK_REQUESTS = PREFIX + "block-requests"  # HASH request id -> JSON block request (records.BLOCK_REQUEST)
# Issue 29: every call an agent is talking on now, for the board's live calls and their listen-in.
TALKING = PREFIX + "talking"  # HASH agent interface -> JSON LiveCall (records.LIVE_CALL), while it lasts

# Console logins and sessions (redis_schema/logins.py). One hash tag, {login}: the throttle's
# script touches an account's key and an address's key at once (one Cluster slot).
LOGIN_PREFIX = PREFIX + "{login}:"
LOGIN_SCAN = LOGIN_PREFIX + "*"


def login_account(name: str) -> str:
    """HASH of an account's failed logins: "all" (from any address) and "a:<address>" (from one)."""
    return f"{LOGIN_PREFIX}account:{name}"


def login_address(address: str) -> str:
    """Failed logins from one address (an IPv6 /64), for any account: a counter."""
    return f"{LOGIN_PREFIX}address:{address}"


def session(digest: str) -> str:
    """HASH of one console session {u: user, g: generation, t: last activity}, by its id's SHA-256."""
    return f"{PREFIX}session:{digest}"


# ---- Exact logbook indexes, write-time statistics, the warnings worklist (issue 30; SCHEMA.md) ----
# Logbook filter indexes: one ZSET per filter value, incident id -> time, like INCIDENTS_BY_TIME.
def by_agent(agent: str) -> str:
    """Incidents of one agent interface, lower-cased (the agent filter ignores case)."""
    return f"{PREFIX}ix:a:{agent.lower()}"


def by_queue(queue: str) -> str:
    return f"{PREFIX}ix:q:{queue}"


def by_category(category: str) -> str:
    return f"{PREFIX}ix:c:{category}"


def open_by_category(category: str) -> str:
    """Incidents of one category without a debrief yet."""
    return f"{PREFIX}ix:o:{category}"


WITHHELD_INCIDENTS = PREFIX + "ix:anonymous"  # ZSET incident id -> time: every withheld caller's incident
INDEX_AGENTS = PREFIX + "ix:agents"  # HASH lower-cased agent interface -> "1": the agents with an index
INDEX_QUEUES = PREFIX + "ix:queues"  # HASH queue -> "1"
INDEX_CATEGORIES = PREFIX + "ix:categories"  # HASH category -> "1"
INDEX_SCAN = PREFIX + "ix:*"


def stats_day(day: str) -> str:
    """Incident counts of one day (YYYY-MM-DD in the aggregates' zone): ``c:<category>``, ``a:<agent>``."""
    return f"{PREFIX}agg:d:{day}"


def stats_month(month: str) -> str:
    """The agents' incident counts of one month (YYYY-MM in the aggregates' zone): ``a:<agent>``."""
    return f"{PREFIX}agg:m:{month}"


def repeat_rank(k: int) -> str:
    """ZSET caller number -> time of that caller's k-th latest incident (the repeat callers' chart)."""
    return f"{PREFIX}agg:k:{k}"


RANK_MAX = PREFIX + "agg:kmax"  # ZSET member "k" -> the highest k with a repeat_rank key
AGGREGATES_META = PREFIX + "agg:meta"  # HASH version, zone: what the aggregates were built for
AGGREGATES_SCAN = PREFIX + "agg:*"
WARNINGS_DUE = PREFIX + "warn:due"  # ZSET number -> last incident: callers that may be due a written warning
WITHHELD_SCAN = PREFIX + "w:{*}"
REBUILD_LOCK = PREFIX + "rebuild-lock"  # STRING with a TTL: one rebuild of the above at a time


# ---- Issue 30: the console's TOTP second factor and each user's board alerts (SCHEMA.md) ----
def second_factor(name: str) -> str:
    """HASH of a user's TOTP second factor: ``s`` the secret (encrypted), ``at`` enrolled, ``step`` last used."""
    return f"{PREFIX}totp:{{{name}}}"


def second_factor_pending(name: str) -> str:
    """STRING: a secret being enrolled (encrypted), until the first code confirms it (the user's
    hash tag: one Cluster slot with the second factor's hash)."""
    return f"{PREFIX}totp:{{{name}}}:pending"


def preferences(name: str) -> str:
    """HASH of a console user's own settings: ``sound``, ``desktop`` ("1" or "0"): the board's alerts."""
    return f"{PREFIX}prefs:{name}"


# ---- Caller names (redis_schema/caller_names.py; issue 30) ------------------------------------
# One hash tag ({names}): a name, its index words and its time change in one transaction, and a
# Cluster runs a transaction only on keys of one slot.
CALLER_NAMES = PREFIX + "{names}"  # HASH number -> JSON {name, at}: a caller's last caller ID name
NAME_INDEX = PREFIX + "{names}:ix"  # ZSET, every score 0: "<name token> <number>" (search by name, by prefix)
NAMES_SEEN = PREFIX + "{names}:at"  # ZSET number -> when their name was last seen (the retention purge)
NAME_INDEX_NEW = PREFIX + "{names}:ix:new"  # ZSET: gw:{names}:ix being rebuilt, RENAMEd over it when whole
NAMES_SEEN_NEW = PREFIX + "{names}:at:new"  # ZSET: gw:{names}:at being rebuilt, likewise
AGENT_NAMES = PREFIX + "agent-names"  # HASH agent interface -> display name
# Issue 30: the board's threats not yet reported to the police, from an index (not the newest 2,000 incidents).
THREAT = "threat"  # the category that must be reported to the police
UNREPORTED_THREATS = PREFIX + "ix:unreported"  # ZSET incident id -> time: threats without a report
# The erasure (``forget``) looks at every agent's last call: gw:live:<agent> holds no index of its own.
LIVE_SCAN = PREFIX + "live:*"
