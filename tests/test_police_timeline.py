"""The police report's timeline starts when the call reached the PBX (issue 28: "arrival, screening
decision, agent answered, key press, hang-up"). Before, the arrival row carried the time the agent
answered (or, without a recording, the key press), although Asterisk's linkedid says when it came."""

from __future__ import annotations

from agi.actions.police import arrival, timeline
from agi.config import Config
from agi.engine import Incident
from redis_schema.records import Recording

N = "+31612345678"
ARRIVED = 1_799_999_940.0


def test_arrival_is_the_epoch_of_asterisks_linkedid():
    assert arrival("1799999940.17", ARRIVED + 30) == ARRIVED
    assert arrival("gw-abc123", ARRIVED + 30) == ARRIVED + 30  # not Asterisk's own kind of id
    assert arrival("1799999999.1", ARRIVED + 30) == ARRIVED + 30  # after what is known: not this call
    assert arrival("1000000000.1", ARRIVED + 30) == ARRIVED + 30  # years before: not this call
    assert arrival("17999x9940.17", ARRIVED + 30) == ARRIVED + 30


def test_the_timeline_runs_from_the_arrival_to_the_end_of_the_call():
    inc = Incident.new(N, "threat", ARRIVED + 50, linkedid="1799999940.17", agent="PJSIP/1001", source="key")
    rec = Recording(inc.id, inc.linkedid, N, "/r.wav", started=ARRIVED + 25, duration=40.0, agent="PJSIP/1001")
    rows = timeline(inc, [], rec, Config())
    assert [at for at, _ in rows] == [ARRIVED, ARRIVED + 25, ARRIVED + 50, ARRIVED + 65]
    assert rows[0][1].startswith("screening of the caller on arrival: ")
    # No recording: the arrival still comes from the linkedid, not from the key press.
    assert timeline(inc, [], None, Config())[0][0] == ARRIVED
