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


def test_the_screening_in_the_timeline_is_what_the_service_decided_on_arrival():
    """The incident keeps its call's screening (the answered route reads it from the caller's
    channel): a caller allowlisted at the time, with a history that would warn, shows as allowed,
    not as what the history alone decides now."""
    from dataclasses import replace

    earlier = [Incident.new(N, "threat", ARRIVED - 3600 * k) for k in range(1, 4)]
    inc = Incident.new(N, "threat", ARRIVED + 50, linkedid="1799999940.17", source="key")
    kept = replace(inc, screened="allow allowlisted")
    assert timeline(kept, earlier, None, Config())[0] == (
        ARRIVED,
        "screening of the caller on arrival: allow (allowlisted)",
    )
    again = timeline(inc, earlier, None, Config())[0][1]
    assert "decided again from the caller's earlier incidents" in again and "allowlisted" not in again


def test_only_the_engines_own_words_are_kept_from_the_channel():
    from agi.routes.answered import screened_words

    assert screened_words("warn warn-threshold") == "warn warn-threshold"
    assert screened_words("warn repeat-caller") == ""  # not a reason of the engine's
    assert screened_words("senior clean") == "senior clean"
    assert screened_words("") == screened_words(None) == screened_words(" ") == ""
    assert screened_words('allow clean"; hangup') == ""  # a channel variable someone else set
    assert screened_words("allow") == ""
