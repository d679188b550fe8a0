"""What a supervisor adds to a logged incident for the police: the agent's account ("what was said,
exactly") and the report (date and the police's registration code). The fields live in the
incident's own slot of the caller hash (redis_schema.records.INCIDENT names them), so retention
and erasure take them with the incident."""

from __future__ import annotations

from typing import cast

from redis.typing import EncodableT, FieldT

from agi.engine import Incident
from redis_schema import keys
from redis_schema.connection import Client
from redis_schema.incident_log import IncidentLog
from redis_schema.logbook_index import LogbookIndex
from redis_schema.records import incident_fields_hash


class IncidentNotes:
    """Writes of the supervisor's fields of one incident (attached to Store as ``store.notes``)."""

    def __init__(self, redis: Client, incidents: IncidentLog, index: LogbookIndex) -> None:
        self._redis, self._incidents, self._index = redis, incidents, index

    async def write(self, incident: Incident, **values: str | float) -> None:
        number = incident.caller
        if number == keys.ANONYMOUS:  # its own hash (see keys.incident_home)
            number = await self._incidents.incident_owner(incident.id) or number
        mapping = cast(dict[FieldT, EncodableT], incident_fields_hash(incident.slot, values))
        await self._redis.hset(keys.caller(number), mapping=mapping)
        if values.get("reported_at") is not None:
            await self._index.reported([incident.id])
