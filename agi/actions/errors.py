"""The one error a supervisor action raises: one sentence, shown as it is (CLI exit 2, console form)."""


class ActionError(Exception):
    """An action refused: bad input, or nothing to change. The message is one sentence."""
