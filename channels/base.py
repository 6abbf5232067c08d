"""What every channel adapter is and how it reports failure.

Exception hierarchy (only ``scheduler/delivery.py`` decides what to do with each)::

    ChannelError                  base; carries a message safe to show and to log
    ├── TransientError            not sent; try again later (timeouts before a response,
    │                             connection refused, 429, 5xx); ``retry_after`` seconds
    │                             when the server named a delay
    ├── PermanentError            not sent and never will be as it stands (4xx validation,
    │                             bad credentials, content rejected)
    └── OutcomeUnknown            the request may have reached the server but no answer came
                                  back (connection dropped after sending, read timeout):
                                  never blindly resent

An adapter receives a plain :class:`Message` (it never imports ``posts``) and returns a
:class:`Receipt`. HTTP adapters wrap their calls in :func:`translate_errors` and check
responses with :func:`raise_for`, so status codes are mapped in one place. No message ever
contains a secret.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    import httpx

Now = Callable[[], datetime]


@dataclass(frozen=True)
class Media:
    """An image to attach, with the alt text every image must have."""

    path: str
    sha256: str
    alt: str


@dataclass(frozen=True)
class Message:
    """One post for one channel, as the adapter sends it (made by channels/outgoing.py).

    ``text`` is exactly the words that go out, the link already appended where the channel
    type shows it in the text; ``link`` is the same (tagged) link for cards and link fields.
    """

    text: str
    idempotency_key: str
    link: str | None = None
    media: tuple[Media, ...] = ()
    title: str | None = None
    campaign: str | None = None
    post_id: int | None = None
    delivery_id: int | None = None
    #: the id :meth:`Adapter.prepare` returned on an earlier attempt (DESIGN §9.4), if any
    prepared: str | None = None
    #: a lookup proves only posts created at or after this (the claim, less a clock allowance)
    not_before: datetime | None = None
    #: ``time.monotonic()`` by which every request of this send must have finished
    deadline: float | None = None


@dataclass(frozen=True)
class Receipt:
    """What the channel said: its id for the post and where the public can see it."""

    remote_id: str | None = None
    remote_url: str | None = None


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


class Channel(Protocol):
    """A configured destination.

    ``deduplicates`` is true when the channel itself recognises a repeated idempotency key
    (so an unknown outcome may be retried with the same key), for ``dedup_window`` after the
    first attempt (None: for ever); ``lookup`` returns the receipt
    of an earlier send of the message if the channel can find it, None if it can tell that
    it was not sent, and raises ``OutcomeUnknown`` when it cannot tell.
    """

    name: str
    type: str
    deduplicates: bool
    dedup_window: timedelta | None

    def publish(self, message: Message) -> Receipt: ...

    def lookup(self, message: Message) -> Receipt | None: ...

    def check(self) -> str: ...


@dataclass
class Adapter:
    """Shared state of adapters: name, options, an HTTP client, a clock, a secret getter."""

    name: str
    now: Now
    options: dict = field(default_factory=dict)
    client: httpx.Client | None = None
    secret: Callable[[], str] | None = None

    type = "base"
    deduplicates = False
    dedup_window: ClassVar[timedelta | None] = None

    def __post_init__(self) -> None:
        """Adapters that keep state between calls (a login session) set it up here."""

    def prepare(self, message: Message) -> str | None:
        """The safe first step of a two-step send (upload media, create a container).

        Returns the prepared object's id, which the engine stores on the delivery before it
        calls :meth:`publish` with ``message.prepared`` set, so an unknown outcome can be
        settled by asking for that object. None: nothing to prepare (the default).
        """
        return None

    def lookup(self, message: Message) -> Receipt | None:
        """By default a channel cannot be asked whether a message arrived."""
        raise OutcomeUnknown(f"{self.name}: {self.type} cannot be asked whether a post arrived")


def retry_after_seconds(headers: httpx.Headers, now: datetime) -> float | None:
    """The delay a server asked for: Retry-After (seconds or HTTP date) or a reset time."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, (when - now).total_seconds())
    reset = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            try:
                when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                return None
            return max(0.0, (when - now).total_seconds())
        # Epoch seconds when large, otherwise a number of seconds to wait.
        return max(0.0, number - now.timestamp()) if number > 1e9 else max(0.0, number)
    return None


def said(response: httpx.Response, *keys: str) -> str:
    """The server's own words: the first of ``keys`` in a JSON body, else the short text."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text)
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), str) and body[key]:
                return _short(body[key])
    return _short(response.text)


def raise_for(
    response: httpx.Response,
    channel: str,
    now: datetime,
    detail: str = "",
    retry_after: float | None = None,
) -> None:
    """Map an HTTP status to our errors (429/5xx transient; 401/403 credentials; other 4xx).

    ``detail`` is the server's message when the caller has parsed it; ``retry_after`` a delay
    the body named (Telegram, Discord), used when no header names one.
    """
    status = response.status_code
    if status < 300:
        return
    said_text = detail or _short(response.text)
    delay = retry_after_seconds(response.headers, now)
    if delay is None:
        delay = retry_after
    if status == 429:
        raise TransientError(f"{channel}: rate limited (429)", delay)
    if status >= 500:
        raise TransientError(f"{channel}: server error {status} {said_text}".rstrip(), delay)
    if status in (401, 403):
        raise PermanentError(f"credentials rejected by {channel} ({status})")
    raise PermanentError(f"{channel}: refused with {status}: {said_text}".rstrip(": "))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def translate_errors(channel: str) -> Iterator[None]:
    """Turn httpx transport errors into ours, telling 'not sent' from 'maybe sent'."""
    import httpx

    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TransientError(f"{channel}: could not connect ({type(exc).__name__})") from exc
    except (
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.WriteError,
        httpx.WriteTimeout,
    ) as exc:
        raise OutcomeUnknown(
            f"{channel}: connection lost after sending ({type(exc).__name__})"
        ) from exc
    except httpx.HTTPError as exc:
        raise TransientError(f"{channel}: {type(exc).__name__}") from exc
