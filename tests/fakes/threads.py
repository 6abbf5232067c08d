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

Not modelled: VIDEO and CAROUSEL containers, replies, quoting, insights, the 24 h minimum
age before a token may be refreshed, and Meta's call-count (impressions) rate limit beyond
the scripted ``rate_limit()``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, json_reply

VERSION = "v1.0"
MAX_TEXT_LENGTH = 500  # §13; counted as Python characters here (see _create_container)
QUOTA_TOTAL = 250  # published posts per rolling 24 h (§13)
QUOTA_DURATION = timedelta(hours=24)
CONTAINER_LIFETIME = timedelta(hours=24)  # "EXPIRED (not published within 24 h)" (§13)
TOKEN_LIFETIME = 5184000  # 60 days, in seconds (§13 "long-lived user token (60 days)")
# Meta's media spec: JPEG and PNG, at most 8 MB (not in channels.md).
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 8 * 1024 * 1024
FETCH_TIMEOUT = 5.0
# One of the error_message values of docs/threads/troubleshooting; its list names no
# image-specific failure, so a failed image fetch is UNKNOWN (the fake's choice).
FETCH_FAILED = "UNKNOWN"
INVALID_TOKEN = "Invalid OAuth access token - Cannot parse access token"
RATE_LIMITED = "Application request limit reached"  # §8 code 4, transient
MEDIA_FIELDS = ("id", "text", "timestamp", "permalink", "media_type", "shortcode", "username")


@dataclass
class Container:
    """A media container: made by ``POST /threads``, spent by ``threads_publish``."""

    id: str
    media_type: str
    text: str | None
    image_url: str | None
    alt_text: str | None
    created: datetime
    status: str = "IN_PROGRESS"
    polls_left: int = 0  # status reads still answered IN_PROGRESS
    outcome: str = "FINISHED"  # what processing ends in: FINISHED, or ERROR
    error_message: str | None = None  # set with status ERROR
    failure: str | None = None  # why the image fetch failed (the fake's note, not Meta's)
    image: bytes | None = None  # the fetched image
    media_id: str | None = None  # once PUBLISHED

    def settle(self) -> None:
        """Processing is over: the container becomes its outcome."""
        self.status = self.outcome
        if self.outcome == "ERROR":
            self.error_message = FETCH_FAILED


