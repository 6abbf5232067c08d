"""A contract fake of Meta's Threads API, graph.threads.net (channels.md section 13).

Configure the adapter with ``API base URL = fake.url`` (instead of
``https://graph.threads.net``), ``user id = fake.user_id`` and ``token = fake.token``.

Endpoints, as §13 gives them (all under ``/v1.0`` but the refresh):

- ``POST /v1.0/{user-id}/threads`` (form body or query: ``media_type=TEXT|IMAGE``, ``text``,
  ``image_url``, ``alt_text``?) → ``{"id": container}``. For IMAGE the fake really fetches
  ``image_url`` over HTTP, as Meta does: serve test images from a loopback server of your
  own, never from this fake (it is busy answering the create while it fetches);
- ``GET /v1.0/{container-id}?fields=status,error_message`` → ``IN_PROGRESS`` for
  ``processing_polls`` reads, then ``FINISHED`` (or ``ERROR``); ``PUBLISHED`` once
  published, ``EXPIRED`` after ``expire_container()`` or 24 h unpublished. This is the
  reconciliation handle, so ``drop_next(processed=True)`` on ``threads_publish`` leaves the
  container PUBLISHED with exactly one post;
- ``POST /v1.0/{user-id}/threads_publish?creation_id=...`` → ``{"id": media-id}``;
- ``GET /v1.0/{media-id}?fields=permalink`` (also ``id,text,timestamp,media_type,...``);
- ``GET /v1.0/me?fields=id,username`` (a credentials check);
- ``GET /v1.0/{user-id}/threads_publishing_limit?fields=quota_usage,config``: 250 posts per
  rolling 24 h (§13), enforced by ``threads_publish``;
- ``GET /refresh_access_token?grant_type=th_refresh_token`` → a new 60-day token (§13).

Errors have the Graph shape of §8: ``{"error": {"message", "type", "code",
"error_subcode"?, "fbtrace_id"}}`` (``error_subcode`` only where the fake has one, as
Graph omits it). From §8: code ``190`` is the token (permanent, re-auth), code ``4`` is
"Application request limit reached" (transient). The fake's own choices, not in
channels.md: the wording of validation errors (code ``100``, type ``THApiException``, the
Threads API's exception type), the publish refusals (code ``24``, subcode ``4279009`` for a
container not ready), code ``4`` for the 250-post quota (transient: it frees up within
24 h), ``error_message`` ``UNKNOWN`` for a failed image fetch, HTTP 401 for a bad token, HTTP
400 for everything else.

Signpost's rule, stricter than Meta (whose examples put ``access_token`` in the query):
the token travels only in ``Authorization: Bearer``, which the Graph APIs accept. A request
with ``access_token`` in its URL is answered 400 and counted in ``fake.tokens_in_urls``.

What Threads shares with Instagram and Facebook (the token rule, the error bodies, the
container steps) is written once in :mod:`tests.fakes.meta`.

Not modelled: VIDEO and CAROUSEL containers, replies, quoting, insights, the 24 h minimum
age before a token may be refreshed, and Meta's call-count (impressions) rate limit beyond
the scripted ``rate_limit()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scheduler.clock import Clock
from tests.fakes.meta import Container as GraphContainer
from tests.fakes.meta import ContainerFake, fetch
from tests.fakes.server import Reply, Request, json_reply

VERSION = "v1.0"
MAX_TEXT_LENGTH = 500  # §13; counted as Python characters here (see _create_container)
QUOTA_TOTAL = 250  # published posts per rolling 24 h (§13)
TOKEN_LIFETIME = 5184000  # 60 days, in seconds (§13 "long-lived user token (60 days)")
# Meta's media spec: JPEG and PNG, at most 8 MB (not in channels.md).
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# One of the error_message values of docs/threads/troubleshooting; its list names no
# image-specific failure, so a failed image fetch is UNKNOWN (the fake's choice).
FETCH_FAILED = "UNKNOWN"
MEDIA_FIELDS = ("id", "text", "timestamp", "permalink", "media_type", "shortcode", "username")


@dataclass(kw_only=True)
class Container(GraphContainer):
    """A media container: made by ``POST /threads``, spent by ``threads_publish``."""

    media_type: str  # TEXT or IMAGE
    text: str | None
    error_message: str | None = None  # set with status ERROR

    @property
    def status(self) -> str:
        """The container's state, as ``?fields=status`` answers it."""
        return self.state

    def settle(self) -> None:
        """Processing is over; an ERROR says why in ``error_message``, as Threads does."""
        super().settle()
        if self.state == "ERROR":
            self.error_message = FETCH_FAILED


