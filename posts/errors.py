"""Errors a user can cause, each mapped to one exit code by the CLI.

Hierarchy::

    SignpostError          base; never raised directly
    ├── UserError          bad input or unknown object (exit 1)
    │   └── ConfigError    the config file is wrong (exit 1)
    └── PolicyRefused      a rule said no: four-eyes, role, content rules (exit 3)
        └── ChangedSince   the post changed after the reviewer looked at it (exit 3)

Every message is one line that names the file, field, key or id and says what was expected.
No message ever contains a secret.
"""

from __future__ import annotations


class SignpostError(Exception):
    """Base of every error meant for the user rather than for a traceback."""

    exit_code = 1


class UserError(SignpostError):
    """The user asked for something that does not exist or gave malformed input."""

    exit_code = 1


class ConfigError(UserError):
    """The config file is missing, unreadable or holds a wrong key or value."""


class PolicyRefused(SignpostError):
    """A policy refused the action: four-eyes, a missing role or failed content rules."""

    exit_code = 3


class ChangedSince(PolicyRefused):
    """An approval or rejection named a revision that is no longer the post's current one.

    Carries the post and its current revision so that the review page can say "changed since
    you opened it" and link to the new version, where the CLI prints the message.
    """

    def __init__(self, message: str, *, post_id: int, current: int) -> None:
        super().__init__(message)
        self.post_id = post_id
        self.current = current
