"""A contract fake of the Instagram Graph API, content publishing for a professional account.

Follows /work/shared/channels.md §14 (Instagram), §8 (Graph error bodies and codes) and §15
(Graph version ``v26.0``). Configure the adapter with ``API base URL = fake.url`` (instead
of ``https://graph.facebook.com``), ``version = fake.version``, ``IG user id =
fake.ig_user_id`` and ``token = fake.token``.

Endpoints, as §14 gives them (all under ``/{version}``, ``v26.0`` by default per §15):

- ``POST /{version}/{ig-user-id}/media`` (form body or query: ``image_url``, ``caption``,
  ``alt_text``) → ``{"id": container}``. §14: "an image is required: a text-only post
  cannot go to Instagram", so no ``image_url`` is a 400. Caption at most 2,200 characters
  and 30 hashtags (§14). The fake really fetches ``image_url`` over HTTP, as Meta does:
  serve test images from a loopback server of your own, never from this fake;
- ``GET /{version}/{container-id}?fields=status_code`` (also ``status``) →
  ``IN_PROGRESS`` for ``processing_polls`` reads, then ``FINISHED`` (or ``ERROR``);
  ``PUBLISHED`` once published, ``EXPIRED`` after ``expire_container()`` or 24 h
  unpublished. This is the reconciliation handle (§14: PUBLISHED = "already live, never
  publish again"), so ``drop_next(processed=True)`` on ``media_publish`` leaves the container
  PUBLISHED with exactly one post, and a second publish of it is refused;
- ``POST /{version}/{ig-user-id}/media_publish`` ``creation_id`` (form or query) →
  ``{"id": media-id}``;
- ``GET /{version}/{media-id}?fields=permalink`` → ``https://www.instagram.com/p/<code>/``;
- ``GET /{version}/{ig-user-id}?fields=id,username`` (a credentials check);
- ``GET /{version}/{ig-user-id}/content_publishing_limit?fields=quota_usage,config``: §14
  says "25 or 100: read it at run time"; the fake says 100 per 86,400 s (``quota_total``
  may be changed) and enforces it in ``media_publish``.

Errors have the Graph shape of §8: ``{"error": {"message", "type", "code",
"error_subcode"?, "fbtrace_id"}}``, ``error_subcode`` only where the fake has one. From §8:
code ``190`` is the token (permanent, re-auth); codes 1, 2, 4, 17, 341, 368 are transient,
and ``rate_limit()`` answers code 4 "Application request limit reached".

The fake's own choices, not in channels.md:

- every error is HTTP 400, the token error too: graph.facebook.com answers an
  ``OAuthException`` (code 190) with 400 and a ``WWW-Authenticate: OAuth "Facebook
  Platform" "invalid_token" ...`` header. Type ``OAuthException`` throughout, but
  ``GraphMethodException`` (code 100, subcode 33) for an id that is not there;
- validation errors are code 100 with the fake's wording; an unknown path is code 2500;
- another API version in the path (or none) is code 2635 "deprecated version": Graph
  itself would quietly serve an old version, the fake is stricter so the configured version
  is checked;
- publish refusals are code 9007: subcode 2207027 "Media ID is not available" for a
  container not FINISHED (IN_PROGRESS), no subcode for ERROR, EXPIRED and an already
  PUBLISHED one (checked first: never a second post). Over the quota: code 9, subcode
  2207042 (not a §8 transient code; it frees up within the 24 h window);
- only JPEG is accepted (Meta's image spec: JPEG, at most 8 MB); the fake sniffs the bytes
  (starts ``FF D8 FF``, ends ``FF D9``), not the Content-Type, and does not decode them. A
  PNG, a failed fetch, a non-200 or a bigger file puts the container in ERROR, with
  ``status`` "Error: ..." (the fake's text) and the fake's note in ``Container.failure``;
- captions are counted in Python characters (code points); a hashtag is ``#`` followed by
  one or more word characters;
- ``media_type`` may be absent or ``IMAGE``; anything else is refused (code 100);
- ``me`` is not an alias of the IG user (on graph.facebook.com it is the Facebook user).

Signpost's rule, stricter than Meta: the token travels only in ``Authorization: Bearer``.
A request with ``access_token`` in its URL is answered 400 (code 100) and counted in
``fake.tokens_in_urls``.

Not modelled: carousels, reels, stories, video, user tags, locations, aspect-ratio and
resolution limits, the 20-mention limit, token refresh, and Meta's call-count rate limit
beyond the scripted ``rate_limit()``.
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

VERSION = "v26.0"  # §15: the current Facebook Graph version
MAX_CAPTION_LENGTH = 2200  # §14
MAX_HASHTAGS = 30  # §14
HASHTAG = re.compile(r"#\w+")
QUOTA_TOTAL = 100  # §14 "25 or 100": the fake's value
QUOTA_DURATION = timedelta(hours=24)
CONTAINER_LIFETIME = timedelta(hours=24)
MAX_IMAGE_BYTES = 8 * 1024 * 1024  # Meta's image spec, not in channels.md
FETCH_TIMEOUT = 5.0
INVALID_TOKEN = "Invalid OAuth access token - Cannot parse access token"
RATE_LIMITED = "Application request limit reached"  # §8 code 4, transient
STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is complete.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}
MEDIA_FIELDS = ("id", "caption", "permalink", "timestamp", "media_type", "shortcode", "username")


@dataclass
class Container:
    """An image container: made by ``POST /media``, spent by ``media_publish``."""

    id: str
    image_url: str
    caption: str | None
    alt_text: str | None
    created: datetime
    status_code: str = "IN_PROGRESS"
    polls_left: int = 0  # status reads still answered IN_PROGRESS
    failure: str | None = None  # why processing fails (ERROR); the fake's note
    image: bytes | None = None  # the fetched JPEG
    media_id: str | None = None  # once PUBLISHED

    def settle(self) -> None:
        """Processing is over: FINISHED, or ERROR when the image was not a usable JPEG."""
        self.status_code = "FINISHED" if self.failure is None else "ERROR"

    @property
    def status(self) -> str:
        if self.status_code == "ERROR":
            return f"Error: {self.failure}"
        return STATUS_TEXT[self.status_code]


class FakeInstagram(FakeServer):
    """One Instagram professional account, ``@username``, with its access token.

    :param ig_user_id: the IG user id in ``/{version}/{ig-user-id}/...`` paths.
    :param username: the account name in the credentials check.
    :param clock: source of timestamps, container expiry and the publishing quota window.
    :param token: the valid access token (Bearer).
    :param version: the Graph version every path must carry (§15: ``v26.0``).
    :param processing_polls: how many status reads a new container answers IN_PROGRESS.
    """

    def __init__(
        self,
        ig_user_id: str = "17841405822304914",
        username: str = "stopitnow",
        clock: Clock | None = None,
        token: str = "ig-token-1",
        version: str = VERSION,
        processing_polls: int = 0,
    ) -> None:
        super().__init__(clock=clock)
        self.ig_user_id = ig_user_id
        self.username = username
        self.token = token
        self.version = version
        self.processing_polls = processing_polls
        self.quota_total = QUOTA_TOTAL
        self.containers: dict[str, Container] = {}
        self.posts: list[dict[str, Any]] = []  # published posts, oldest first
        self.token_expired = False
        self.tokens_in_urls = 0  # requests that carried access_token in the URL (a violation)
        self._published_at: list[datetime] = []
        self._last_id = 0
        self._traces = 0
        base = "/" + re.escape(version)
        user = base + r"/(?P<user>[^/]+)"
        self.route("POST", user + "/media", self._create_container)
        self.route("POST", user + "/media_publish", self._publish)
        self.route("GET", user + "/content_publishing_limit", self._publishing_limit)
        self.route("GET", base + r"/(?P<id>[^/]+)", self._node)

    @property
    def api_url(self) -> str:
        """The versioned base: ``{api_url}/{ig-user-id}/media``."""
        return f"{self.url}/{self.version}"

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, *, times: int = 1) -> None:
        """The next ``times`` requests get HTTP 400 with Graph code 4 (§8: transient)."""
        self.script_next(lambda request: self._error(RATE_LIMITED, code=4), times=times)

    def expire_token(self) -> None:
        """The current token has expired: every call gets the code 190 error."""
        with self._lock:
            self.token_expired = True

    def expire_container(self, container_id: str) -> None:
        """The container was not published in time: it is EXPIRED from now on."""
        with self._lock:
            self.containers[container_id].status_code = "EXPIRED"

    def quota_usage(self) -> int:
        """Posts published in the rolling 24 h window ending now."""
        now = self.clock.now()
        return sum(1 for moment in self._published_at if now - moment < QUOTA_DURATION)

    # --- errors ----------------------------------------------------------------------

    def _error(
        self,
        message: str,
        *,
        code: int,
        kind: str = "OAuthException",
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A Graph error body (§8), HTTP 400, each with its own ``fbtrace_id``."""
        self._traces += 1
        error: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = f"AFakeTrace{self._traces:07d}"
        return json_reply(400, {"error": error}, headers)

    def _invalid(self, message: str) -> Reply:
        return self._error(message, code=100)

    def _invalid_token(self) -> Reply:
        challenge = f'OAuth "Facebook Platform" "invalid_token" "{INVALID_TOKEN}"'
        return self._error(INVALID_TOKEN, code=190, headers={"WWW-Authenticate": challenge})

    def _unsupported(self, method: str, object_id: str) -> Reply:
        """Graph's answer for an id that is not there (or not this account's)."""
        return self._error(
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation",
            code=100,
            kind="GraphMethodException",
            subcode=33,
        )

    # --- dispatch --------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Every call, known path or not, passes the token and version rules first."""
        if "access_token" in request.query:
            self.tokens_in_urls += 1
            return self._invalid(
                "Access tokens must be sent in the Authorization header, never in the URL"
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token or self.token_expired:
            return self._invalid_token()
        if request.path.split("/")[1:2] != [self.version]:
            return self._error(
                "(#2635) You are calling a deprecated version of the Graph API. "
                f"Please update to the latest version: {self.version}.",
                code=2635,
            )
        return super().dispatch(request)

    def not_found(self, request: Request) -> Reply:
        return self._error(f"Unknown path components: {request.path}", code=2500)

    def method_not_allowed(self, request: Request) -> Reply:
        return self._unsupported(request.method.lower(), request.path.rsplit("/", 1)[-1])

    def _next_id(self, prefix: str) -> str:
        """Numeric Graph-style ids; containers and media never share one."""
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
        if match["user"] != self.ig_user_id:
            return self._unsupported("post", match["user"])
        image_url = request.param("image_url")
        caption = request.param("caption")
        media_type = request.param("media_type")
        if media_type not in (None, "IMAGE"):
            return self._invalid(f"The fake models single-image posts only, not {media_type!r}")
        if not image_url:  # §14: no text-only post on Instagram
            return self._invalid("The parameter image_url is required")
        if caption is not None:
            caption = str(caption)
            if len(caption) > MAX_CAPTION_LENGTH:
                return self._invalid(
                    f"The caption must be at most {MAX_CAPTION_LENGTH} characters long"
                )
            if len(HASHTAG.findall(caption)) > MAX_HASHTAGS:
                return self._invalid(f"The caption may have at most {MAX_HASHTAGS} hashtags")
        alt_text = request.param("alt_text")
        container = Container(
            id=self._next_id("1790"),
            image_url=str(image_url),
            caption=caption,
            alt_text=str(alt_text) if alt_text is not None else None,
            created=self.clock.now(),
            polls_left=self.processing_polls,
        )
        container.image, container.failure = fetch_jpeg(container.image_url)
        if container.polls_left <= 0:
            container.settle()
        self.containers[container.id] = container
        return json_reply(200, {"id": container.id})

    def _age(self, container: Container) -> None:
        """A container not published within 24 h has EXPIRED."""
        if container.status_code in ("IN_PROGRESS", "FINISHED") and (
            self.clock.now() - container.created >= CONTAINER_LIFETIME
        ):
            container.status_code = "EXPIRED"

    def _container_status(self, request: Request, container: Container) -> Reply:
        fields = self._fields(request, ("id", "status_code", "status"), "IGContainer")
        if isinstance(fields, Reply):
            return fields
        self._age(container)
        node = {"id": container.id, "status_code": container.status_code}
        node["status"] = container.status
        if container.status_code == "IN_PROGRESS":
            container.polls_left -= 1
            if container.polls_left <= 0:
                container.settle()
        return json_reply(200, {k: v for k, v in node.items() if k in fields or k == "id"})

    # --- publishing ------------------------------------------------------------------

    def _publish(self, request: Request, match: re.Match[str]) -> Reply:
        if match["user"] != self.ig_user_id:
            return self._unsupported("post", match["user"])
        creation_id = request.param("creation_id")
        if not creation_id:
            return self._invalid("The parameter creation_id is required")
        container = self.containers.get(str(creation_id))
        if container is None:
            return self._invalid(f"Param creation_id {creation_id} is not a valid container")
        self._age(container)
        refusal = self._refusal(container)
        if refusal is not None:
            return refusal
        if self.quota_usage() >= self.quota_total:
            return self._error(
                "You reached the maximum number of posts that is allowed to be published "
                "by Content Publish API",
                code=9,
                subcode=2207042,
            )
        return json_reply(200, {"id": self._make_post(container)["id"]})

    def _refusal(self, container: Container) -> Reply | None:
        """Why ``container`` cannot be published now, if it cannot (codes: fake's choice)."""
        # Checked first, whatever else holds: a PUBLISHED container never makes a second post.
        if container.status_code == "PUBLISHED":
            return self._error("The media has already been published", code=9007)
        if container.status_code == "EXPIRED":
            return self._error("The media container has expired", code=9007)
        if container.status_code == "ERROR":
            return self._error(f"The media could not be processed: {container.failure}", code=9007)
        if container.status_code != "FINISHED":
            return self._error("Media ID is not available", code=9007, subcode=2207027)
        return None

    def _make_post(self, container: Container) -> dict[str, Any]:
        media_id = self._next_id("1800")
        shortcode = base64.urlsafe_b64encode(int(media_id).to_bytes(8, "big")).decode().rstrip("=")
        now = self.clock.now()
        post = {
            "id": media_id,
            "caption": container.caption,
            "image_url": container.image_url,
            "alt_text": container.alt_text,
            "permalink": f"https://www.instagram.com/p/{shortcode}/",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "container": container.id,
        }
        container.status_code, container.media_id = "PUBLISHED", media_id
        self.posts.append(post)
        self._published_at.append(now)
        return post

    def _publishing_limit(self, request: Request, match: re.Match[str]) -> Reply:
        if match["user"] != self.ig_user_id:
            return self._unsupported("get", match["user"])
        fields = self._fields(request, ("quota_usage", "config"), "ContentPublishingLimit")
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
        """``GET /{version}/{id}``: the IG user, a container or a published media."""
        node_id = match["id"]
        if node_id == self.ig_user_id:
            return self._user(request)
        if node_id in self.containers:
            return self._container_status(request, self.containers[node_id])
        post = next((p for p in self.posts if p["id"] == node_id), None)
        if post is not None:
            return self._media(request, post)
        return self._unsupported("get", node_id)

    def _user(self, request: Request) -> Reply:
        fields = self._fields(request, ("id", "username"), "IGUser")
        if isinstance(fields, Reply):
            return fields
        user = {"id": self.ig_user_id, "username": self.username}
        return json_reply(200, {k: v for k, v in user.items() if k in fields or k == "id"})

    def _media(self, request: Request, post: dict[str, Any]) -> Reply:
        fields = self._fields(request, MEDIA_FIELDS, "IGMedia")
        if isinstance(fields, Reply):
            return fields
        shortcode = post["permalink"].rstrip("/").rsplit("/", 1)[-1]
        node = {**post, "media_type": "IMAGE", "shortcode": shortcode, "username": self.username}
        return json_reply(
            200,
            {
                k: node[k]
                for k in MEDIA_FIELDS
                if (k in fields or k == "id") and node[k] is not None
            },
        )


def fetch_jpeg(url: str) -> tuple[bytes | None, str | None]:
    """Fetch ``url`` as Meta would: ``(jpeg, None)``, or ``(None, why it is unusable)``."""
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"fetching {url} failed: {exc!r}"
    if response.status_code != 200:
        return None, f"fetching {url} answered HTTP {response.status_code}"
    data = response.content
    if len(data) > MAX_IMAGE_BYTES:
        return None, f"{url} is larger than 8 MB"
    if not (data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")):
        return None, f"{url} is not a JPEG image (only JPEG is supported)"
    return data, None
