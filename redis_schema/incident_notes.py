"""What a supervisor adds to a logged incident for the police: the agent's account ("what was said,
exactly") and the report (date and the police's registration code). The fields live in the
incident's own slot of the caller hash (redis_schema.records.INCIDENT names them), so retention
and erasure take them with the incident."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from redis.typing import EncodableT, FieldT

from agi.engine import Incident
from redis_schema import keys
from redis_schema.records import incident_fields_hash

if TYPE_CHECKING:
    from redis_schema.store import Store


class IncidentNotes:
    """Writes of the supervisor's fields of one incident (attached to Store as ``store.notes``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def write(self, incident: Incident, **values: str | float) -> None:
        number = incident.caller
        if number == keys.ANONYMOUS:  # its own hash (see keys.incident_home)
            number = await self._store.incident_owner(incident.id) or number
        mapping = cast(dict[FieldT, EncodableT], incident_fields_hash(incident.slot, values))
        await self._store.redis.hset(keys.caller(number), mapping=mapping)
