"""A contract fake of LinkedIn's Posts API, Images API and OAuth 2 (channels.md §9, §15).

Written from /work/shared/channels.md alone, independently of the adapter. One base URL
serves what LinkedIn splits over ``api.linkedin.com`` and ``www.linkedin.com``: the test
gives the adapter ``fake.url`` for both, ``fake.author``, ``fake.version``,
``fake.client_id`` / ``fake.client_secret`` and a token file holding ``fake.grant()``.

From channels.md:

- ``POST /rest/posts`` (§9) with ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM``
  and ``X-Restli-Protocol-Version: 2.0.0`` (both required), a JSON body ``{"author",
  "commentary", "visibility": "PUBLIC", "distribution": {"feedDistribution": "MAIN_FEED",
  ...}, "lifecycleState": "PUBLISHED", "content"?}``, ``content`` being ``{"article":
  {"source", "title", "description"?, "thumbnail"?}}`` or ``{"media": {"id", "altText"}}``
  → ``201``, empty body, the urn in ``x-restli-id``; :meth:`post_url` as §9 gives it;
- "little text" (§9, postiz ``fixText``): ``\\ | { } @ [ ] ( ) < > # * _ ~`` are
  backslash-escaped; 3000 characters (§9, unverified officially);
- the duplicate (§15): ``422`` ``DUPLICATE_POST`` "Content is a duplicate of <earlier urn>";
- ``POST /rest/images?action=initializeUpload`` ``{"initializeUploadRequest": {"owner"}}``
  → ``value.uploadUrl``, ``value.image``; ``PUT`` the bytes to ``uploadUrl`` (§9);
- reconcile (§9): ``GET /rest/posts?author=<urn>&q=author&count=10`` (``start`` pages);
- scopes (§9, §15): posting as an organisation needs ``w_organization_social`` (a person:
  ``w_member_social``), reading an organisation's posts ``r_organization_social``;
- refresh at ``POST /oauth/v2/accessToken`` (§15), ``grant_type=refresh_token``.

The fake's own choices (channels.md leaves them open, or calls them unverified):

- REST errors are ``{"status": N, "code": "...", "message": "..."}``, as LinkedIn's
  commonly look (§9: "Body shape (unverified)"); the 401 is ``{"status": 401,
  "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access
  token"}`` for a missing, wrong, expired, replaced or revoked token. OAuth endpoint errors
  are RFC 6749 ``{"error", "error_description"}`` (``401 invalid_client`` for a bad client);
- checked in this order: a token in the URL (``access_token`` / ``oauth2_access_token``
  in the query, or any issued token as a query value) → ``400``, counted in
  ``tokens_in_urls``; the Bearer token → ``401``; ``LinkedIn-Version`` missing → ``400``
  ``VERSION_MISSING``, not in ``fake.versions`` (just ``version`` unless a test adds more)
  → ``426`` ``NONEXISTENT_VERSION`` "Requested version N is not active";
  ``X-Restli-Protocol-Version`` missing or not ``2.0.0`` → ``400``; then the body;
- ``400`` for a body that is not a JSON object; ``403 ACCESS_DENIED`` for an author /
  image owner other than ``fake.author`` or a missing scope; ``422 UNPROCESSABLE_ENTITY``
  for a bad field, commentary over 3000 characters (counted as sent, escapes included:
  stricter than counting what readers see), an image never uploaded;
- strictness: commentary with an unescaped reserved character (a ``\\`` not followed by a
  reserved character counts as one) → ``422`` naming it, where LinkedIn would render
  something else or drop text. :meth:`rendered` un-escapes what readers see. Mentions
  and hashtag templates (``@[..](urn)``, ``{hashtag|\\#|..}``) are not modelled;
- the duplicate compares the commentary exactly as sent, for non-empty commentary;
- ``fail_after_posting()``: the next request is handled (the post is made), then the
  answer is ``504`` (or ``500``): LinkedIn posts may land anyway, never retry blindly;
- ``rate_limit()``: ``429`` with no ``Retry-After`` or reset header (LinkedIn gives none);
- credentials check: ``GET /rest/organizations/<id>`` (same headers as the posts, ``404``
  for another id) → ``localizedName``; ``GET /v2/userinfo`` (Bearer only) → ``name``;
- OAuth lifetimes from LinkedIn's docs, unverified: access 60 days, refresh 365 days. A
  refresh keeps the refresh token (LinkedIn generally does not rotate it; its
  ``refresh_token_expires_in`` shrinks) and replaces the access token (the old one answers
  401: perhaps stricter than LinkedIn). ``GET /oauth/v2/authorization`` auto-consents
  (``302`` with ``code`` and ``state``); every parameter and PKCE S256 are required, its
  errors are ``400`` JSON, not a redirect; a code works once, within 30 minutes; the
  client authenticates by ``client_id`` + ``client_secret`` form fields;
- ids: ``urn:li:share:<19 digits>``, ``urn:li:image:D4E10AQ<n>``; upload URLs last 1 h;
  ``GET /rest/posts`` sorts newest first, ``count`` 1..100, ``paging.total`` given.

What LinkedIn's OAuth 2 shares with X's (token bookkeeping, the code flow, PKCE) is written
once in :mod:`tests.fakes.oauth2`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from scheduler.clock import Clock
from tests.fakes.oauth2 import OAuth2Fake, oauth_error
from tests.fakes.server import Reply, Request, json_reply

ACCESS_LIFETIME = timedelta(days=60)  # LinkedIn docs, unverified
REFRESH_LIFETIME = timedelta(days=365)  # LinkedIn docs, unverified
CODE_LIFETIME = timedelta(minutes=30)
UPLOAD_LIFETIME = timedelta(hours=1)
MAX_COMMENTARY = 3000  # §9 (postiz, Ayrshare; unverified officially)
SCOPE = "openid profile w_member_social w_organization_social r_organization_social"
RESERVED = frozenset("\\|{}@[]()<>#*_~")  # §9 little text, postiz fixText
ESCAPE = re.compile(r"\\([\\|{}@\[\]()<>#*_~])")
QUERY_TOKEN_NAMES = frozenset({"access_token", "oauth2_access_token"})
SHARE_BASE = 7400000000000000000
INVALID_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}
VERSION_MISSING = "A version must be present: add the LinkedIn-Version header (YYYYMM)."
INVALID_GRANT = "The provided authorization grant or refresh token is invalid, expired or revoked."


def error(status: int, code: str, message: str) -> Reply:
    """LinkedIn's REST error, in the shape this fake chose (see the module docstring)."""
    return json_reply(status, {"status": status, "code": code, "message": message})


