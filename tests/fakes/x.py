"""A contract fake of the X API v2 for one user (channels.md sections 7 and 15).

Written from /work/shared/channels.md alone, independently of the adapter. The test hands
the adapter ``base URL = fake.url``, ``client_id = fake.client_id`` and a token file holding
``fake.grant()``; the adapter then has to keep the rotating OAuth 2 tokens itself.

Endpoints (§7 unless noted):

- ``POST /2/oauth2/token``, form-encoded, client by ``client_id`` field or HTTP Basic:
  ``grant_type=refresh_token`` (§15: refresh tokens rotate on every refresh, so each one
  works once) and ``grant_type=authorization_code`` with PKCE S256, after
  ``GET /i/oauth2/authorize`` (auto-consent, ``302`` to the redirect URI). Without
  ``offline.access`` there is no refresh token and the access token lasts 2 h (§7, §15);
- ``GET /2/users/me``; ``GET /2/users/{id}/tweets`` (§7 Reconcile; §15: ``start_time`` =
  the claim), newest first, paged by ``next_token``;
- ``POST /2/media/upload`` (multipart ``media``, ``media_category=tweet_image``; §15: 5 MB
  per image) and ``POST /2/media/metadata`` (alt text ≤ 1000 chars);
- ``POST /2/tweets`` → ``201 {"data": {"id", "text"}}``; 280 weighted (twitter-text, via
  :func:`channels.text.x_weighted_length`); ≤ 4 images (§15); the exact repeat of a text
  → ``403`` duplicate, which does not name the earlier post (§15).

Errors: ``400`` problem JSON (``.../problems/invalid-request``), ``401``, ``403`` and
``429`` with ``x-rate-limit-limit|remaining|reset`` (epoch seconds); every ``2xx`` carries
the ``x-rate-limit-*`` headers too. Only OAuth 2 user tokens are modelled (no OAuth 1.0a).
Not in channels.md, so this fake's own choices: the OAuth error bodies other than the
reused refresh token, the 401 for a bad client, and the 400 for a token in the URL query.
What X's OAuth 2 shares with LinkedIn's (token bookkeeping, the code flow, PKCE) is written
once in :mod:`tests.fakes.oauth2`.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import datetime, timedelta
from typing import Any

from channels.text import x_weighted_length
from scheduler.clock import Clock
from tests.fakes.oauth2 import (
    OAuth2Fake,
    oauth_error,
    s256,  # noqa: F401  re-exported for tests that act as the client
)
from tests.fakes.server import Reply, Request, UploadedFile, json_reply

TWITTER_EPOCH_MS = 1288834974657
TOKEN_LIFETIME = timedelta(seconds=7200)  # "otherwise 2 h" (§7)
SCOPE = "tweet.read tweet.write users.read media.write offline.access"
MAX_MEDIA = 4  # "4 images per post" (§15)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # "5 MB each" (§15)
MAX_ALT_TEXT = 1000
MEDIA_LIFETIME_SECS = 86400
RATE_LIMIT = 300  # "~300 posts/3 h per user" (§7, unverified)
RATE_WINDOW = timedelta(hours=3)
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
REUSED_TOKEN = "Value passed for the token was invalid."
QUERY_TOKEN_NAMES = frozenset(
    {"access_token", "refresh_token", "bearer_token", "oauth_token", "token"}
)


def problem(
    status: int, title: str, detail: str, kind: str = "about:blank", **headers: str
) -> Reply:
    """X's problem JSON: ``{"type", "title", "detail", "status"}``."""
    body = {"type": kind, "title": title, "detail": detail, "status": status}
    return json_reply(status, body, headers)


def invalid_request(detail: str) -> Reply:
    return problem(400, "Invalid Request", detail, INVALID_REQUEST)


