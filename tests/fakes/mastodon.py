"""A contract fake of a Mastodon server (channels.md section 1).

Configure the adapter with ``instance URL = fake.url`` and ``token = fake.token``.

Endpoints:

- ``POST /api/v1/statuses`` (form or JSON; Bearer; ``Idempotency-Key``: the same key within
  one hour returns the same status and posts nothing);
- ``POST /api/v2/media`` (multipart ``file`` + ``description``) → ``200`` processed, or with
  ``async_media_polls=N`` → ``202`` with ``url: null``, then ``GET /api/v1/media/:id``
  answers ``206`` N times and ``200`` after;
- ``GET /api/v2/instance``, ``GET /api/v1/accounts/verify_credentials``,
  ``GET /api/v1/accounts/:id/statuses?limit=&exclude_replies=`` (newest first).

Errors: ``401 {"error": "The access token is invalid"}``, ``422 {"error": "Validation
failed: ..."}``, ``429 {"error": "Too many requests"}`` with ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (an ISO 8601 timestamp).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import grapheme

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, UploadedFile, json_reply

INVALID_TOKEN = "The access token is invalid"
# Mastodon's answer when no Authorization header is sent at all (not in channels.md).
MISSING_TOKEN = "This method requires an authenticated user"
# "stored for up to 1 hour" (statuses/#create). This fake is Mastodon itself; whether
# Pleroma/Akkoma/GoToSocial honour Idempotency-Key is unverified in channels.md.
IDEMPOTENCY_WINDOW = timedelta(hours=1)
RATE_LIMIT = 300  # requests per 5 minutes per account (docs.joinmastodon.org/api/rate-limits)
VISIBILITIES = ("public", "unlisted", "private", "direct")
SUPPORTED_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
)
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024

# A URL as the length rule sees it: http(s) only, trailing punctuation is not part of it.
# (Mastodon uses twitter-text's extractor; this is a close approximation.)
URL_RE = re.compile(r"https?://[^\s<>\"]+?(?=[.,:;!?'\")\]]*(?:\s|$))", re.IGNORECASE)
# Mastodon's Account::MENTION_RE: @user or @user@domain; counted as @user.
MENTION_RE = re.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@\w+(?:[.-]+\w+)*)?",
    re.IGNORECASE,
)


def status_length(text: str, spoiler_text: str = "", url_length: int = 23) -> int:
    """Mastodon's count: grapheme clusters of spoiler + text, URLs as 23, ``@user@domain``
    as ``@user`` (mastodon app/validators/status_length_validator.rb)."""
    countable = URL_RE.sub("x" * url_length, text)
    countable = MENTION_RE.sub(lambda m: "@" + m.group(1), countable)
    return grapheme.length(spoiler_text + countable)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _link(url: str) -> str:
    """Mastodon's TextFormatter.shortened_link: scheme hidden, display cut after 30."""
    prefix = re.match(r"(https?://(www\.)?)", url, re.IGNORECASE)
    prefix_text = prefix.group(1) if prefix else ""
    rest = url[len(prefix_text) :]
    display, suffix = rest[:30], rest[30:]
    cls = "ellipsis" if len(rest) > 30 else ""
    return (
        f'<a href="{_escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{_escape(prefix_text)}</span>'
        f'<span class="{cls}">{_escape(display)}</span>'
        f'<span class="invisible">{_escape(suffix)}</span></a>'
    )


def render_content(text: str) -> str:
    """Status text as Mastodon's HTML: ``<p>`` per paragraph, ``<br />``, linked URLs.

    Mentions and hashtags stay plain text here (Mastodon links them too).
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    html = []
    for paragraph in paragraphs:
        out, last = [], 0
        for match in URL_RE.finditer(paragraph):
            out.append(_escape(paragraph[last : match.start()]))
            out.append(_link(match.group(0)))
            last = match.end()
        out.append(_escape(paragraph[last:]))
        html.append("<p>" + "".join(out).replace("\n", "<br />") + "</p>")
    return "".join(html)


def _timestamp(moment: datetime) -> str:
    """Mastodon's ``created_at``: ``2026-01-31T12:00:00.000Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "on")