def unprocessable(message: str) -> Reply:
    return error(422, "UNPROCESSABLE_ENTITY", message)


def unescaped_character(text: str) -> str | None:
    """The first reserved character of ``text`` that is not backslash-escaped, if any."""
    return next((char for char in ESCAPE.sub("", text) if char in RESERVED), None)


class FakeLinkedIn(OAuth2Fake):
    """One LinkedIn author (an organisation page by default) and the Signpost app.

    :param author: the urn posts are made as (``urn:li:organization:<id>`` or a person).
    :param clock: source of ``createdAt``, token and upload expiry.
    :param version: the ``LinkedIn-Version`` the fake serves (``fake.versions`` may grow).
    """

    token_prefix = "li"
    default_scope = SCOPE
    access_lifetime = ACCESS_LIFETIME
    code_lifetime = CODE_LIFETIME
    query_token_names = QUERY_TOKEN_NAMES
    unknown_client = (401, "invalid_client")
    unsupported_grant = "unsupported_grant_type"

    def __init__(
        self,
        author: str = "urn:li:organization:2414183",
        clock: Clock | None = None,
        version: str = "202611",
        *,
        client_id: str = "signpost-li",
        client_secret: str = "signpost-li-secret",
    ) -> None:
        super().__init__(clock=clock, client_id=client_id, client_secret=client_secret)
        self.author = author
        self.version = version
        self.versions = {version}
        self.name = "Signpost"
        self.posts: list[dict[str, Any]] = []  # oldest first: urn, commentary, content...
        self.images: dict[str, bytes] = {}  # image urn → the uploaded bytes
        self.tokens_in_urls = 0  # requests refused for a token in their URL
        self._refresh_expires = self.clock.now()
        self._uploads: dict[str, int] = {}  # image id → upload URL expiry (epoch ms)
        self.route("GET", r"/oauth/v2/authorization", self._authorize)
        self.route("POST", r"/oauth/v2/accessToken", self._token)
        self.route("GET", r"/v2/userinfo", self._userinfo)
        self.route("GET", r"/rest/organizations/(?P<id>[^/]+)", self._organization)
        self.route("POST", r"/rest/images", self._initialize_upload)
        self.route("PUT", r"/upload/(?P<id>[^/]+)", self._upload)
        self.route("GET POST", r"/rest/posts", self._posts)

    # --- helpers for tests -----------------------------------------------------------

    def rate_limit(self, *, times: int = 1) -> None:
        """The next ``times`` requests get ``429``, with no reset header (LinkedIn has none)."""
        message = "Resource level throttle limit for calls to this resource is reached."
        body = {"status": 429, "code": "TOO_MANY_REQUESTS", "message": message}
        self.fail_next(429, body, times=times)

    def fail_after_posting(self, *, times: int = 1, status: int = 504) -> None:
        """Handle the next ``times`` requests (the post is made), then answer ``status``."""
        phrase = HTTPStatus(status).phrase
        code = phrase.upper().replace(" ", "_")
        body = {"status": status, "code": code, "message": phrase}
        self.fail_next(status, body, times=times, processed=True)

    def rendered(self, post: dict[str, Any] | str) -> str:
        """The commentary of ``post`` (a ``fake.posts`` item or its urn) as readers see it."""
        if isinstance(post, str):
            post = next(p for p in self.posts if p["urn"] == post)
        return ESCAPE.sub(r"\1", post["commentary"])

    @staticmethod
    def post_url(urn: str) -> str:
        """The public URL of a post (§9, postiz)."""
        return f"https://www.linkedin.com/feed/update/{urn}"

    # --- tokens and guards -----------------------------------------------------------

    def _issue(self, *, new_refresh: bool = True) -> dict[str, Any]:
        """A new access token (the old one stops working); a new refresh token on a grant,
        the same one, its lifetime shrinking, on a refresh."""
        answer = self._new_access_token()
        now = self.clock.now()
        if new_refresh:
            self._new_refresh_token()
            self._refresh_expires = now + REFRESH_LIFETIME
        return {
            **answer,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": int((self._refresh_expires - now).total_seconds()),
            "scope": self.scope,
        }

    def _invalid_token(self) -> Reply:
        return json_reply(401, INVALID_TOKEN)

    def _rest_refusal(self, request: Request) -> Reply | None:
        """The Bearer token, then ``LinkedIn-Version``, then ``X-Restli-Protocol-Version``."""
        if (denied := self._unauthorized(request)) is not None:
            return denied
        version = request.headers.get("linkedin-version")
        if not version:
            return error(400, "VERSION_MISSING", VERSION_MISSING)
        if version not in self.versions:
            return error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return error(400, "BAD_REQUEST", "X-Restli-Protocol-Version: 2.0.0 is required.")
        return None

    def _missing_scope(self, *, write: bool) -> Reply | None:
        organization = self.author.startswith("urn:li:organization:")
        if write:
            needed = "w_organization_social" if organization else "w_member_social"
        elif organization:
            needed = "r_organization_social"
        else:
            return None
        if needed in self.scope.split():
            return None
        return error(403, "ACCESS_DENIED", f"Not enough permissions: {needed} is required.")

    # --- dispatch --------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Refuse a token in the URL before anything else."""
        if self._token_in_url(request):
            self.tokens_in_urls += 1
            return error(400, "BAD_REQUEST", "Send tokens in the Authorization header only.")
        return super().dispatch(request)

    def not_found(self, request: Request) -> Reply:
        return error(404, "NOT_FOUND", f"No resource at {request.path}")

    # --- OAuth 2 ---------------------------------------------------------------------

    def _client(self, request: Request) -> Reply | None:
        """The client authenticates by ``client_id`` and ``client_secret`` form fields."""
        client = (request.form.get("client_id"), request.form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            return oauth_error(401, "invalid_client", "Client authentication failed")
        return None

    def _refresh(self, form: dict[str, str]) -> Reply:
        """The refresh token is kept (LinkedIn does not rotate it) until its 365 days end."""
        token = form.get("refresh_token")
        if not token or token != self.refresh_token or self._refresh_expires <= self.clock.now():
            return oauth_error(400, "invalid_grant", INVALID_GRANT)
        self.refreshes += 1
        return json_reply(200, self._issue(new_refresh=False))

    def _exchange_code(self, form: dict[str, str]) -> Reply:
        if not self._redeem(form):
            return oauth_error(400, "invalid_grant", INVALID_GRANT)
        return json_reply(200, self._issue())

    # --- credentials checks ----------------------------------------------------------

    def _userinfo(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        sub = self.author.rpartition(":")[2] if ":person:" in self.author else "signpost-admin"
        name = {"name": f"{self.name} Admin", "given_name": self.name, "family_name": "Admin"}
        return json_reply(200, {"sub": sub, **name})

    def _organization(self, request: Request, match: re.Match[str]) -> Reply:
        if (refused := self._rest_refusal(request)) is not None:
            return refused
        if self.author != f"urn:li:organization:{match['id']}":
            return error(404, "NOT_FOUND", f"Organization {match['id']} not found")
        body = {"id": int(match["id"]), "localizedName": self.name, "vanityName": "signpost"}
        return json_reply(200, body)

    # --- images ----------------------------------------------------------------------

    def _initialize_upload(self, request: Request, match: re.Match[str]) -> Reply:
        if (refused := self._rest_refusal(request) or self._missing_scope(write=True)) is not None:
            return refused
        if request.query.get("action") != "initializeUpload":
            return error(400, "BAD_REQUEST", "Only ?action=initializeUpload is supported.")
        body = request.json if isinstance(request.json, dict) else {}
        asked = body.get("initializeUploadRequest")
        if not isinstance(asked, dict) or not isinstance(asked.get("owner"), str):
            return unprocessable("initializeUploadRequest.owner is required.")
        if asked["owner"] != self.author:
            return error(403, "ACCESS_DENIED", f"Not allowed to upload as {asked['owner']}")
        image_id = f"D4E10AQ{len(self._uploads) + 1:09d}"
        expires = int((self.clock.now() + UPLOAD_LIFETIME).timestamp() * 1000)
        self._uploads[image_id] = expires
        value = {
            "uploadUrlExpiresAt": expires,
            "uploadUrl": f"{self.url}/upload/{image_id}",
            "image": f"urn:li:image:{image_id}",
        }
        return json_reply(200, {"value": value})

    def _upload(self, request: Request, match: re.Match[str]) -> Reply:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        expires = self._uploads.get(match["id"])
        if expires is None:
            return error(404, "NOT_FOUND", "Unknown upload URL")
        if self.clock.now().timestamp() * 1000 >= expires:
            return error(400, "BAD_REQUEST", "The upload URL has expired.")
        if not request.body:
            return error(400, "BAD_REQUEST", "The image bytes are missing.")
        self.images[f"urn:li:image:{match['id']}"] = request.body
        return Reply(201)

    # --- posts -----------------------------------------------------------------------

    def _posts(self, request: Request, match: re.Match[str]) -> Reply:
        write = request.method == "POST"
        if (refused := self._rest_refusal(request) or self._missing_scope(write=write)) is not None:
            return refused
        return self._create_post(request) if write else self._find_by_author(request)

    def _content_problem(self, content: Any) -> str | None:
        if not isinstance(content, dict) or len(content) != 1:
            return "content must hold exactly one of article or media."
        if isinstance(article := content.get("article"), dict):
            source, title = article.get("source"), article.get("title")
            if not isinstance(source, str) or not re.match(r"https?://", source):
                return "content.article.source must be an http(s) URL."
            if not isinstance(title, str) or not title:
                return "content.article.title is required."
            if not isinstance(article.get("description", ""), str):
                return "content.article.description must be a string."
            thumbnail = article.get("thumbnail")
            if thumbnail is not None and thumbnail not in self.images:
                return f"Image {thumbnail} was never uploaded."
            return None
        if isinstance(media := content.get("media"), dict):
            if media.get("id") not in self.images:
                return f"Image {media.get('id')} was never uploaded."
            if not isinstance(media.get("altText", ""), str):
                return "content.media.altText must be a string."
            return None
        return "content must hold exactly one of article or media."

    def _create_post(self, request: Request) -> Reply:
        body = request.json
        if request.content_type != "application/json" or not isinstance(body, dict):
            return error(400, "BAD_REQUEST", "The request body must be a JSON object.")
        if body.get("author") != self.author:
            return error(403, "ACCESS_DENIED", f"Not allowed to post as {body.get('author')}")
        commentary, content = body.get("commentary"), body.get("content")
        distribution = body.get("distribution")
        feed = distribution.get("feedDistribution") if isinstance(distribution, dict) else None
        if not isinstance(commentary, str):
            return unprocessable("commentary must be a string.")
        if body.get("visibility") != "PUBLIC":
            return unprocessable("visibility must be PUBLIC.")
        if feed != "MAIN_FEED":
            return unprocessable("distribution.feedDistribution must be MAIN_FEED.")
        if body.get("lifecycleState") != "PUBLISHED":
            return unprocessable("lifecycleState must be PUBLISHED.")
        if not commentary and content is None:
            return unprocessable("A post needs commentary or content.")
        if len(commentary) > MAX_COMMENTARY:
            return unprocessable(f"commentary is longer than {MAX_COMMENTARY} characters.")
        if (char := unescaped_character(commentary)) is not None:
            escaped = "\\" + char
            return unprocessable(
                f"commentary has an unescaped reserved character {char!r}; write it as {escaped!r}."
            )
        if content is not None and (problem := self._content_problem(content)) is not None:
            return unprocessable(problem)
        if earlier := [p["urn"] for p in self.posts if commentary == p["commentary"] != ""]:
            return error(422, "DUPLICATE_POST", f"Content is a duplicate of {earlier[0]}")
        urn = f"urn:li:share:{SHARE_BASE + len(self.posts) + 1}"
        created = int(self.clock.now().timestamp() * 1000)
        post = {"urn": urn, "author": self.author, "commentary": commentary, "content": content}
        self.posts.append({**post, "created_at": created, "distribution": distribution})
        return Reply(201, b"", {"x-restli-id": urn})

    def _find_by_author(self, request: Request) -> Reply:
        query = request.query
        if query.get("q") != "author":
            return error(400, "BAD_REQUEST", "Only the q=author finder is supported.")
        if query.get("author") != self.author:
            return error(403, "ACCESS_DENIED", f"Not allowed to read {query.get('author')}")
        try:
            start, count = int(query.get("start", 0)), int(query.get("count", 10))
        except ValueError:
            start, count = -1, 0
        if start < 0 or not 1 <= count <= 100:
            return error(400, "BAD_REQUEST", "start must be >= 0 and count 1..100.")
        newest_first = list(reversed(self.posts))
        elements = [self._element(p) for p in newest_first[start : start + count]]
        paging = {"start": start, "count": count, "total": len(self.posts), "links": []}
        return json_reply(200, {"elements": elements, "paging": paging})

    @staticmethod
    def _element(post: dict[str, Any]) -> dict[str, Any]:
        """A post as the finder returns it (``createdAt`` etc. in epoch milliseconds)."""
        fields = {k: post[k] for k in ("author", "commentary", "distribution")}
        element = {"id": post["urn"], **fields}
        stamps = dict.fromkeys(("createdAt", "publishedAt", "lastModifiedAt"), post["created_at"])
        element |= {"visibility": "PUBLIC", "lifecycleState": "PUBLISHED", **stamps}
        if post["content"] is not None:
            element["content"] = post["content"]
        return element
