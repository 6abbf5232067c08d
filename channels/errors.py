"""What a channel's answer comes to, when it is not a receipt (DESIGN §9).

Three outcomes besides success, and the engine treats each differently: ``TransientError``
(not sent: try again), ``PermanentError`` (not sent: a person must change something) and
``OutcomeUnknown`` (it may have landed: never resend blind). Their own module, so that the
answer readers (channels/answers.py) and the adapter base (channels/base.py) share them
without importing each other.
"""

from __future__ import annotations


class ChannelError(Exception):
    """A channel did not accept a message; the text is safe to store and show."""


class TransientError(ChannelError):
    """Not sent; worth trying again, after ``retry_after`` seconds if the server said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Not sent, and sending again unchanged will fail the same way."""


class OutcomeUnknown(ChannelError):
    """The request may have been received; only the channel can tell whether it was."""
