"""A contract fake of the Facebook Page Graph API, graph.facebook.com (channels.md §8, §15).

Point the adapter at ``fake.url`` (for ``https://graph.facebook.com``), Graph version
``fake.version`` (default ``v26.0``, current per §15), page id ``fake.page_id`` and page
token ``fake.token``. Endpoints, all under ``/{version}`` (``me`` is the page too):

- ``POST {page-id}/photos``: multipart ``source`` or ``url`` (really fetched: serve it from
  a loopback server of your own, never from this busy fake), ``published=false``,
  ``alt_text_custom``? → ``{"id"}`` (§8 Photo);
- ``POST {page-id}/feed``: ``message``, ``link``?, ``published=true``, ``attached_media``?,
  ``fields=id,permalink_url``? → ``{"id": "<page-id>_<post-id>", "permalink_url"?}`` (§8
  Publish, Success); kept in ``fake.posts``, oldest first;
- ``GET {page-id}/feed?fields=id,message,created_time,permalink_url&limit=25`` (+ ``after``,
  ``since``): newest first, for reconciliation (§8 Reconcile);
- ``GET {post-id}?fields=permalink_url`` (§8 Success); ``GET {page-id}?fields=id,name``.

From channels.md: the §8 error shape ``{"error": {"message", "type", "code",
"error_subcode"?, "error_user_title"?, "error_user_msg"?, "fbtrace_id"}}`` (optional keys
only where the fake has a value); code 190 for the token, code 4 transient; JPG/PNG under
4 MB else subcode 1366046 (§8 Photo); no idempotency, consecutive duplicates refused with
§15's ``(#506) Duplicate status message`` (code 506, default) or ``(#368) You've already
posted this`` (``fake.duplicate_code = 368``; §8 calls 368 transient: never retry blindly);
§15's "HTTP 500 answers ... with the post created anyway" is ``fail_after_posting()``; the
63,206-character limit (§8, unverified; Python characters here); ``X-Business-Use-Case-Usage``
(§8, unverified), sent only by ``rate_limit()``.

Signpost's rule, stricter than Graph: the token travels only in ``Authorization: Bearer``
(which Graph accepts). ``access_token`` in the query, a form or a JSON body is answered 400
code 100 and counted in ``fake.tokens_in_urls`` (scripted answers too).

The fake's own choices: HTTP 400 for every Graph error but ``fail_after_posting``'s 500;
a wrong/missing token is code 190 "Invalid OAuth access token - Cannot parse access token"
with Graph's ``WWW-Authenticate: OAuth "Facebook Platform" ...``, an ``expire_token()``-ed
one subcode 463; validation errors code 100 ``(#100) ...``; an unknown object code 100
subcode 33 ``GraphMethodException``; an unknown path or version code 2500; an unfetchable
``url`` code 324; 1366046 comes as code 100 "Invalid parameter" with user title/message;
image types are sniffed from the bytes, 4 MB means 4 MiB, strictly under; photos must be
``published=false`` (a published photo would be a second post); posts must be published
(``published`` omitted or ``true``) with a message, link or media; a duplicate is a
non-empty ``message`` equal to the most recent post's, whatever its link or media;
``fail_after_posting`` answers code 1 "An unknown error occurred" (Graph's wording varies:
match the code), spent only by a feed POST that makes a post; ``rate_limit`` is code 4
with ``{page-id: [{"type": "pages", "call_count", "total_cputime", "total_time",
"estimated_time_to_regain_access"}]}``. Parameters may come in the query, a urlencoded or
multipart form or a JSON body; ``attached_media`` is either one JSON list
(``attached_media=[{"media_fbid": "1"}]``, or a list in a JSON body) or one JSON object per
indexed field (``attached_media[0]={"media_fbid": "1"}``), not both. Feed paging: opaque
``before``/``after`` cursors, ``next`` only when more follow (never with a token),
``limit`` 1-100 (25), ``since`` keeps posts made at or after that unix second. Default
fields: page ``id,name``; post ``id,message,created_time``; a feed POST answers ``id``.

What Facebook shares with Threads and Instagram (the token rule, the error bodies, fields
and ids, fetching and sniffing an image) is written once in :mod:`tests.fakes.meta`.

Not modelled: long-lived token refresh (a page token obtained from a long-lived user token
does not expire, so nothing refreshes it; ``expire_token()`` stands for a revoked one), link
scraping (1609005), scheduled posts, videos, editing or deleting, reusing a photo,
``until``/``before`` paging, real call counting, the BUC header on ordinary answers.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from scheduler.clock import Clock
from tests.fakes.meta import GRAPH_TIME, RATE_LIMITED, GraphFake, fetch, sniff
from tests.fakes.server import Reply, Request, json_reply

VERSION = "v26.0"  # §15: the current Graph version
MAX_MESSAGE_LENGTH = 63206  # §8 (unverified)
MAX_PHOTO_BYTES = 4 * 1024 * 1024  # §8 "under 4 MB"
POST_FIELDS = ("id", "message", "created_time", "permalink_url")
POST_DEFAULT_FIELDS = ("id", "message", "created_time")
PAGE_FIELDS = ("id", "name")
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
EXPIRED_TOKEN = "Error validating access token: Session has expired"
UNKNOWN_ERROR = "An unknown error occurred"  # code 1, transient (§8), post made (§15)
DUPLICATES = {506: "(#506) Duplicate status message", 368: "(#368) You've already posted this"}
ATTACHED = re.compile(r"attached_media\[(\d+)\]")


@dataclass(frozen=True)
class Photo:
    """An unpublished photo of the page, waiting to be attached to a feed post."""

    id: str
    data: bytes
    content_type: str  # sniffed from the bytes: image/jpeg or image/png
    alt_text: str | None  # alt_text_custom
    url: str | None  # where it was fetched from; None for a multipart ``source``


class FakeFacebook(GraphFake):
    """One Facebook Page, with its page access token.

    :param page_id: the page id in ``/{version}/{page-id}/...`` paths and post ids.
    :param page_name: what ``GET /{page-id}?fields=name`` answers.
    :param clock: source of ``created_time`` (and of ``since`` filtering).
    :param token: the valid page token.
    :param version: the Graph version in every path (§8: configurable; §15: ``v26.0``).
    """

    id_digits = 11

    def __init__(
        self,
        page_id: str = "104000000000001",
        page_name: str = "Stop It Now test page",
        clock: Clock | None = None,
        token: str = "page-token-1",
        version: str = VERSION,
    ) -> None:
        super().__init__(clock=clock, token=token, version=version)
        self.page_id = page_id
        self.page_name = page_name
        self.photos: dict[str, Photo] = {}
        self.posts: list[dict[str, Any]] = []  # oldest first
        self.fetch_failures: list[str] = []  # why each ``url`` upload could not be fetched
        self.duplicate_code = 506  # or 368: the two duplicate answers of §15
        self._fail_after_posting = 0
        page = self._path(r"(?P<page>[^/]+)")
        self.route("POST", page + "/photos", self._upload_photo)
        self.route("POST", page + "/feed", self._publish)
        self.route("GET", page + "/feed", self._read_feed)

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, *, times: int = 1, regain_minutes: int = 1) -> None:
        """The next ``times`` requests get HTTP 400, code 4, and a BUC usage header (§8)."""
        entry = {"type": "pages", "call_count": 100, "total_cputime": 28, "total_time": 36}
        usage = {self.page_id: [{**entry, "estimated_time_to_regain_access": regain_minutes}]}
        headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
        self.script_next(
            lambda request: self._error(400, RATE_LIMITED, code=4, headers=headers), times=times
        )

    def fail_after_posting(self, *, times: int = 1) -> None:
        """The next ``times`` feed POSTs make their post, then answer HTTP 500, code 1 (§15)."""
        with self._lock:
            self._fail_after_posting += times

    # --- errors and dispatch ---------------------------------------------------------

    def _invalid(self, message: str) -> Reply:
        return super()._invalid(f"(#100) {message}")

    def _expired_token(self) -> Reply:
        """A revoked page token, or its user's session ended (``expire_token()``)."""
        return self._token_error(EXPIRED_TOKEN, 463)

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        """Graph reads parameters from the query, a form body or a JSON body alike."""
        params: dict[str, Any] = dict(request.query)
        params.update(request.form)
        if isinstance(request.json, dict):
            params.update(request.json)
        return params

    def handle(self, request: Request) -> Reply | None:
        if "access_token" in self._params(request):  # counted even when the answer is scripted
            with self._lock:
                self.tokens_in_urls += 1
        return super().handle(request)

    def _token_in_url(self, request: Request) -> Reply | None:
        """Refused in the query, a form or a JSON body alike; counted by :meth:`handle`."""
        if "access_token" not in self._params(request):
            return None
        return self._invalid(
            "Signpost sends the page token in the Authorization header only, "
            "never as an access_token parameter"
        )

    def _is_page(self, node_id: str) -> bool:
        return node_id in ("me", self.page_id)

    # --- photos ----------------------------------------------------------------------

    def _upload_photo(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_page(match["page"]):
            return self._unsupported("post", match["page"])
        params = self._params(request)
        if str(params.get("published", "true")).lower() != "false":
            return self._invalid(
                "This fake takes unpublished photos only (published=false), to attach to a post"
            )
        source, url = request.files.get("source"), params.get("url")
        if source is not None and url:
            return self._invalid("Give either source or url, not both")
        if source is not None:
            data = source.data
        elif url:
            response, failure = fetch(str(url))
            if response is None:
                self.fetch_failures.append(failure)
                return self._error(400, "(#324) Missing or invalid image file", code=324)
            data = response.content
        else:
            return self._error(400, "(#324) Requires upload file", code=324)
        content_type = sniff(data)
        if content_type is None or len(data) >= MAX_PHOTO_BYTES:
            return self._error(
                400,
                "Invalid parameter",
                code=100,
                subcode=1366046,
                user_title="Your photos couldn't be uploaded",
                user_msg="Photos should be smaller than 4 MB and saved as JPG or PNG files.",
            )
        alt_text = params.get("alt_text_custom")
        photo = Photo(
            id=self._next_id("1221"),
            data=data,
            content_type=content_type,
            alt_text=str(alt_text) if alt_text else None,
            url=str(url) if url else None,
        )
        self.photos[photo.id] = photo
        return json_reply(200, {"id": photo.id})

    # --- publishing ------------------------------------------------------------------

    def _publish(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._is_page(match["page"]):
            return self._unsupported("post", match["page"])
        params = self._params(request)
        fields = self._fields(request, POST_FIELDS, "Post")
        if isinstance(fields, Reply):
            return fields
        if str(params.get("published", "true")).lower() != "true":
            return self._invalid("This fake makes published posts only (published=true)")
        media = self._attached_media(request, params)
        if isinstance(media, Reply):
            return media
        message = str(params.get("message") or "") or None
        link = str(params.get("link") or "") or None
        if not (message or link or media):
            return self._invalid("A post needs a message, a link or attached_media")
        if message is not None and len(message) > MAX_MESSAGE_LENGTH:
            return self._invalid(f"Param message must be at most {MAX_MESSAGE_LENGTH} characters")
        if message is not None and self.posts and self.posts[-1]["message"] == message:
            return self._error(400, DUPLICATES[self.duplicate_code], code=self.duplicate_code)
        post = self._make_post(message, link, media)
        if self._fail_after_posting > 0:  # §15: a 500, though the post was made
            self._fail_after_posting -= 1
            return self._error(500, UNKNOWN_ERROR, code=1)
        return json_reply(200, self._view(post, fields))

    def _attached_media(self, request: Request, params: dict[str, Any]) -> list[str] | Reply:
        """The photo ids of ``attached_media``, in order (see the module doc for both forms)."""
        indexed: dict[int, str] = {}
        for key, value in [*request.query.items(), *request.fields]:
            if found := ATTACHED.fullmatch(key):
                indexed[int(found[1])] = value
        whole = params.get("attached_media")
        if whole is not None and indexed:
            return self._invalid("Give attached_media as one JSON list or as attached_media[N]")
        try:
            if indexed:
                items: Any = [json.loads(indexed[n]) for n in sorted(indexed)]
            else:
                items = json.loads(whole) if isinstance(whole, str) and whole else whole or []
        except ValueError:
            return self._invalid("Param attached_media must be JSON")
        if not isinstance(items, list):
            return self._invalid("Param attached_media must be a list")
        ids = []
        for n, item in enumerate(items):
            fbid = str(item.get("media_fbid")) if isinstance(item, dict) else None
            if fbid not in self.photos:
                return self._invalid(
                    f"Param attached_media[{n}] must be an unpublished photo of this page"
                )
            ids.append(fbid)
        return ids

    def _make_post(self, message: str | None, link: str | None, media: list[str]) -> dict:
        post_id = self._next_id("1220")
        post = {
            "id": f"{self.page_id}_{post_id}",
            "message": message,
            "link": link,
            "media_fbids": media,
            "alt_texts": [self.photos[m].alt_text for m in media],
            "created_time": self.clock.now().astimezone(UTC).strftime(GRAPH_TIME),
            "permalink_url": f"https://www.facebook.com/{self.page_id}/posts/{post_id}",
        }
        self.posts.append(post)
        return post

    # --- reading ---------------------------------------------------------------------

    def _read_feed(self, request: Request, match: re.Match[str]) -> Reply:
        """The page's posts, newest first, ``limit`` at a time from the ``after`` cursor."""
        if not self._is_page(match["page"]):
            return self._unsupported("get", match["page"])
        params = self._params(request)
        fields = self._fields(request, POST_FIELDS, "Post", POST_DEFAULT_FIELDS)
        if isinstance(fields, Reply):
            return fields
        try:
            limit = int(params.get("limit") or DEFAULT_LIMIT)
            since = int(params["since"]) if params.get("since") else None
        except ValueError:
            return self._invalid("Params limit and since must be integers")
        if not 1 <= limit <= MAX_LIMIT:
            return self._invalid(f"Param limit must be between 1 and {MAX_LIMIT}")
        posts = [p for p in reversed(self.posts) if since is None or unix(p) >= since]
        if params.get("after"):
            after = uncursor(str(params["after"]))
            index = next((i for i, p in enumerate(posts) if p["id"] == after), None)
            if index is None:
                return self._invalid("Param after is not a valid cursor")
            posts = posts[index + 1 :]
        page = posts[:limit]
        if not page:
            return json_reply(200, {"data": []})
        paging: dict[str, Any] = {
            "cursors": {"before": cursor(page[0]["id"]), "after": cursor(page[-1]["id"])}
        }
        if len(posts) > limit:
            query: dict[str, Any] = {"fields": ",".join(fields), "limit": limit}
            if since is not None:
                query["since"] = since
            query["after"] = paging["cursors"]["after"]
            paging["next"] = f"{self.api_url}/{self.page_id}/feed?{urlencode(query)}"
        return json_reply(200, {"data": [self._view(p, fields) for p in page], "paging": paging})

    def _node(self, request: Request, match: re.Match[str]) -> Reply:
        """The page, or one of its posts."""
        node_id = match["id"]
        if self._is_page(node_id):
            page = {"id": self.page_id, "name": self.page_name}
            return self._read(request, page, PAGE_FIELDS, "Page", PAGE_FIELDS)
        post = next((p for p in self.posts if p["id"] == node_id), None)
        if post is None:
            return self._unsupported("get", node_id)
        return self._read(request, post, POST_FIELDS, "Post", POST_DEFAULT_FIELDS)


def unix(post: dict[str, Any]) -> int:
    return int(datetime.strptime(post["created_time"], "%Y-%m-%dT%H:%M:%S%z").timestamp())


def cursor(post_id: str) -> str:
    return base64.urlsafe_b64encode(post_id.encode()).decode().rstrip("=")


def uncursor(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
