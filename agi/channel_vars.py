"""Every channel variable Grenswacht reads or writes, in one place.

The dialplan documentation (dialplan/README.md) lists the same names; a test checks
that every name here appears in the dialplan files that use it.
"""

# Set by the `screen` route on the caller's channel.
ACTION = "GW_ACTION"  # allow | warn | senior | refuse
REASON = "GW_REASON"  # why (see agi.engine.Reason)
SCORE = "GW_SCORE"  # weighted score in the protocol window
INCIDENTS = "GW_INCIDENTS"  # number of incidents in the protocol window
BAN_UNTIL = "GW_BAN_UNTIL"  # ISO 8601 UTC end of an active ban, or empty
PROMPTS = "GW_PROMPTS"  # sound folder for this call's prompts, e.g. grenswacht/nl
SENIOR = "GW_SENIOR"  # Dial() destination of the senior colleague
CID_NAME = "GW_CID_NAME"  # sanitised caller ID name for the senior, e.g. "[GW 2] Jansen"
RECORDED = "GW_RECORDED"  # "1": the caller is told calls may be recorded (warning-recorded, or recorded)
# Inherited by every channel the call creates (the agent's leg too): the leading "__".
CALLER = "GW_CALLER"  # normalised number (E.164) or "anonymous"
CALLER_INHERIT = "__" + CALLER
# Set by the dialplan right after the `screen` route, "GW_ACTION GW_REASON", inherited the same way:
# the answered route reads it on the agent's leg and the incident keeps it (issue 28).
SCREENED = "GW_SCREENED"

# Set by the `endlog` and `handover` routes on the agent's channel.
LOGGED = "GW_LOGGED"  # incident id, or empty when nothing was logged
RESULT = "GW_RESULT"  # logged | duplicate | journaled | no-caller | error

# Read by routes from the agent's channel (set by Asterisk or the queue).
BRIDGEPEER = "BRIDGEPEER"
MEMBERINTERFACE = "MEMBERINTERFACE"
QUEUENAME = "QUEUENAME"

ALL_SET_BY_SCREEN = (ACTION, REASON, SCORE, INCIDENTS, BAN_UNTIL, PROMPTS, SENIOR, CID_NAME, CALLER)

# Set by the `answered` route on the agent's channel: the file MixMonitor writes, or empty.
REC_FILE = "GW_REC_FILE"
# Issue 29: set by the `help` route on the agent's channel (GW_RESULT too: logged when the
# request is new, duplicate on a second press); by the `quieter` route: the VOLUME(TX) gain the
# dialplan sets next.
HELP = "GW_HELP"  # the call (linkedid) whose help request the hang-up handler removes
VOLUME = "GW_VOLUME"  # VOLUME(TX) for the agent's channel: a negative gain, or 0 (restored)
