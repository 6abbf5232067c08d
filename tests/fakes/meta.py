"""What the three Meta Graph fakes share: Threads (§13), Instagram (§14), Facebook (§8, §15).

The three hosts answer alike, so their common rules are written once here and each fake
keeps only what its channel does differently (see each fake's module docstring):

- :class:`GraphFake`: Signpost's token rule (below), the token errors (code 190, Graph's
  ``WWW-Authenticate: OAuth "<realm>" "invalid_token" ...``), the §8 error body
  ``{"error": {"message", "type", "code", "error_subcode"?, "error_user_title"?,
  "error_user_msg"?, "fbtrace_id"}}`` (an optional key only where the fake has a value, as
  Graph omits them; each body its own ``fbtrace_id``), ``rate_limit()`` as code 4 (§8:
  transient), the ``fields`` parameter, the answers for an unknown id (code 100, subcode 33)
  or path (code 2500) and numeric Graph-style ids;
- :class:`ContainerFake`: the two-step publish of Threads and Instagram: a container is
  made, reads ``IN_PROGRESS`` for ``processing_polls`` status reads, then ``FINISHED`` (or
  ``ERROR``), is ``EXPIRED`` after ``expire_container()`` or 24 h unpublished, and is spent
  by the publish call within a rolling-24 h publishing quota. The container is the
  reconciliation handle, so a ``PUBLISHED`` one is refused before anything else is
  checked: ``drop_next(processed=True)`` on the publish leaves it ``PUBLISHED`` with exactly
  one post;
- :func:`fetch` and :func:`sniff`: an image fetched by URL as Meta does (for real, over
  HTTP: serve it from a loopback server of your own, never from the fake, which is busy
  answering the request that made it fetch), and told JPEG or PNG by its bytes.

Signpost's rule, stricter than Meta (whose examples put ``access_token`` in the query):
the token travels only in ``Authorization: Bearer``, which the Graph APIs accept. A request
with ``access_token`` as a parameter is answered 400, code 100, and counted in
``fake.tokens_in_urls``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, json_reply

GRAPH_TIME = "%Y-%m-%dT%H:%M:%S+0000"  # how Graph writes created_time and timestamp
FETCH_TIMEOUT = 5.0
INVALID_TOKEN = "Invalid OAuth access token - Cannot parse access token"
RATE_LIMITED = "Application request limit reached"  # §8 code 4, transient
TOKEN_IN_URL = "Access tokens must be sent in the Authorization header, never in the URL"
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
QUOTA_DURATION = timedelta(hours=24)  # the publishing quota's rolling window (§13, §14)
CONTAINER_LIFETIME = timedelta(hours=24)  # "EXPIRED (not published within 24 h)" (§13)


class GraphFake(FakeServer):
    """A Graph host serving one account with one token.

    Subclasses add the account's routes and answer :meth:`_node`; the class attributes say
    how their host's answers differ, and the ``_error`` family builds them.
    """

    #: the realm of the ``WWW-Authenticate`` challenge on a token error
    realm: ClassVar[str] = "Facebook Platform"
    #: graph.facebook.com answers a token error with HTTP 400 (Threads: the fake's 401)
    token_status: ClassVar[int] = 400
    #: the ``type`` of a validation error, and of the answer for an id that is not there
    error_type: ClassVar[str] = "OAuthException"
    unknown_object_type: ClassVar[str] = "GraphMethodException"
    #: how many digits follow an id's prefix
    id_digits: ClassVar[int] = 13

    def __init__(self, *, clock: Clock | None, token: str, version: str) -> None:
        super().__init__(clock=clock)
        self.token = token
        self.version = version
        self.token_expired = False
        self.tokens_in_urls = 0  # requests that carried access_token as a parameter
        self._last_id = 0
        self._traces = 0
        self.route("GET", self._path(r"(?P<id>[^/]+)"), self._node)

    @property
    def api_url(self) -> str:
        """The versioned base: ``{api_url}/{id}``, ``{api_url}/{account-id}/{edge}``."""
        return f"{self.url}/{self.version}"

    def _path(self, pattern: str) -> str:
        """A route pattern under ``/{version}/``, which every Graph path starts with."""
        return f"/{re.escape(self.version)}/{pattern}"

    def _node(self, request: Request, match: re.Match[str]) -> Reply:
        """``GET /{version}/{id}``: the account or one of its objects."""
        raise NotImplementedError

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, *, times: int = 1) -> None:
        """The next ``times`` requests get HTTP 400 with Graph code 4 (§8: transient)."""
        self.script_next(
            lambda request: self._error(400, RATE_LIMITED, code=4, kind="OAuthException"),
            times=times,
        )

    def expire_token(self) -> None:
        """The current token no longer works: every call gets the code 190 error."""
        with self._lock:
            self.token_expired = True

    # --- errors ----------------------------------------------------------------------

    def _error(
        self,
        status: int,
        message: str,
        *,
        code: int,
        kind: str | None = None,
        subcode: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A Graph error body (§8) of type ``kind`` (default ``error_type``)."""
        self._traces += 1
        error: dict[str, Any] = {"message": message, "type": kind or self.error_type, "code": code}
        optional = {
            "error_subcode": subcode,
            "error_user_title": user_title,
            "error_user_msg": user_msg,
        }
        error.update((key, value) for key, value in optional.items() if value is not None)
        error["fbtrace_id"] = f"AFakeTrace{self._traces:07d}"
        return json_reply(status, {"error": error}, headers)

    def _invalid(self, message: str) -> Reply:
        return self._error(400, message, code=100)

    def _token_error(self, message: str = INVALID_TOKEN, subcode: int | None = None) -> Reply:
        challenge = f'OAuth "{self.realm}" "invalid_token" "{message}"'
        return self._error(
            self.token_status,
            message,
            code=190,
            kind="OAuthException",
            subcode=subcode,
            headers={"WWW-Authenticate": challenge},
        )

    def _expired_token(self) -> Reply:
        """What ``expire_token()`` leads to: the same answer as a wrong token, unless the
        host says more."""
        return self._token_error()

    def _unsupported(self, method: str, object_id: str) -> Reply:
        """Graph's answer for an id that is not there (or not this account's)."""
        return self._error(
            400,
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation",
            code=100,
            kind=self.unknown_object_type,
            subcode=33,
        )

    # --- dispatch --------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Every call, known path or not, passes :meth:`_guard` first."""
        refused = self._guard(request)
        return super().dispatch(request) if refused is None else refused

    def _guard(self, request: Request) -> Reply | None:
        """The token rules: never as a parameter, then the Bearer token, then its expiry."""
        refused = self._token_in_url(request)
        if refused is not None:
            return refused
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            return self._token_error()
        if self.token_expired:
            return self._expired_token()
        return None

    def _token_in_url(self, request: Request) -> Reply | None:
        """Signpost's rule: ``access_token`` in the query is refused, and counted."""
        if "access_token" not in request.query:
            return None
        self.tokens_in_urls += 1
        return self._invalid(TOKEN_IN_URL)

    def not_found(self, request: Request) -> Reply:
        return self._error(
            400, f"Unknown path components: {request.path}", code=2500, kind="OAuthException"
        )

    def method_not_allowed(self, request: Request) -> Reply:
        return self._unsupported(request.method.lower(), request.path.rsplit("/", 1)[-1])

    # --- ids and fields --------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        """Numeric Graph-style ids; no two objects of the fake share one."""
        self._last_id += 1
        return f"{prefix}{self._last_id:0{self.id_digits}d}"

    def _fields(
        self,
        request: Request,
        allowed: tuple[str, ...],
        node: str,
        default: tuple[str, ...] = ("id",),
    ) -> list[str] | Reply:
        """The ``fields`` asked for (``default`` when none are), each one ``node`` has."""
        raw = str(request.param("fields") or "")
        fields = [f.strip() for f in raw.split(",") if f.strip()] or list(default)
        for name in fields:
            if name not in allowed:
                return self._invalid(
                    f"Tried accessing nonexisting field ({name}) on node type ({node})"
                )
        return fields

    @staticmethod
    def _view(node: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        """The asked-for fields of ``node`` (``id`` always); absent values are left out."""
        return {k: v for k, v in node.items() if (k in fields or k == "id") and v is not None}

    def _read(
        self,
        request: Request,
        node: dict[str, Any],
        allowed: tuple[str, ...],
        node_type: str,
        default: tuple[str, ...] = ("id",),
    ) -> Reply:
        """``GET`` of a node that reading does not change: the fields asked for, or why not."""
        fields = self._fields(request, allowed, node_type, default)
        if isinstance(fields, Reply):
            return fields
        return json_reply(200, self._view(node, fields))


@dataclass(kw_only=True)
class Container:
    """A media container: made by the create call, spent by the publish call."""

    id: str
    image_url: str | None
    alt_text: str | None
    created: datetime
    state: str = "IN_PROGRESS"  # then FINISHED or ERROR; EXPIRED or PUBLISHED
    polls_left: int = 0  # status reads still answered IN_PROGRESS
    failure: str | None = None  # why processing fails (ERROR): the fake's note, not Meta's
    image: bytes | None = None  # the fetched image
    media_id: str | None = None  # once PUBLISHED

    def settle(self) -> None:
        """Processing is over: FINISHED, or ERROR when the image could not be used."""
        self.state = "FINISHED" if self.failure is None else "ERROR"


class ContainerFake(GraphFake):
    """A Graph host that publishes in two steps (see the module docstring).

    Subclasses route the create, publish, publishing-limit and node calls, make the
    :class:`Container`, and say how their host names and words things.
    """

    #: the node types named by a "nonexisting field" error
    container_type: ClassVar[str]
    limit_type: ClassVar[str]
    #: the fields a status read may ask for
    status_fields: ClassVar[tuple[str, ...]]
    #: the id prefix of a published post (containers take another)
    media_prefix: ClassVar[str]
    #: the code of every publish refusal; the message and subcode of "not FINISHED yet"
    refusal_code: ClassVar[int]
    not_ready: ClassVar[tuple[str, int]]
    #: a publish over ``quota_total``: message, code, subcode
    over_quota: ClassVar[tuple[str, int, int | None]]

    def __init__(
        self,
        *,
        clock: Clock | None,
        token: str,
        version: str,
        username: str,
        processing_polls: int,
        quota_total: int,
    ) -> None:
        super().__init__(clock=clock, token=token, version=version)
        self.username = username
        self.processing_polls = processing_polls
        self.quota_total = quota_total
        self.containers: dict[str, Container] = {}
        self.posts: list[dict[str, Any]] = []  # published posts, oldest first
        self._published_at: list[datetime] = []

    def _is_me(self, node_id: str) -> bool:
        """Whether ``node_id`` in a path names this account."""
        raise NotImplementedError

    def _user(self, request: Request) -> Reply:
        """``GET`` of the account: the credentials check."""
        raise NotImplementedError

    def _media(self, request: Request, post: dict[str, Any]) -> Reply:
        """``GET`` of a published post."""
        raise NotImplementedError

    def _status(self, container: Container) -> dict[str, Any]:
        """What a status read of ``container`` can answer besides its id, by field name."""
        raise NotImplementedError

    def _post_content(self, container: Container, shortcode: str) -> dict[str, Any]:
        """What a post made from ``container`` holds besides what every host's does (id,
        image URL, alt text, time, container): its text, its permalink and the like."""
        raise NotImplementedError

    # --- scripting helpers -----------------------------------------------------------

    def expire_container(self, container_id: str) -> None:
        """The container was not published in time: it is EXPIRED from now on."""
        with self._lock:
            self.containers[container_id].state = "EXPIRED"

    def quota_usage(self) -> int:
        """Posts published in the rolling 24 h window ending now."""
        now = self.clock.now()
        return sum(1 for moment in self._published_at if now - moment < QUOTA_DURATION)

    # --- containers ------------------------------------------------------------------

    def _add_container(self, container: Container) -> Reply:
        """Keep ``container``, settled at once unless ``processing_polls`` reads come first."""
        container.polls_left = self.processing_polls
        if container.polls_left <= 0:
            container.settle()
        self.containers[container.id] = container
        return json_reply(200, {"id": container.id})

    def _age(self, container: Container) -> None:
        """A container not published within 24 h has EXPIRED."""
        if container.state in ("IN_PROGRESS", "FINISHED") and (
            self.clock.now() - container.created >= CONTAINER_LIFETIME
        ):
            container.state = "EXPIRED"

    def _container_status(self, request: Request, container: Container) -> Reply:
        """A status read: it answers the state, then counts as one of the polls."""
        fields = self._fields(request, self.status_fields, self.container_type)
        if isinstance(fields, Reply):
            return fields
        self._age(container)
        node = {"id": container.id, **self._status(container)}
        if container.state == "IN_PROGRESS":
            container.polls_left -= 1
            if container.polls_left <= 0:
                container.settle()
        return json_reply(200, self._view(node, fields))

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
            message, code, subcode = self.over_quota
            return self._error(400, message, code=code, subcode=subcode)
        return json_reply(200, {"id": self._make_post(container)["id"]})

    def _refusal(self, container: Container) -> Reply | None:
        """Why ``container`` cannot be published now, if it cannot (codes: fake's choice)."""
        code = self.refusal_code
        # Checked first, whatever else holds: a PUBLISHED container never makes a second post.
        if container.state == "PUBLISHED":
            return self._error(400, "The media has already been published", code=code)
        if container.state == "EXPIRED":
            return self._error(400, "The media container has expired", code=code)
        if container.state == "ERROR":
            return self._error(
                400, f"The media could not be processed: {container.failure}", code=code
            )
        if container.state != "FINISHED":
            message, subcode = self.not_ready
            return self._error(400, message, code=code, subcode=subcode)
        return None

    def _make_post(self, container: Container) -> dict[str, Any]:
        media_id = self._next_id(self.media_prefix)
        shortcode = base64.urlsafe_b64encode(int(media_id).to_bytes(8, "big")).decode().rstrip("=")
        now = self.clock.now()
        post = {
            "id": media_id,
            **self._post_content(container, shortcode),
            "image_url": container.image_url,
            "alt_text": container.alt_text,
            "timestamp": now.strftime(GRAPH_TIME),
            "container": container.id,
        }
        container.state, container.media_id = "PUBLISHED", media_id
        self.posts.append(post)
        self._published_at.append(now)
        return post

    def _publishing_limit(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_me(match["user"]):
            return self._unsupported("get", match["user"])
        fields = self._fields(request, ("quota_usage", "config"), self.limit_type)
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
        """The account, a container or a published post."""
        node_id = match["id"]
        if self._is_me(node_id):
            return self._user(request)
        if node_id in self.containers:
            return self._container_status(request, self.containers[node_id])
        post = next((p for p in self.posts if p["id"] == node_id), None)
        if post is not None:
            return self._media(request, post)
        return self._unsupported("get", node_id)


def fetch(url: str) -> tuple[httpx.Response, None] | tuple[None, str]:
    """Fetch ``url`` as Meta would: ``(the 200 response, None)``, or ``(None, why not)``."""
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=True)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"fetching {url} failed: {exc!r}"
    if response.status_code != 200:
        return None, f"fetching {url} answered HTTP {response.status_code}"
    return response, None


def sniff(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` from the bytes' signature, else None."""
    return next((kind for magic, kind in IMAGE_SIGNATURES.items() if data.startswith(magic)), None)
