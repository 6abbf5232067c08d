"""What every channel adapter is and how it reports failure.

Exception hierarchy (only ``scheduler/`` decides what to do with each)::

    ChannelError                  base; carries a message safe to show and to log
    ├── TransientError            not sent; try again later (connection refused, connect
    │                             timeout, 429, 5xx, a read that failed, the send deadline
    │                             passed before the post was sent); ``retry_after`` seconds
    │                             when the server named a delay
    ├── PermanentError            not sent and never will be as it stands (4xx validation,
    │                             bad credentials, an image missing or changed since
    │                             approval, an invalid URL in config)
    └── OutcomeUnknown            the post may have reached the server but no usable answer
                                  came back (connection lost or deadline hit after sending,
                                  a 2xx whose body is not the expected JSON): never blindly
                                  resent

Nothing else leaves an adapter. Subclasses implement ``_publish``, ``_lookup``, ``_check``
and ``_prepare``; the public methods of :class:`Adapter` run them under a guard that turns
any other exception (a bug, an unexpected body) into: ``OutcomeUnknown`` from ``publish``
once a state-changing request has started (it may be out) and ``TransientError`` before
that; ``OutcomeUnknown`` from ``lookup`` (it cannot tell); ``TransientError`` from
``prepare`` and ``check`` (nothing irreversible happened). The original is chained as
``__cause__`` for the engine's log.

All HTTP goes through :meth:`Adapter.request` (transport errors, the send deadline, status
codes, the channel's error bodies) and :meth:`Adapter.expect` (the JSON fields a 2xx must
carry); images are read through :meth:`Adapter.media_file`, which re-hashes them. No message
ever contains a secret or a URL (Telegram and Discord URLs hold tokens).
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from channels.answers import cut_timeout, dig, json_or_none, raise_for, retry_after_seconds, said
from channels.errors import ChannelError, OutcomeUnknown, PermanentError, TransientError

if TYPE_CHECKING:
    import httpx

__all__ = [  # re-exported: adapters and the engine import them from here
    "ChannelError",
    "OutcomeUnknown",
    "PermanentError",
    "TransientError",
    "raise_for",
    "retry_after_seconds",
    "said",
]

Now = Callable[[], datetime]
#: a channel's reading of an answer (and its JSON body, or None): raise a ChannelError if it
#: names a failure; return True to accept it whatever its status
Classifier = Callable[["httpx.Response", Any], "bool | None"]
T = TypeVar("T")


@dataclass(frozen=True)
class Media:
    """An image to attach, with the alt text every image must have."""

    path: str
    sha256: str
    alt: str


@dataclass(frozen=True)
class MediaFile:
    """An image's bytes, re-hashed against what was approved, ready to upload."""

    name: str
    data: bytes
    mime: str
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
class _Call:
    """One guarded call: its deadline, and whether a state-changing request has started."""

    deadline: float | None
    sent: bool = False


# Per thread (the engine publishes from a pool; one adapter may serve several threads).
_CALL: ContextVar[_Call | None] = ContextVar("signpost_channel_call", default=None)

# Transport errors raised before a byte of the request left: the post cannot be out.
_NOT_SENT_TRANSIENT = ("ConnectError", "ConnectTimeout", "PoolTimeout", "ProxyError")
_NOT_SENT_PERMANENT = ("UnsupportedProtocol", "InvalidURL", "LocalProtocolError")


