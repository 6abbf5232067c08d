"""LinkedIn (Posts API), channels.md §9 and §15.

- Auth: an OAuth 2 member token with ``w_organization_social`` (to post as an organisation;
  ``w_member_social`` as a person) and ``r_organization_social`` (to read posts back), from
  ``token_file`` (written by ``signpost channels connect``; refreshed at ``POST
  /oauth/v2/accessToken`` with ``client_id``/``client_secret`` as form fields, before it
  lapses or on a 401) or ``token_env``. Every REST call carries ``LinkedIn-Version:
  YYYYMM`` (``version``; versions are sunset on a rolling basis) and
  ``X-Restli-Protocol-Version: 2.0.0``.
- Text: "little text": ``\\ | { } @ [ ] ( ) < > # * _ ~`` are backslash-escaped so that
  readers see the approved words; 3,000 characters counted as sent.
- Prepare (DESIGN §9.4): the image, ``POST /rest/images?action=initializeUpload`` →
  ``uploadUrl`` + ``urn:li:image``, then ``PUT`` the bytes (not public until a post uses it).
- Publish: ``POST /rest/posts`` → ``201`` with the urn in ``x-restli-id``; the URL is
  ``https://www.linkedin.com/feed/update/<urn>``.
- Never twice: no idempotency; a 5xx to the post may have posted it (an unknown outcome,
  looked up). ``422 DUPLICATE_POST`` "Content is a duplicate of urn:li:share:…" names the
  earlier post (§15): if the lookup finds it since the claim it is this send's receipt;
  otherwise it is an older post and the send is refused, naming it.
- Lookup: ``GET /rest/posts?author=<urn>&q=author&count=N&start=…`` newest first, paged
  until a post older than the claim (or the end) proves absence.
- Errors: ``{"status", "code", "message"}``; 401 refresh-then-credentials; 429 and 5xx
  transient (LinkedIn names no delay); other 4xx permanent with LinkedIn's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from channels.base import MediaFile, Message, OutcomeUnknown, PermanentError, Receipt
from channels.connect import OAuthApp
from channels.lookups import find_since
from channels.oauth import OAuthAdapter
from channels.text import linkedin_escape
from channels.tokens import Tokens

API = "https://api.linkedin.com"
WWW = "https://www.linkedin.com"
VERSION = "202611"
POSTS_PAGE = 50
_DUPLICATE_OF = re.compile(r"duplicate of (urn:li:[a-zA-Z]+:[\w-]+)")


class Duplicate(PermanentError):
    """LinkedIn refused the commentary as a duplicate of ``urn``."""

    def __init__(self, message: str, urn: str | None) -> None:
        super().__init__(message)
        self.urn = urn


def created(post: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(post["createdAt"]) / 1000, tz=UTC)
    except (KeyError, ValueError, TypeError):
        return None


class LinkedInChannel(OAuthAdapter):
    """Post as one LinkedIn organisation (or member)."""

    type = "linkedin"
    server_error_may_post = True
    said_keys = ("message",)

    @property
    def base(self) -> str:
        return (self.options.get("url") or API).rstrip("/")

    @property
    def author(self) -> str:
        author = self.options.get("author")
        if not author or not str(author).startswith(("urn:li:organization:", "urn:li:person:")):
            raise PermanentError(
                f"{self.name}: set author to urn:li:organization:ID or urn:li:person:ID"
            )
        return str(author)

    def _headers(self) -> dict[str, str]:
        """What every REST call must carry (§9: both required)."""
        return {
            "LinkedIn-Version": str(self.options.get("version") or VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
        }

    def _rest(self, method: str, path: str, *, sends: bool, **kwargs: Any) -> Any:
        return self.authed(
            method, f"{self.base}{path}", sends=sends, headers=self._headers(), **kwargs
        )

    def classify(self, response: Any, body: Any) -> bool | None:
        request = response.request
        posting = request.method == "POST" and request.url.path.endswith("/rest/posts")
        if posting and response.status_code == 422 and isinstance(body, dict):
            if body.get("code") == "DUPLICATE_POST":
                found = _DUPLICATE_OF.search(str(body.get("message", "")))
                raise Duplicate(
                    f"{self.name}: LinkedIn refused the text as a duplicate",
                    found.group(1) if found else None,
                )
        return None

    # --- tokens and connect ----------------------------------------------------------

    def oauth_app(self) -> OAuthApp:
        client_id = self.options.get("client_id")
        if not client_id:
            raise PermanentError(f"{self.name}: set client_id (your LinkedIn app's Client ID)")
        www = self.base if self.options.get("url") else WWW
        person = self.author.startswith("urn:li:person:")
        return OAuthApp(
            channel=self.name,
            authorize_url=f"{www}/oauth/v2/authorization",
            token_url=f"{www}/oauth/v2/accessToken",
            scopes=("w_member_social",)
            if person
            else ("w_organization_social", "r_organization_social"),
            client_id=client_id,
            client_secret=self.client_secret(required=True),
            secret_in_form=True,
        )

    def _refresh(self, tokens: Tokens) -> Tokens:
        app = self.oauth_app()
        answer = self.call(
            "POST",
            app.token_url,
            sends=False,
            fields=("access_token",),
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token or "",
                "client_id": app.client_id,
                "client_secret": app.client_secret or "",
            },
        )
        return Tokens.from_answer(answer, self.now(), old=tokens)

    # --- prepare and publish ---------------------------------------------------------

    def _prepare(self, message: Message) -> str | None:
        if not message.media:
            return None
        if len(message.media) > 1:
            raise PermanentError(f"{self.name}: Signpost sends one image a post to LinkedIn")
        return self._upload(self.media_file(message.media[0]))

    def _upload(self, media: MediaFile) -> str:
        started = self._rest(
            "POST",
            "/rest/images",
            sends=False,
            fields=("value.uploadUrl", "value.image"),
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": self.author}},
        )
        self.authed_response("PUT", started["value"]["uploadUrl"], sends=False, content=media.data)
        return str(started["value"]["image"])

    def _publish(self, message: Message) -> Receipt:
        image = message.prepared if message.prepared is not None else self._prepare(message)
        body: dict[str, Any] = {
            "author": self.author,
            "commentary": linkedin_escape(message.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if image:
            body["content"] = {"media": {"id": image, "altText": message.media[0].alt}}
        try:
            response = self._with_posting(body)
        except Duplicate as exc:
            # §15 names the earlier post; it is ours only if it was made since the claim
            # (an identical post from last week must not pass for this one, unsent).
            if exc.urn is None:
                return self.earlier_send(message)
            found = self._lookup(message)
            if found is not None:
                return found
            raise PermanentError(
                f"{self.name}: LinkedIn refuses the text as a duplicate of an older post,"
                f" {exc.urn} (not one of this send's); change the words to post it again"
            ) from None
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise OutcomeUnknown(
                f"{self.name}: answered {response.status_code} without x-restli-id (the"
                " post's urn); it may have been posted"
            )
        return self._receipt(urn)

    def _with_posting(self, body: dict[str, Any]) -> Any:
        """The post request; its answer (201, empty, the urn in a header) is the response."""
        return self.authed_response(
            "POST", f"{self.base}/rest/posts", sends=True, json=body, headers=self._headers()
        )

    def _receipt(self, urn: str) -> Receipt:
        return Receipt(remote_id=urn, remote_url=f"https://www.linkedin.com/feed/update/{urn}")

    # --- lookup and check -----------------------------------------------------------

    def _lookup(self, message: Message) -> Receipt | None:
        wanted = linkedin_escape(message.text)

        def ours(post: dict[str, Any]) -> bool:
            when = created(post)
            if message.not_before is not None and (when is None or when < message.not_before):
                return False
            return post.get("commentary") == wanted

        found = find_since(
            self._posts(),
            matches=ours,
            created=created,
            not_before=message.not_before,
            name=self.name,
        )
        return self._receipt(str(found["id"])) if found is not None else None

    def _posts(self) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        start = 0
        while True:
            page = self._rest(
                "GET",
                "/rest/posts",
                sends=False,
                params={"author": self.author, "q": "author", "count": POSTS_PAGE, "start": start},
            )
            posts = page.get("elements") if isinstance(page, dict) else None
            if not isinstance(posts, list) or any(
                not isinstance(p, dict) or not p.get("id") for p in posts
            ):
                raise OutcomeUnknown(f"{self.name}: the posts answer is not a list of posts")
            yield posts, len(posts) >= POSTS_PAGE
            start += len(posts)

    def _check(self) -> str:
        if self.author.startswith("urn:li:organization:"):
            org = self._rest(
                "GET", f"/rest/organizations/{self.author.rsplit(':', 1)[1]}", sends=False
            )
            said = f"posting as the organisation '{org.get('localizedName') or self.author}'"
        else:
            me = self.authed("GET", f"{self.base}/v2/userinfo", sends=False)
            said = f"posting as {me.get('name') or self.author}"
        return said + self.token_note()
