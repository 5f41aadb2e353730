"""The one exception every command raises for a failure the user can fix (a module of its own:
``common`` and ``errors`` both need it, and ``common`` imports ``errors`` once something failed)."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can fix: one line saying what went wrong and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