class FakeThreads(ContainerFake):
    """One Threads profile, ``@username``, with its user token.

    :param user_id: the Threads user id in ``/v1.0/{user-id}/...`` paths (``me`` works too).
    :param username: the profile name in permalinks and ``/me``.
    :param clock: source of timestamps, container expiry and the publishing quota window.
    :param token: the valid access token; ``refresh_access_token`` replaces it.
    :param processing_polls: how many status reads a new container answers IN_PROGRESS.
    """

    realm = "Threads Platform"
    token_status = 401  # the fake's choice (Graph's own hosts answer 400)
    error_type = unknown_object_type = "THApiException"  # the Threads API's exception type
    container_type = "ThreadsMediaContainer"
    limit_type = "ThreadsPublishingLimit"
    status_fields = ("id", "status", "error_message")
    media_prefix = "1790"
    refusal_code = 24
    not_ready = ("The media is not ready to be published", 4279009)
    # Meta enforces the limit at publishing (docs/threads/overview); the code is the fake's.
    over_quota = ("You have reached the maximum number of posts for 24 hours", 4, None)

    def __init__(
        self,
        user_id: str = "17841400000000001",
        username: str = "stopitnow",
        clock: Clock | None = None,
        token: str = "threads-token-1",
        processing_polls: int = 0,
    ) -> None:
        super().__init__(
            clock=clock,
            token=token,
            version=VERSION,
            username=username,
            processing_polls=processing_polls,
            quota_total=QUOTA_TOTAL,
        )
        self.user_id = user_id
        self.refreshes = 0
        user = self._path(r"(?P<user>[^/]+)")
        self.route("POST", user + "/threads", self._create_container)
        self.route("POST", user + "/threads_publish", self._publish)
        self.route("GET", user + "/threads_publishing_limit", self._publishing_limit)
        self.route("GET", r"/refresh_access_token", self._refresh)

    def _is_me(self, node_id: str) -> bool:
        return node_id in ("me", self.user_id)

    # --- containers ------------------------------------------------------------------

    def _create_container(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_me(match["user"]):
            return self._unsupported("post", match["user"])
        media_type = str(request.param("media_type") or "").upper()
        text = request.param("text")
        image_url = request.param("image_url")
        if media_type not in ("TEXT", "IMAGE"):
            return self._invalid(f"Param media_type must be TEXT or IMAGE, got {media_type!r}")
        if media_type == "TEXT" and not text:
            return self._invalid("Param text is required for media_type TEXT")
        if media_type == "IMAGE" and not image_url:
            return self._invalid("Param image_url is required for media_type IMAGE")
        # §13: 500 characters ("emoji counted by UTF-8 bytes in some reports"): this fake
        # counts Python characters; measuring conservatively is the adapter's job.
        if text and len(str(text)) > MAX_TEXT_LENGTH:
            return self._invalid(f"Param text must be at most {MAX_TEXT_LENGTH} characters long")
        container = Container(
            id=self._next_id("1800"),
            media_type=media_type,
            text=str(text) if text else None,
            image_url=str(image_url) if image_url else None,
            alt_text=request.param("alt_text"),
            created=self.clock.now(),
        )
        if container.image_url is not None:
            container.image, container.failure = fetch_image(container.image_url)
        return self._add_container(container)

    def _status(self, container: Container) -> dict[str, Any]:
        return {"status": container.status, "error_message": container.error_message}

    def _post_content(self, container: Container, shortcode: str) -> dict[str, Any]:
        return {
            "text": container.text,
            "media_type": container.media_type,
            "permalink": f"https://www.threads.net/@{self.username}/post/{shortcode}",
            "shortcode": shortcode,
        }

    # --- nodes -----------------------------------------------------------------------

    def _user(self, request: Request) -> Reply:
        user = {"id": self.user_id, "username": self.username, "name": self.username}
        return self._read(request, user, ("id", "username", "name"), "ThreadsUser")

    def _media(self, request: Request, post: dict[str, Any]) -> Reply:
        return self._read(
            request, {**post, "username": self.username}, MEDIA_FIELDS, "ThreadsMedia"
        )

    # --- tokens ----------------------------------------------------------------------

    def _refresh(self, request: Request, match: re.Match[str]) -> Reply:
        """§13: a valid long-lived token buys a new one; the old one stops working."""
        if request.param("grant_type") != "th_refresh_token":
            return self._invalid("Unsupported grant_type, expected th_refresh_token")
        self.refreshes += 1
        self.token = f"threads-token-refreshed-{self.refreshes}"
        self.token_expired = False
        return json_reply(
            200, {"access_token": self.token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME}
        )


def fetch_image(url: str) -> tuple[bytes | None, str | None]:
    """Fetch ``url`` as Meta would: ``(image, None)``, or ``(None, why it failed)``."""
    response, failure = fetch(url)
    if response is None:
        return None, failure
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        return None, f"{url} is {content_type or 'untyped'}, not JPEG or PNG"
    if len(response.content) > MAX_IMAGE_BYTES:
        return None, f"{url} is larger than 8 MB"
    return response.content, None
