"""The service layer: one function per supervisor action, shared by the CLI and the web console.

Each takes plain typed values, the Store, an actor and ``now``, writes the audit trail, and
returns a typed result or raises :class:`ActionError` with one sentence for the operator.
"""

from agi.actions.errors import ActionError

__all__ = ["ActionError"]