@dataclass
class Adapter:
    """Shared state of adapters: name, options, an HTTP client, clocks, a secret getter.

    ``monotonic`` and ``sleep`` are injectable so tests of deadlines and polling neither
    wait nor depend on the machine's speed.
    """

    name: str
    now: Now
    options: dict = field(default_factory=dict)
    client: httpx.Client | None = None
    secret: Callable[[], str] | None = None
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    type = "base"
    deduplicates = False
    dedup_window: ClassVar[timedelta | None] = None
    #: JSON keys of an error body that hold the server's words, for :func:`raise_for`
    said_keys: ClassVar[tuple[str, ...]] = ("error", "message")
    #: the network has been seen to make the post and then answer 5xx (Facebook, LinkedIn:
    #: channels.md §15), so a 5xx to a sending request is an unknown outcome, not transient
    server_error_may_post: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Adapters that keep state between calls (a login session) set it up here."""

    # --- the guarded public methods (what the engine and the CLI call) ----------------

    def publish(self, message: Message) -> Receipt:
        """Send ``message``; a Receipt, or a ChannelError saying whether it may be out."""
        return self._guard("publish", message.deadline, lambda: self._publish(message))

    def lookup(self, message: Message) -> Receipt | None:
        """The receipt of an earlier send of ``message`` created at or after its
        ``not_before``; None if the channel shows it was not sent."""
        return self._guard("lookup", message.deadline, lambda: self._lookup(message))

    def prepare(self, message: Message) -> str | None:
        """The safe first step of a two-step send (upload media, create a container).

        Returns the prepared object's id, which the engine stores on the delivery before it
        calls :meth:`publish` with ``message.prepared`` set, so an unknown outcome can be
        settled by asking for that object. None: nothing to prepare (the default).
        """
        return self._guard("prepare", message.deadline, lambda: self._prepare(message))

    def check(self) -> str:
        """Connect and authenticate without posting; a line saying what was found."""
        return self._guard("check", None, self._check)

    # --- what subclasses implement ----------------------------------------------------

    def _publish(self, message: Message) -> Receipt:
        raise NotImplementedError

    def _lookup(self, message: Message) -> Receipt | None:
        """By default a channel cannot be asked whether a message arrived."""
        raise OutcomeUnknown(f"{self.name}: {self.type} cannot be asked whether a post arrived")

    def _prepare(self, message: Message) -> str | None:
        return None

    def _check(self) -> str:
        raise NotImplementedError

    def classify(self, response: httpx.Response, body: Any) -> bool | None:
        """The channel's reading of an answer (``body``: its JSON, or None); raise a
        ChannelError where the body names a failure. Status codes are mapped afterwards
        unless this returns True."""
        return None

    def _guard(self, action: str, deadline: float | None, run: Callable[[], T]) -> T:
        outer = _CALL.get()
        call = outer if outer is not None else _Call(deadline)
        token = _CALL.set(call)
        try:
            return run()
        except ChannelError:
            raise
        except Exception as exc:
            what = f"{self.name}: unexpected {type(exc).__name__} in {self.type} {action}"
            if action == "lookup":
                raise OutcomeUnknown(f"{what}; cannot tell whether it was posted") from exc
            if action == "publish" and call.sent:
                raise OutcomeUnknown(f"{what} after sending; it may have been posted") from exc
            raise TransientError(f"{what}; nothing was posted") from exc
        finally:
            _CALL.reset(token)

    # --- the send deadline ------------------------------------------------------------

    def budget(self, timeout: float | None, *, sends: bool) -> float | None:
        """``timeout`` cut to what is left of the send deadline, just before a request.

        Past the deadline a request is not made: TransientError (OutcomeUnknown when an
        earlier request of this send may already have posted part of it). A state-changing
        request (``sends``) is recorded as started, which the guard needs.
        """
        call = _CALL.get()
        if call is not None and call.deadline is not None:
            left = call.deadline - self.monotonic()
            if left <= 0:
                if call.sent:
                    raise OutcomeUnknown(
                        f"{self.name}: the send deadline passed part-way; it may be partly out"
                    )
                raise TransientError(f"{self.name}: the send deadline passed before sending")
            timeout = left if timeout is None else min(timeout, left)
        if sends and call is not None:
            call.sent = True
        return timeout

    def wait(self, seconds: float) -> None:
        """Sleep between polls, but never past the send deadline (TransientError then)."""
        call = _CALL.get()
        if call is not None and call.deadline is not None:
            if self.monotonic() + seconds >= call.deadline:
                raise TransientError(f"{self.name}: the send deadline passed while waiting")
        self.sleep(seconds)

    # --- the one request path ---------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        sends: bool,
        classify: Classifier | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One HTTP request, every failure mapped to a ChannelError.

        ``sends``: this request may make the post public (the irreversible call). A
        transport error once the request may have left is then OutcomeUnknown, for any
        other request TransientError. ``classify`` reads error bodies (default
        :meth:`classify`); then :func:`raise_for` maps the status.
        """
        import httpx

        assert self.client is not None, "an HTTP adapter needs a client"
        timeout = httpx.Timeout(kwargs.pop("timeout", None) or self.client.timeout)
        longest = max(
            (t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t),
            default=None,
        )
        left = self.budget(longest, sends=sends)
        if left is not None and left != longest:
            timeout = cut_timeout(timeout, left)
        try:
            response = self.client.request(method, url, timeout=timeout, **kwargs)
        except Exception as exc:
            kind = type(exc).__name__
            if kind in _NOT_SENT_TRANSIENT:
                raise TransientError(f"{self.name}: could not connect ({kind})") from exc
            if kind in _NOT_SENT_PERMANENT:
                raise PermanentError(f"{self.name}: the request is invalid ({kind})") from exc
            if sends:
                raise OutcomeUnknown(
                    f"{self.name}: connection lost after sending ({kind})"
                ) from exc
            raise TransientError(f"{self.name}: connection lost ({kind})") from exc
        if sends and self.server_error_may_post and response.status_code >= 500:
            raise OutcomeUnknown(
                f"{self.name}: answered {response.status_code} to the post, which {self.type}"
                " sometimes makes anyway; it is looked up, never resent blind"
            )
        if (classify or self.classify)(response, json_or_none(response)) is True:
            return response
        raise_for(response, self.name, self.now(), said(response, *self.said_keys))
        return response

    def expect(self, response: httpx.Response, *fields: str, sends: bool) -> Any:
        """The JSON body of a 2xx answer, which must hold ``fields`` (dotted for nesting).

        A body we cannot read after a state-changing request is OutcomeUnknown (the post
        may well be out); after a read it is TransientError.
        """
        body = json_or_none(response)
        missing = [f for f in fields if dig(body, f) is None]
        if body is None or missing:
            what = "is not JSON" if body is None else f"lacks {', '.join(missing)}"
            raise self.unreadable(f"answered {response.status_code} but the body {what}", sends)
        return body

    def unreadable(self, what: str, sends: bool) -> ChannelError:
        """An answer we cannot use: it may be out after a send (OutcomeUnknown), else not."""
        if sends:
            return OutcomeUnknown(f"{self.name}: {what}; it may have been posted")
        return TransientError(f"{self.name}: {what}")

    def call(
        self, method: str, url: str, *, sends: bool, fields: tuple[str, ...] = (), **kwargs: Any
    ) -> Any:
        """:meth:`request`, then :meth:`expect` ``fields``: the parsed JSON body."""
        return self.expect(self.request(method, url, sends=sends, **kwargs), *fields, sends=sends)

    def prepared_ids(self, message: Message) -> list[str]:
        """The ids :meth:`prepare` recorded for ``message`` (comma-joined), or prepared now
        when it is published without that step."""
        prepared = message.prepared if message.prepared is not None else self._prepare(message)
        return [i for i in (prepared or "").split(",") if i]

    def earlier_send(self, message: Message) -> Receipt:
        """A duplicate refusal on a send: our earlier try if the account shows it since the
        claim; otherwise the identical post is an older one, and this send is refused."""
        found = self._lookup(message)
        if found is not None:
            return found
        raise PermanentError(
            f"{self.name}: {self.type} refuses the text as a duplicate of an older post"
            " (not one of this send's); change the words to post it again"
        )

    # --- images -----------------------------------------------------------------------

    def media_file(self, media: Media) -> MediaFile:
        """The image's bytes, only if they still hash to what was approved."""
        path = Path(media.path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PermanentError(f"{self.name}: image not found: {media.path}") from None
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise PermanentError(f"{self.name}: cannot read image {media.path} ({why})") from None
        if hashlib.sha256(data).hexdigest() != media.sha256:
            raise PermanentError(f"{self.name}: image changed since approval: {media.path}")
        mime = mimetypes.guess_type(media.path)[0] or "application/octet-stream"
        return MediaFile(path.name, data, mime, media.alt)

    def media_files(self, message: Message) -> list[MediaFile]:
        """Every image of ``message``, all checked before anything is sent."""
        return [self.media_file(m) for m in message.media]