class FakeThreads(FakeServer):
    """One Threads profile, ``@username``, with its user token.

    :param user_id: the Threads user id in ``/v1.0/{user-id}/...`` paths (``me`` works too).
    :param username: the profile name in permalinks and ``/me``.
    :param clock: source of timestamps, container expiry and the publishing quota window.
    :param token: the valid access token; ``refresh_access_token`` replaces it.
    :param processing_polls: how many status reads a new container answers IN_PROGRESS.
    """

    def __init__(
        self,
        user_id: str = "17841400000000001",
        username: str = "stopitnow",
        clock: Clock | None = None,
        token: str = "threads-token-1",
        processing_polls: int = 0,
    ) -> None:
        super().__init__(clock=clock)
        self.user_id = user_id
        self.username = username
        self.token = token
        self.processing_polls = processing_polls
        self.quota_total = QUOTA_TOTAL
        self.containers: dict[str, Container] = {}
        self.posts: list[dict[str, Any]] = []  # published posts, oldest first
        self.token_expired = False
        self.tokens_in_urls = 0  # requests that carried access_token in the URL (a violation)
        self.refreshes = 0
        self._published_at: list[datetime] = []
        self._last_id = 0
        self._traces = 0
        user = rf"/{VERSION}/(?P<user>[^/]+)"
        self.route("POST", user + "/threads", self._create_container)
        self.route("POST", user + "/threads_publish", self._publish)
        self.route("GET", user + "/threads_publishing_limit", self._publishing_limit)
        self.route("GET", rf"/{VERSION}/(?P<id>[^/]+)", self._node)
        self.route("GET", r"/refresh_access_token", self._refresh)

    @property
    def api_url(self) -> str:
        """The versioned base: ``{api_url}/{user-id}/threads``."""
        return f"{self.url}/{VERSION}"

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, *, times: int = 1) -> None:
        """The next ``times`` requests get HTTP 400 with Graph code 4 (§8: transient)."""
        self.script_next(
            lambda request: self._error(400, RATE_LIMITED, code=4, kind="OAuthException"),
            times=times,
        )

    def expire_token(self) -> None:
        """The current token has expired: every call (a refresh too) gets the 190 error."""
        with self._lock:
            self.token_expired = True

    def expire_container(self, container_id: str) -> None:
        """The container was not published in time: it is EXPIRED from now on."""
        with self._lock:
            self.containers[container_id].status = "EXPIRED"

    def quota_usage(self) -> int:
        """Posts published in the rolling 24 h window ending now."""
        now = self.clock.now()
        return sum(1 for moment in self._published_at if now - moment < QUOTA_DURATION)

    # --- errors ----------------------------------------------------------------------

    def _error(
        self,
        status: int,
        message: str,
        *,
        code: int,
        kind: str = "THApiException",
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A Graph error body (§8), each with its own ``fbtrace_id``."""
        self._traces += 1
        error: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = f"AFakeTrace{self._traces:07d}"
        return json_reply(status, {"error": error}, headers)

    def _invalid(self, message: str) -> Reply:
        return self._error(400, message, code=100)

    def _invalid_token(self) -> Reply:
        # Graph's WWW-Authenticate on token errors; the 401 status is the fake's choice.
        challenge = f'OAuth "Threads Platform" "invalid_token" "{INVALID_TOKEN}"'
        return self._error(
            401,
            INVALID_TOKEN,
            code=190,
            kind="OAuthException",
            headers={"WWW-Authenticate": challenge},
        )

    def _unsupported(self, method: str, object_id: str) -> Reply:
        """Graph's answer for an id that is not there (or not this user's)."""
        return self._error(
            400,
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation",
            code=100,
            subcode=33,
        )

    # --- dispatch --------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Every call, known path or not, passes the token rules first."""
        if "access_token" in request.query:
            self.tokens_in_urls += 1
            return self._invalid(
                "Access tokens must be sent in the Authorization header, never in the URL"
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token or self.token_expired:
            return self._invalid_token()
        return super().dispatch(request)

    def not_found(self, request: Request) -> Reply:
        return self._error(
            400, f"Unknown path components: {request.path}", code=2500, kind="OAuthException"
        )

    def method_not_allowed(self, request: Request) -> Reply:
        return self._unsupported(request.method.lower(), request.path.rsplit("/", 1)[-1])

    def _is_me(self, user: str) -> bool:
        return user in ("me", self.user_id)

    def _next_id(self, prefix: str) -> str:
        """Numeric Graph-style ids; containers and posts never share one."""
        self._last_id += 1
        return f"{prefix}{self._last_id:013d}"

    def _fields(self, request: Request, allowed: tuple[str, ...], node: str) -> list[str] | Reply:
        """The ``fields`` asked for (Graph answers ``id`` alone without them)."""
        fields = [f.strip() for f in str(request.param("fields") or "id").split(",") if f.strip()]
        for name in fields:
            if name not in allowed:
                return self._invalid(
                    f"Tried accessing nonexisting field ({name}) on node type ({node})"
                )
        return fields

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
            polls_left=self.processing_polls,
        )
        if container.image_url is not None:
            container.image, container.failure = fetch_image(container.image_url)
            container.outcome = "FINISHED" if container.failure is None else "ERROR"
        if container.polls_left <= 0:
            container.settle()
        self.containers[container.id] = container
        return json_reply(200, {"id": container.id})

    def _age(self, container: Container) -> None:
        """A container not published within 24 h has EXPIRED (§13)."""
        if container.status in ("IN_PROGRESS", "FINISHED") and (
            self.clock.now() - container.created >= CONTAINER_LIFETIME
        ):
            container.status = "EXPIRED"

    def _container_status(self, request: Request, container: Container) -> Reply:
        fields = self._fields(request, ("id", "status", "error_message"), "ThreadsMediaContainer")
        if isinstance(fields, Reply):
            return fields
        self._age(container)
        node: dict[str, Any] = {"id": container.id, "status": container.status}
        if container.error_message is not None:
            node["error_message"] = container.error_message
        if container.status == "IN_PROGRESS":
            container.polls_left -= 1
            if container.polls_left <= 0:
                container.settle()
        return json_reply(200, {k: v for k, v in node.items() if k in fields or k == "id"})

    # --- publishing ------------------------------------------------------------------

    def _publish(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_me(match["user"]):
            return self._unsupported("post", match["user"])
        creation_id = request.param("creation_id")
        if not creation_id:
            return self._invalid("The parameter creation_id is required")
        container = self.containers.get(str(creation_id))
        if container is None:
            return self._invalid(f"Param creation_id {creation_id} is not a valid media container")
        self._age(container)
        refusal = self._refusal(container)
        if refusal is not None:
            return refusal
        if self.quota_usage() >= self.quota_total:
            # Meta enforces the limit here (docs/threads/overview); the code is the fake's.
            return self._error(
                400, "You have reached the maximum number of posts for 24 hours", code=4
            )
        return json_reply(200, {"id": self._make_post(container)["id"]})

    def _refusal(self, container: Container) -> Reply | None:
        """Why ``container`` cannot be published now, if it cannot (codes: fake's choice)."""
        # Checked first, whatever else holds: a PUBLISHED container never makes a second post.
        if container.status == "PUBLISHED":
            return self._error(400, "The media has already been published", code=24)
        if container.status == "EXPIRED":
            return self._error(400, "The media container has expired", code=24)
        if container.status == "ERROR":
            return self._error(
                400, f"The media could not be processed: {container.error_message}", code=24
            )
        if container.status != "FINISHED":
            return self._error(
                400, "The media is not ready to be published", code=24, subcode=4279009
            )
        return None

    def _make_post(self, container: Container) -> dict[str, Any]:
        media_id = self._next_id("1790")
        shortcode = base64.urlsafe_b64encode(int(media_id).to_bytes(8, "big")).decode().rstrip("=")
        now = self.clock.now()
        post = {
            "id": media_id,
            "text": container.text,
            "media_type": container.media_type,
            "image_url": container.image_url,
            "alt_text": container.alt_text,
            "permalink": f"https://www.threads.net/@{self.username}/post/{shortcode}",
            "shortcode": shortcode,
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "container": container.id,
        }
        container.status, container.media_id = "PUBLISHED", media_id
        self.posts.append(post)
        self._published_at.append(now)
        return post

    def _publishing_limit(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_me(match["user"]):
            return self._unsupported("get", match["user"])
        fields = self._fields(request, ("quota_usage", "config"), "ThreadsPublishingLimit")
        if isinstance(fields, Reply):
            return fields
        entry: dict[str, Any] = {}
        if "quota_usage" in fields:
            entry["quota_usage"] = self.quota_usage()
        if "config" in fields:
            duration = int(QUOTA_DURATION.total_seconds())
            entry["config"] = {"quota_total": self.quota_total, "quota_duration": duration}
        return json_reply(200, {"data": [entry]})

    # --- nodes -----------------------------------------------------------------------

    def _node(self, request: Request, match: re.Match[str]) -> Reply:
        """``GET /v1.0/{id}``: the user, a container or a published post."""
        node_id = match["id"]
        if self._is_me(node_id):
            return self._user(request)
        if node_id in self.containers:
            return self._container_status(request, self.containers[node_id])
        post = next((p for p in self.posts if p["id"] == node_id), None)
        if post is not None:
            return self._media(request, post)
        return self._unsupported("get", node_id)

    def _user(self, request: Request) -> Reply:
        fields = self._fields(request, ("id", "username", "name"), "ThreadsUser")
        if isinstance(fields, Reply):
            return fields
        user = {"id": self.user_id, "username": self.username, "name": self.username}
        return json_reply(200, {k: v for k, v in user.items() if k in fields or k == "id"})

    def _media(self, request: Request, post: dict[str, Any]) -> Reply:
        fields = self._fields(request, MEDIA_FIELDS, "ThreadsMedia")
        if isinstance(fields, Reply):
            return fields
        node = {**post, "username": self.username}
        return json_reply(
            200,
            {
                k: node[k]
                for k in MEDIA_FIELDS
                if (k in fields or k == "id") and node[k] is not None
            },
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
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"fetching {url} failed: {exc!r}"
    if response.status_code != 200:
        return None, f"fetching {url} answered HTTP {response.status_code}"
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        return None, f"{url} is {content_type or 'untyped'}, not JPEG or PNG"
    if len(response.content) > MAX_IMAGE_BYTES:
        return None, f"{url} is larger than 8 MB"
    return response.content, None