def _timestamp(moment: datetime) -> str:
    """X's ``created_at``: ``2026-01-31T12:00:00.000Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class FakeX(OAuth2Fake):
    """One X user who granted the Signpost app OAuth 2 user access.

    :param username: the handle, used in ``/2/users/me`` and :meth:`tweet_url`.
    :param user_id: the numeric user id (a string, as X sends it).
    :param clock: source of ``created_at``, ids, token expiry and rate-limit resets.
    :param max_length: the weighted limit (280; premium accounts get more).
    :param client_id: the app's OAuth 2 client id; ``client_secret`` for HTTP Basic.
    """

    token_prefix = "x"
    default_scope = SCOPE
    access_lifetime = TOKEN_LIFETIME
    query_token_names = QUERY_TOKEN_NAMES
    unknown_client = (400, "invalid_request")
    unsupported_grant = "invalid_request"

    def __init__(
        self,
        username: str = "stopitnow",
        user_id: str = "1500000000000000001",
        clock: Clock | None = None,
        max_length: int = 280,
        *,
        client_id: str = "signpost-x-client",
        client_secret: str = "signpost-x-secret",
    ) -> None:
        super().__init__(clock=clock, client_id=client_id, client_secret=client_secret)
        self.username = username
        self.user_id = user_id
        self.name = "Signpost"
        self.max_length = max_length
        self.tweets: list[dict[str, Any]] = []  # oldest first: id, text, created_at, media...
        self.media: dict[str, UploadedFile] = {}  # media id → the uploaded image
        self.alt_texts: dict[str, str] = {}  # media id → alt text
        self.reused_refresh_tokens = 0  # refresh attempts with an already-used token
        self.client_auth: list[str] = []  # per token request: "basic" or "client_id"
        self._spent: set[str] = set()  # refresh tokens already rotated away
        self._media_uploaded: dict[str, datetime] = {}
        self._pages: dict[str, int] = {}  # next_token → the newest tweet id of that page
        self._last_id = 0
        self._window: tuple[datetime, int] = (self.clock.now(), 0)  # rate window start, used
        self.route("GET", r"/i/oauth2/authorize", self._authorize)
        self.route("POST", r"/2/oauth2/token", self._token)
        self.route("GET", r"/2/users/me", self._me)
        self.route("GET", r"/2/users/(?P<id>[^/]+)/tweets", self._timeline)
        self.route("POST", r"/2/media/upload", self._upload)
        self.route("POST", r"/2/media/metadata", self._metadata)
        self.route("POST", r"/2/tweets", self._create_tweet)

    # --- helpers for tests -----------------------------------------------------------

    def rate_limit(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests get ``429``, ``x-rate-limit-reset`` = now + ``seconds``."""

        def answer(request: Request) -> Reply:
            reset = math.ceil(self.clock.now().timestamp() + seconds)
            headers = self._rate_headers(0, reset)
            return problem(429, "Too Many Requests", "Too Many Requests", **headers)

        self.script_next(answer, times=times)

    def tweet_url(self, tweet_id: str) -> str:
        """The public URL of a post (§7, postiz x.provider.ts)."""
        return f"https://x.com/{self.username}/status/{tweet_id}"

    # --- tokens and ids --------------------------------------------------------------

    def _issue(self) -> dict[str, Any]:
        """New tokens: the refresh token rotates (§15), and comes only with offline.access."""
        answer = {"token_type": "bearer", **self._new_access_token(), "scope": self.scope}
        if self.refresh_token is not None:
            self._spent.add(self.refresh_token)
        self.refresh_token = None
        if "offline.access" in self.scope.split():
            answer["refresh_token"] = self._new_refresh_token()
        return answer

    def _invalid_token(self) -> Reply:
        return problem(401, "Unauthorized", "Unauthorized")

    def _snowflake(self) -> str:
        """X ids: milliseconds since the Twitter epoch << 22, strictly increasing."""
        millis = int(self.clock.now().timestamp() * 1000) - TWITTER_EPOCH_MS
        self._last_id = max(millis << 22, self._last_id + 1)
        return str(self._last_id)

    def _rate_headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(RATE_LIMIT),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset),
        }

    # --- dispatch --------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Refuse tokens in the URL, then answer; every 2xx gets ``x-rate-limit-*``."""
        if self._token_in_url(request):
            return invalid_request("Tokens must be sent in the Authorization header, not the URL.")
        reply = super().dispatch(request)
        if not 200 <= reply.status < 300:
            return reply
        now = self.clock.now()
        start, used = self._window
        if now >= start + RATE_WINDOW:
            start, used = now, 0
        self._window = (start, used + 1)
        headers = self._rate_headers(
            max(RATE_LIMIT - used - 1, 0), math.ceil((start + RATE_WINDOW).timestamp())
        )
        return Reply(reply.status, reply.body, {**reply.headers, **headers})

    def not_found(self, request: Request) -> Reply:
        return problem(404, "Not Found Error", "Not Found")

    # --- OAuth 2 ---------------------------------------------------------------------

    def _client(self, request: Request) -> Reply | None:
        """The client: HTTP Basic ``client_id:client_secret``, or a ``client_id`` field."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except ValueError:
                decoded = ""
            self.client_auth.append("basic")
            if decoded == f"{self.client_id}:{self.client_secret}":
                return None
        elif request.form.get("client_id") == self.client_id:
            self.client_auth.append("client_id")
            return None
        return oauth_error(401, "unauthorized_client", "Missing valid authorization header")

    def _refresh(self, form: dict[str, str]) -> Reply:
        """A refresh token works once (§15); the answer carries the next one."""
        refresh_token = form.get("refresh_token", "")
        if not refresh_token or refresh_token != self.refresh_token:
            if refresh_token in self._spent:
                self.reused_refresh_tokens += 1
            return oauth_error(400, "invalid_request", REUSED_TOKEN)
        self.refreshes += 1
        return json_reply(200, self._issue())

    def _exchange_code(self, form: dict[str, str]) -> Reply:
        if not self._redeem(form):
            return oauth_error(
                400, "invalid_request", "Value passed for the authorization code was invalid."
            )
        return json_reply(200, self._issue())

    # --- users and timeline ----------------------------------------------------------

    def _me(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        return json_reply(
            200, {"data": {"id": self.user_id, "name": self.name, "username": self.username}}
        )

    def _timeline(self, request: Request, match: re.Match[str]) -> Reply:
        """The user's posts, newest first; a page token resumes below the last page."""
        if (denied := self._unauthorized(request)) is not None:
            return denied
        if match["id"] != self.user_id:
            return invalid_request(f"Could not find user with id: [{match['id']}].")
        query = request.query
        try:
            limit = int(query.get("max_results") or 10)
        except ValueError:
            limit = 0
        if not 5 <= limit <= 100:
            value = query["max_results"]
            return invalid_request(f"`max_results` [{value}] is not between 5 and 100")
        tweets = list(reversed(self.tweets))
        if "start_time" in query:
            start = self._parse_time(query["start_time"])
            if start is None:
                return invalid_request(f"Invalid start_time [{query['start_time']}].")
            tweets = [t for t in tweets if datetime.fromisoformat(t["created_at"]) >= start]
        if token := query.get("pagination_token"):
            if token not in self._pages:
                return invalid_request(f"Invalid pagination_token [{token}].")
            tweets = [t for t in tweets if int(t["id"]) < self._pages[token]]
        if not tweets:
            return json_reply(200, {"meta": {"result_count": 0}})
        page, rest = tweets[:limit], tweets[limit:]
        fields = set((query.get("tweet.fields") or "").split(","))
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if rest:
            meta["next_token"] = f"7140dibdnow9c7btw{len(self._pages) + 1:06d}"
            self._pages[meta["next_token"]] = int(page[-1]["id"])
        return json_reply(200, {"data": [self._render(t, fields) for t in page], "meta": meta})

    @staticmethod
    def _parse_time(text: str) -> datetime | None:
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text):
            return None
        return datetime.fromisoformat(text)

    def _render(self, tweet: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        item = {"id": tweet["id"], "text": tweet["text"]}
        if "created_at" in fields:
            item["created_at"] = tweet["created_at"]
        return item

    # --- media -----------------------------------------------------------------------

    def _upload(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        upload = request.files.get("media")
        if request.content_type != "multipart/form-data" or request.malformed or upload is None:
            return invalid_request("A multipart `media` file part is required.")
        if request.form.get("media_category") != "tweet_image":
            return invalid_request("media_category must be tweet_image for a simple upload.")
        if not (upload.content_type or "").lower().startswith("image/"):
            return invalid_request(f"Unsupported media type [{upload.content_type}].")
        if len(upload.data) > MAX_IMAGE_BYTES:
            return invalid_request(f"Image is larger than {MAX_IMAGE_BYTES} bytes.")
        media_id = self._snowflake()
        self.media[media_id] = upload
        self._media_uploaded[media_id] = self.clock.now()
        data = {
            "id": media_id,
            "media_key": f"3_{media_id}",
            "expires_after_secs": MEDIA_LIFETIME_SECS,
            "size": len(upload.data),
        }
        return json_reply(200, {"data": data})

    def _metadata(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = request.json if isinstance(request.json, dict) else {}
        media_id, metadata = body.get("id"), body.get("metadata")
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(media_id, str) or media_id not in self.media or not isinstance(text, str):
            return invalid_request("`id` of an uploaded media and metadata.alt_text.text required.")
        if len(text) > MAX_ALT_TEXT:
            return invalid_request(f"Alt text is longer than {MAX_ALT_TEXT} characters.")
        self.alt_texts[media_id] = text
        return json_reply(
            200, {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": text}}}}
        )

    def _live_media(self, media_id: object) -> bool:
        uploaded = self._media_uploaded.get(media_id) if isinstance(media_id, str) else None
        lifetime = timedelta(seconds=MEDIA_LIFETIME_SECS)
        return uploaded is not None and self.clock.now() < uploaded + lifetime

    # --- posts -----------------------------------------------------------------------

    def _create_tweet(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = request.json
        if request.content_type != "application/json" or not isinstance(body, dict):
            return invalid_request("The request body must be a JSON object.")
        text, media = body.get("text", ""), body.get("media") or {}
        media_ids = media.get("media_ids") or [] if isinstance(media, dict) else None
        if not isinstance(text, str) or not isinstance(media_ids, list):
            return invalid_request("`text` must be a string and `media.media_ids` a list.")
        if not text and not media_ids:
            return invalid_request("You must specify text or media.")
        if x_weighted_length(text) > self.max_length:
            return invalid_request(f"Text is longer than {self.max_length} weighted characters.")
        if len(media_ids) > MAX_MEDIA:
            return invalid_request(f"At most {MAX_MEDIA} media ids may be attached.")
        for media_id in media_ids:
            if not self._live_media(media_id):
                return invalid_request(f"Your media IDs are invalid: [{media_id}].")
        if text and any(t["text"] == text for t in self.tweets):
            return problem(403, "Forbidden", DUPLICATE)
        tweet_id = self._snowflake()
        self.tweets.append(
            {
                "id": tweet_id,
                "text": text,
                "created_at": _timestamp(self.clock.now()),
                "media_ids": list(media_ids),
                "alt_texts": [self.alt_texts.get(m) for m in media_ids],
            }
        )
        return json_reply(201, {"data": {"id": tweet_id, "text": text}})
