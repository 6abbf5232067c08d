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

What Instagram shares with Threads and Facebook (the token rule, the error bodies, the
container steps) is written once in :mod:`tests.fakes.meta`.

Not modelled: carousels, reels, stories, video, user tags, locations, aspect-ratio and
resolution limits, the 20-mention limit, token refresh, and Meta's call-count rate limit
beyond the scripted ``rate_limit()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scheduler.clock import Clock
from tests.fakes.meta import Container as GraphContainer
from tests.fakes.meta import ContainerFake, fetch, sniff
from tests.fakes.server import Reply, Request

VERSION = "v26.0"  # §15: the current Facebook Graph version
MAX_CAPTION_LENGTH = 2200  # §14
MAX_HASHTAGS = 30  # §14
HASHTAG = re.compile(r"#\w+")
QUOTA_TOTAL = 100  # §14 "25 or 100": the fake's value
MAX_IMAGE_BYTES = 8 * 1024 * 1024  # Meta's image spec, not in channels.md
STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is complete.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}
MEDIA_FIELDS = ("id", "caption", "permalink", "timestamp", "media_type", "shortcode", "username")


@dataclass(kw_only=True)
class Container(GraphContainer):
    """An image container: made by ``POST /media``, spent by ``media_publish``."""

    caption: str | None

    @property
    def status_code(self) -> str:
        """The container's state, as ``?fields=status_code`` answers it."""
        return self.state

    @property
    def status(self) -> str:
        """The state in words, as ``?fields=status`` answers it."""
        if self.state == "ERROR":
            return f"Error: {self.failure}"
        return STATUS_TEXT[self.state]


class FakeInstagram(ContainerFake):
    """One Instagram professional account, ``@username``, with its access token.

    :param ig_user_id: the IG user id in ``/{version}/{ig-user-id}/...`` paths.
    :param username: the account name in the credentials check.
    :param clock: source of timestamps, container expiry and the publishing quota window.
    :param token: the valid access token (Bearer).
    :param version: the Graph version every path must carry (§15: ``v26.0``).
    :param processing_polls: how many status reads a new container answers IN_PROGRESS.
    """

    container_type = "IGContainer"
    limit_type = "ContentPublishingLimit"
    status_fields = ("id", "status_code", "status")
    media_prefix = "1800"
    refusal_code = 9007
    not_ready = ("Media ID is not available", 2207027)
    over_quota = (
        "You reached the maximum number of posts that is allowed to be published "
        "by Content Publish API",
        9,
        2207042,
    )

    def __init__(
        self,
        ig_user_id: str = "17841405822304914",
        username: str = "stopitnow",
        clock: Clock | None = None,
        token: str = "ig-token-1",
        version: str = VERSION,
        processing_polls: int = 0,
    ) -> None:
        super().__init__(
            clock=clock,
            token=token,
            version=version,
            username=username,
            processing_polls=processing_polls,
            quota_total=QUOTA_TOTAL,
        )
        self.ig_user_id = ig_user_id
        user = self._path(r"(?P<user>[^/]+)")
        self.route("POST", user + "/media", self._create_container)
        self.route("POST", user + "/media_publish", self._publish)
        self.route("GET", user + "/content_publishing_limit", self._publishing_limit)

    def _guard(self, request: Request) -> Reply | None:
        """The token rules, then the version every path must carry."""
        refused = super()._guard(request)
        if refused is None and request.path.split("/")[1:2] != [self.version]:
            return self._error(
                400,
                "(#2635) You are calling a deprecated version of the Graph API. "
                f"Please update to the latest version: {self.version}.",
                code=2635,
            )
        return refused

    def _is_me(self, node_id: str) -> bool:
        return node_id == self.ig_user_id

    # --- containers ------------------------------------------------------------------

    def _create_container(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_me(match["user"]):
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
        )
        container.image, container.failure = fetch_jpeg(str(image_url))
        return self._add_container(container)

    def _status(self, container: Container) -> dict[str, Any]:
        return {"status_code": container.status_code, "status": container.status}

    def _post_content(self, container: Container, shortcode: str) -> dict[str, Any]:
        return {
            "caption": container.caption,
            "permalink": f"https://www.instagram.com/p/{shortcode}/",
        }

    # --- nodes -----------------------------------------------------------------------

    def _user(self, request: Request) -> Reply:
        user = {"id": self.ig_user_id, "username": self.username}
        return self._read(request, user, ("id", "username"), "IGUser")

    def _media(self, request: Request, post: dict[str, Any]) -> Reply:
        shortcode = post["permalink"].rstrip("/").rsplit("/", 1)[-1]
        node = {**post, "media_type": "IMAGE", "shortcode": shortcode, "username": self.username}
        return self._read(request, node, MEDIA_FIELDS, "IGMedia")


def fetch_jpeg(url: str) -> tuple[bytes | None, str | None]:
    """Fetch ``url`` as Meta would: ``(jpeg, None)``, or ``(None, why it is unusable)``."""
    response, failure = fetch(url)
    if response is None:
        return None, failure
    data = response.content
    if len(data) > MAX_IMAGE_BYTES:
        return None, f"{url} is larger than 8 MB"
    if sniff(data) != "image/jpeg" or not data.endswith(b"\xff\xd9"):
        return None, f"{url} is not a JPEG image (only JPEG is supported)"
    return data, None