class FakeMastodon(FakeServer):
    """One Mastodon account on a fake instance.

    :param token: the valid access token.
    :param max_characters: ``configuration.statuses.max_characters`` (and the 422 limit).
    :param username: the account's username.
    :param async_media_polls: ``None`` → media uploads answer ``200`` processed; ``N`` →
        ``202`` with ``url: null``, then ``N`` polls of ``GET /api/v1/media/:id`` get ``206``.
    :param clock: source of ``created_at``, ids, idempotency expiry and rate-limit resets.
    """

    account_id = "109000000000000001"

    def __init__(
        self,
        token: str = "mastodon-token",
        max_characters: int = 500,
        *,
        username: str = "signpost",
        async_media_polls: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.token = token
        self.max_characters = max_characters
        self.max_media_attachments = 4
        self.characters_reserved_per_url = 23
        self.description_limit = 1500
        self.username = username
        self.async_media_polls = async_media_polls
        self.statuses: list[dict[str, Any]] = []  # Status entities, oldest first
        self.sources: dict[str, str] = {}  # status id → the ``status`` text as submitted
        self.media: list[dict[str, Any]] = []  # MediaAttachment entities, oldest first
        self.media_files: dict[str, UploadedFile] = {}  # media id → the uploaded file
        self.idempotency: dict[str, tuple[str, datetime]] = {}  # key → (status id, stored)
        self.token_rejected = False
        self._polls_left: dict[str, int] = {}
        self._ready_urls: dict[str, str] = {}  # media id → url, once processing is over
        self._attached: set[str] = set()
        self._last_id = 0
        self.route("POST", r"/api/v1/statuses", self._create_status)
        self.route("POST", r"/api/v2/media", self._upload_media)
        self.route("GET", r"/api/v1/media/(?P<id>[^/]+)", self._get_media)
        self.route("GET", r"/api/v2/instance", self._instance)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._verify_credentials)
        self.route("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", self._account_statuses)

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests get Mastodon's 429 (``X-RateLimit-Reset`` in ``seconds``)."""

        def answer(request: Request) -> Reply:
            reset = self.clock.now() + timedelta(seconds=seconds)
            return json_reply(429, {"error": "Too many requests"}, self._rate_headers(0, reset))

        self.script_next(answer, times=times)

    def reject_token(self) -> None:
        """From now on the configured token is invalid (revoked): every call gets 401."""
        self.token_rejected = True

    def restore_token(self) -> None:
        self.token_rejected = False

    # --- helpers ---------------------------------------------------------------------

    @property
    def account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "Signpost",
            "locked": False,
            "bot": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.url}/@{self.username}",
            "uri": f"{self.url}/users/{self.username}",
            "avatar": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.statuses),
            "emojis": [],
            "fields": [],
        }

    def _next_id(self) -> str:
        """Snowflake-like ids (milliseconds << 16), strictly increasing even on a frozen clock."""
        candidate = int(self.clock.now().timestamp() * 1000) << 16
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    def _rate_headers(self, remaining: int, reset: datetime | None = None) -> dict[str, str]:
        # Mastodon sends Reset as Time#iso8601(6): 2026-01-31T12:05:00.000000Z.
        reset = reset or self.clock.now() + timedelta(minutes=5)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _unauthorized(self, request: Request, *, required: bool = True) -> Reply | None:
        """401 unless the request carries the valid token (or none, where none is allowed)."""
        header = request.headers.get("authorization")
        if header is None:
            return json_reply(401, {"error": MISSING_TOKEN}) if required else None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token or self.token_rejected:
            return json_reply(401, {"error": INVALID_TOKEN})
        return None

    @staticmethod
    def _invalid(message: str) -> Reply:
        return json_reply(422, {"error": message})

    # --- statuses --------------------------------------------------------------------

    def _create_status(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if request.malformed:
            return json_reply(400, {"error": "Error occurred while parsing request parameters"})
        now = self.clock.now()
        key = request.headers.get("idempotency-key")
        if key:
            # Checked before any validation, as PostStatusService does.
            self.idempotency = {
                k: v for k, v in self.idempotency.items() if now - v[1] < IDEMPOTENCY_WINDOW
            }
            if key in self.idempotency:
                status = self._status(self.idempotency[key][0])
                return json_reply(200, status, self._rate_headers(RATE_LIMIT - 1))
        text = str(request.param("status") or "")
        spoiler_text = str(request.param("spoiler_text") or "")
        visibility = str(request.param("visibility") or "public")
        media_ids = self._media_ids(request)
        if not text.strip() and not media_ids:
            return self._invalid("Validation failed: Text can't be blank")
        if visibility not in VISIBILITIES:
            return self._invalid("Validation failed: Visibility is not included in the list")
        if status_length(text, spoiler_text, self.characters_reserved_per_url) > (
            self.max_characters
        ):
            return self._invalid(
                f"Validation failed: Text character limit of {self.max_characters} exceeded"
            )
        # Mastodon's own media messages (config/locales/en.yml), not in channels.md.
        if len(media_ids) > self.max_media_attachments:
            return self._invalid(f"Cannot attach more than {self.max_media_attachments} files")
        attachments = []
        for media_id in media_ids:
            attachment = self._media_by_id(media_id)
            if attachment is None or media_id in self._attached:
                return self._invalid(
                    f"Media {media_id} not found or already attached to another post"
                )
            if self._polls_left.get(media_id, 0) > 0 or attachment["url"] is None:
                return self._invalid(
                    "Cannot attach files that have not finished processing. Try again in a moment!"
                )
            attachments.append(attachment)
        status_id = self._next_id()
        in_reply_to_id = request.param("in_reply_to_id")
        status = {
            "id": status_id,
            "created_at": _timestamp(now),
            "in_reply_to_id": str(in_reply_to_id) if in_reply_to_id else None,
            "in_reply_to_account_id": self.account_id if in_reply_to_id else None,
            "sensitive": _truthy(request.param("sensitive")),
            "spoiler_text": spoiler_text,
            "visibility": visibility,
            "language": request.param("language") or "en",
            "uri": f"{self.url}/users/{self.username}/statuses/{status_id}",
            "url": f"{self.url}/@{self.username}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": render_content(text),
            "reblog": None,
            "application": {"name": "Signpost", "website": None},
            "account": self.account,
            "media_attachments": [dict(a) for a in attachments],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        self._attached.update(media_ids)
        self.statuses.append(status)
        self.sources[status_id] = text
        if key:
            self.idempotency[key] = (status_id, now)
        return json_reply(200, status, self._rate_headers(RATE_LIMIT - 1))

    def _media_ids(self, request: Request) -> list[str]:
        if isinstance(request.json, dict):
            return [str(i) for i in request.json.get("media_ids") or []]
        return request.form_list("media_ids[]") or request.form_list("media_ids")

    def _status(self, status_id: str) -> dict[str, Any]:
        return next(s for s in self.statuses if s["id"] == status_id)

    def _account_statuses(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request, required=False)) is not None:
            return denied
        if match["id"] != self.account_id:
            return json_reply(404, {"error": "Record not found"})
        try:
            limit = min(max(int(request.query.get("limit") or 20), 1), 40)
        except ValueError:
            limit = 20
        statuses = list(reversed(self.statuses))  # newest first
        if _truthy(request.query.get("exclude_replies")):
            statuses = [s for s in statuses if s["in_reply_to_id"] is None]
        if max_id := request.query.get("max_id"):
            statuses = [s for s in statuses if int(s["id"]) < int(max_id)]
        if since_id := request.query.get("since_id"):
            statuses = [s for s in statuses if int(s["id"]) > int(since_id)]
        return json_reply(200, statuses[:limit])

    def _verify_credentials(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        return json_reply(200, {**self.account, "source": {"privacy": "public", "note": ""}})

    def _instance(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request, required=False)) is not None:
            return denied
        return json_reply(
            200,
            {
                "domain": self.url.removeprefix("http://"),
                "title": "Fake Mastodon",
                "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A contract fake for Signpost's tests.",
                "languages": ["en"],
                "configuration": {
                    "urls": {"streaming": self.url.replace("http://", "ws://")},
                    "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": self.max_media_attachments,
                        "characters_reserved_per_url": self.characters_reserved_per_url,
                    },
                    "media_attachments": {
                        "supported_mime_types": list(SUPPORTED_MIME_TYPES),
                        "description_limit": self.description_limit,
                        "image_size_limit": IMAGE_SIZE_LIMIT,
                        "image_matrix_limit": 33177600,
                        "video_size_limit": 103809024,
                        "video_frame_rate_limit": 120,
                        "video_matrix_limit": 8294400,
                    },
                    "polls": {
                        "max_options": 4,
                        "max_characters_per_option": 50,
                        "min_expiration": 300,
                        "max_expiration": 2629746,
                    },
                    "translation": {"enabled": False},
                },
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "contact": {"email": "admin@example.org", "account": None},
                "rules": [],
            },
        )

    # --- media -----------------------------------------------------------------------

    def _media_by_id(self, media_id: str) -> dict[str, Any] | None:
        return next((m for m in self.media if m["id"] == media_id), None)

    def _upload_media(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        upload = request.files.get("file")
        # The validation messages below follow Rails' wording; channels.md only says
        # "must have a MIME type" and gives the 422 shape.
        if upload is None:
            return self._invalid("Validation failed: File can't be blank")
        if upload.content_type not in SUPPORTED_MIME_TYPES:
            return self._invalid("Validation failed: File content type is invalid, File is invalid")
        if len(upload.data) > IMAGE_SIZE_LIMIT:
            return self._invalid("Validation failed: File file size must be less than 16 MB")
        description = request.form.get("description")
        if description is not None and len(description) > self.description_limit:
            return self._invalid(
                "Validation failed: Description is too long "
                f"(maximum is {self.description_limit} characters)"
            )
        media_id = self._next_id()
        pending = self.async_media_polls is not None
        url = f"{self.url}/system/media_attachments/files/{media_id}/original/{upload.filename}"
        kind = upload.content_type.split("/")[0]
        attachment: dict[str, Any] = {
            "id": media_id,
            "type": kind if kind in ("image", "video", "audio") else "unknown",
            "url": None if pending else url,
            "preview_url": f"{self.url}/system/media_attachments/files/{media_id}/small.png",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {},
            "description": description or None,
            "blurhash": None,
        }
        self.media.append(attachment)
        self.media_files[media_id] = upload
        self._ready_urls[media_id] = url
        if pending:
            self._polls_left[media_id] = self.async_media_polls or 0
            return json_reply(202, attachment)
        return json_reply(200, attachment)

    def _get_media(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        attachment = self._media_by_id(match["id"])
        if attachment is None:
            return json_reply(404, {"error": "Record not found"})
        if self._polls_left.get(attachment["id"], 0) > 0:
            self._polls_left[attachment["id"]] -= 1
            return json_reply(206, attachment)
        attachment["url"] = self._ready_urls[attachment["id"]]
        return json_reply(200, attachment)

    def not_found(self, request: Request) -> Reply:
        return json_reply(404, {"error": "Record not found"})
