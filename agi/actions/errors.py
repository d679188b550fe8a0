"""The one error a supervisor action raises: one sentence, shown as it is (CLI exit 2, console form)."""

from agi.sentences import Sentence


class ActionError(Sentence):
    """An action refused: bad input, or nothing to change. The message is one sentence, raised as
    its English template with the values it names; the console shows it in the user's language
    (agi.sentences)."""
