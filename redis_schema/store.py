"""The storage layer: every Redis read and write Grenswacht makes goes through :class:`Store`.

Store is a small facade: it holds the one Redis client (private) and one part per
responsibility, each built here with that client and what else it needs:

- ``store.server`` (:mod:`redis_schema.connection`): ping, topology, version, restarts, durability;
- ``store.screening`` (:mod:`redis_schema.screening_read`): reading callers, number ranges, counters;
- ``store.incidents`` (:mod:`redis_schema.incident_log`): incident writes, the logbook, debriefs;
- ``store.lists`` (:mod:`redis_schema.contact_lists`): bans, the allowlist, number ranges;
- ``store.streams`` (:mod:`redis_schema.streams`): logbook events and the audit trail;
- ``store.erasure`` (:mod:`redis_schema.erasure`): forgetting a caller, the retention purge;
- ``store.migrations`` (:mod:`redis_schema.migrations`): data from older versions;
- ``store.cooldowns``, ``store.callbacks``, ``store.users`` (:mod:`redis_schema.record_hash`):
  typed records, one hash each; ``store.quarantine``: where unreadable ones are set aside.

Key names come from :mod:`redis_schema.keys`; the layout is documented in SCHEMA.md.
Values read back are checked: a malformed field is skipped and logged, never a crash.
"""

from __future__ import annotations

from redis_schema import keys
from redis_schema.accounts import Accounts
from redis_schema.agent_names import AgentNames
from redis_schema.caller_names import CallerNames
from redis_schema.connection import Client, Server
from redis_schema.contact_lists import ContactLists
from redis_schema.erasure import Erasure
from redis_schema.fastread import CallerReader
from redis_schema.help_requests import HelpRequests
from redis_schema.incident_log import IncidentLog
from redis_schema.incident_notes import IncidentNotes
from redis_schema.indexes import Indexes
from redis_schema.live_calls import LiveCalls
from redis_schema.logins import Logins, Sessions
from redis_schema.migrations import Migrations
from redis_schema.rebuild import Rebuild
from redis_schema.record_hash import Quarantine, RecordHash
from redis_schema.records import APPOINTMENT, BLOCK_REQUEST, COOLDOWN, PREFIX_ALLOW, PREFIX_BAN, USER
from redis_schema.screening_read import ScreeningRead
from redis_schema.second_factor import Preferences, SecondFactors
from redis_schema.streams import Streams


class Store:
    """Grenswacht's Redis storage; one instance per process, shared by every route."""

    def __init__(
        self, redis: Client, *, retention_days: int = 365, reader: CallerReader | None = None, zone: str = "UTC"
    ) -> None:
        self._redis = redis
        self.indexes = Indexes(redis, zone)  # the logbook's filters, the statistics' counts, the warnings worklist
        self.retention = retention = retention_days * keys.DAY
        self.server = Server(redis)
        self.quarantine = Quarantine(redis)
        self.cooldowns = RecordHash(redis, keys.COOLDOWNS, COOLDOWN, self.quarantine)  # by agent interface
        self.callbacks = RecordHash(redis, keys.CALLBACKS, APPOINTMENT, self.quarantine)  # by appointment id
        self.users = RecordHash(redis, keys.USERS, USER, self.quarantine)  # console users, by name
        prefix_bans = RecordHash(redis, keys.PREFIX_BANS, PREFIX_BAN, self.quarantine)  # number ranges, by prefix
        prefix_allows = RecordHash(redis, keys.PREFIX_ALLOWS, PREFIX_ALLOW, self.quarantine)
        self.screening = ScreeningRead(redis, reader, prefix_bans, prefix_allows)
        self.names = CallerNames(redis)  # issue 30: callers' names, searchable; written with incidents
        self.incidents = IncidentLog(redis, retention, self.screening, self.indexes, self.names)
        self.lists = ContactLists(redis, retention, self.screening, prefix_bans, prefix_allows)
        self.streams = Streams(redis)
        self.migrations = Migrations(redis, retention)
        self.help = HelpRequests(redis)  # issue 29: help requests of calls in progress
        self.live = LiveCalls(redis, self.quarantine)  # issue 28: live calls and recordings
        self.erasure = Erasure(
            redis,
            retention,
            server=self.server,
            callers=self.screening,
            incidents=self.incidents,
            streams=self.streams,
            callbacks=self.callbacks,
            migrations=self.migrations,
            indexes=self.indexes,
            live=self.live,
            help=self.help,
        )
        self.rebuild = Rebuild(redis, self.indexes)  # the indexes and counts written again
        self.block_requests = RecordHash(
            redis, keys.BLOCK_REQUESTS, BLOCK_REQUEST, self.quarantine
        )  # agents' ban requests
        self.accounts = Accounts(redis)  # issue 29: agents' own accounts of incidents
        self.logins, self.sessions = Logins(redis), Sessions(redis)  # console login throttle, sessions
        self.notes = IncidentNotes(redis, self.incidents, self.indexes.logbook)  # issue 28: account by, police report
        self.second_factors, self.preferences = SecondFactors(redis), Preferences(redis)  # issue 30: TOTP, alerts
        self.agent_names = AgentNames(redis)  # issue 30: agent interface -> display name

    async def close(self) -> None:
        if self.screening.reader is not None:
            await self.screening.reader.close()
        await self.server.close()
