"""X (API v2), channels.md §7 and §15.

- Auth: an OAuth 2.0 user token, ``Authorization: Bearer`` (scopes ``tweet.read tweet.write
  users.read media.write offline.access``). From ``token_file`` (:mod:`channels.tokens`,
  written by ``signpost channels connect``) it is refreshed at ``POST /2/oauth2/token``
  (``grant_type=refresh_token``; the refresh token rotates on every use, §15) before its
  2-hour life ends or on a 401; from ``token_env`` it is used as it is. OAuth 1.0a is not
  supported yet.
- Prepare (DESIGN §9.4): each image is uploaded with ``POST /2/media/upload`` (multipart
  ``media``, ``media_category=tweet_image``), its alt text set with ``POST
  /2/media/metadata`` (≤ 1000 characters); at most 4 images (§15). Unattached media are
  never public, so this is safe to repeat; the ids are stored before the tweet is sent.
- Publish: ``POST /2/tweets`` JSON ``{"text", "media": {"media_ids"}}`` → 2xx ``{"data":
  {"id"}}``; the receipt's URL is ``https://x.com/<username>/status/<id>``.
- No idempotency. An exact repeat is refused ``403 {"detail": "You are not allowed to create
  a Tweet with duplicate content."}`` without the earlier id (§15): that answer on a send is
  evidence our earlier try landed, so it is settled by a lookup, never called "failed" and
  never retried blind; if the lookup finds no tweet of ours since the claim, the identical
  tweet is an older one and the send is refused (PermanentError, saying so).
- Lookup: ``GET /2/users/me`` → id, then ``GET /2/users/{id}/tweets`` with ``start_time`` =
  the claim and ``tweet.fields=created_at``, paged by ``pagination_token`` until absence is
  proven (channels/lookups.py). Tweets are matched on their text with every URL set aside
  (X rewrites links to t.co in what it returns).
- Errors: problem JSON (``detail``, ``title``); 429 with ``x-rate-limit-reset`` (epoch
  seconds) transient with that delay; 401 refresh-then-credentials; other 4xx permanent;
  5xx transient.
- Limit: 280 weighted characters (twitter-text, URL = 23), ``max_length`` for Premium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from channels.base import MediaFile, Message, OutcomeUnknown, PermanentError, Receipt
from channels.connect import OAuthApp
from channels.lookups import created_at, find_since
from channels.oauth import OAuthAdapter
from channels.tokens import Tokens

API = "https://api.x.com"
AUTHORIZE = "https://x.com/i/oauth2/authorize"
SCOPES = ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access")
DUPLICATE = "duplicate content"
MAX_IMAGES = 4
TIMELINE_PAGE = 100
_URL = re.compile(r"https?://\S+")


class Duplicate(PermanentError):
    """X refused the tweet as a repeat of one already on the account."""


def comparable(text: str) -> str:
    """A tweet's words for matching: white space folded, every URL the same placeholder."""
    return " ".join(_URL.sub("<url>", text).split())


class XChannel(OAuthAdapter):
    """Post tweets as one X account."""

    type = "x"
    said_keys = ("detail", "title")

    @property
    def base(self) -> str:
        return (self.options.get("url") or API).rstrip("/")

    def classify(self, response: Any, body: Any) -> bool | None:
        if response.status_code == 403 and DUPLICATE in str((body or {}).get("detail", "")):
            raise Duplicate(f"{self.name}: X refused the text as a duplicate of an earlier post")
        return None

    def oauth_app(self) -> OAuthApp:
        """The app ``signpost channels connect`` authorizes (X's consent page is on x.com;
        with ``url`` set, as in tests, everything is at that base)."""
        client_id = self.options.get("client_id")
        if not client_id:
            raise PermanentError(f"{self.name}: set client_id (your X app's OAuth 2 client ID)")
        custom = self.options.get("url")
        return OAuthApp(
            channel=self.name,
            authorize_url=f"{self.base}/i/oauth2/authorize" if custom else AUTHORIZE,
            token_url=f"{self.base}/2/oauth2/token",
            scopes=SCOPES,
            client_id=client_id,
            client_secret=self.client_secret(required=False),
        )

    def _refresh(self, tokens: Tokens) -> Tokens:
        import httpx

        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token or "",
            "client_id": self.options.get("client_id", ""),
        }
        secret = self.client_secret(required=False)
        auth = httpx.BasicAuth(self.options.get("client_id", ""), secret) if secret else None
        answer = self.call(
            "POST",
            f"{self.base}/2/oauth2/token",
            sends=False,
            fields=("access_token",),
            data=form,
            auth=auth,
        )
        return Tokens.from_answer(answer, self.now(), old=tokens)

    # --- prepare and publish ---------------------------------------------------------

    def _prepare(self, message: Message) -> str | None:
        if not message.media:
            return None
        files = self.media_files(message)  # every image checked before the first upload
        if len(files) > MAX_IMAGES:
            raise PermanentError(f"{self.name}: X takes at most {MAX_IMAGES} images a post")
        return ",".join(self._upload(f) for f in files)

    def _upload(self, media: MediaFile) -> str:
        uploaded = self.authed(
            "POST",
            f"{self.base}/2/media/upload",
            sends=False,
            fields=("data.id",),
            files={"media": (media.name, media.data, media.mime)},
            data={"media_category": "tweet_image"},
        )
        media_id = str(uploaded["data"]["id"])
        if media.alt:
            self.authed(
                "POST",
                f"{self.base}/2/media/metadata",
                sends=False,
                json={"id": media_id, "metadata": {"alt_text": {"text": media.alt[:1000]}}},
            )
        return media_id

    def _publish(self, message: Message) -> Receipt:
        media_ids = self.prepared_ids(message)
        body: dict[str, Any] = {"text": message.text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        try:
            answer = self.authed(
                "POST", f"{self.base}/2/tweets", sends=True, fields=("data.id",), json=body
            )
        except Duplicate:
            return self.earlier_send(message)
        return self._receipt(str(answer["data"]["id"]))

    def _receipt(self, tweet_id: str) -> Receipt:
        username = self.options.get("username", "i")
        return Receipt(remote_id=tweet_id, remote_url=f"https://x.com/{username}/status/{tweet_id}")

    # --- lookup and check -----------------------------------------------------------

    def _lookup(self, message: Message) -> Receipt | None:
        me = self.authed("GET", f"{self.base}/2/users/me", sends=False, fields=("data.id",))
        wanted = comparable(message.text)

        def ours(tweet: dict[str, Any]) -> bool:
            when = created_at(tweet)
            if message.not_before is not None and (when is None or when < message.not_before):
                return False
            return comparable(str(tweet.get("text", ""))) == wanted

        found = find_since(
            self._timeline(str(me["data"]["id"]), message.not_before),
            matches=ours,
            created=created_at,
            not_before=message.not_before,
            name=self.name,
        )
        return self._receipt(str(found["id"])) if found is not None else None

    def _timeline(
        self, user_id: str, since: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        params: dict[str, Any] = {"max_results": TIMELINE_PAGE, "tweet.fields": "created_at"}
        if since is not None:
            params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        while True:
            page = self.authed(
                "GET", f"{self.base}/2/users/{user_id}/tweets", sends=False, params=params
            )
            tweets = (page.get("data") or []) if isinstance(page, dict) else None
            if not isinstance(tweets, list) or any(
                not isinstance(t, dict) or t.get("id") is None for t in tweets
            ):
                raise OutcomeUnknown(f"{self.name}: the timeline answer is not a list of posts")
            token = (page.get("meta") or {}).get("next_token")
            yield tweets, bool(token)
            params = {**params, "pagination_token": token}

    def _check(self) -> str:
        me = self.authed("GET", f"{self.base}/2/users/me", sends=False, fields=("data.username",))
        said = f"signed in as @{me['data']['username']}"
        configured = self.options.get("username")
        if configured and configured.lower() != str(me["data"]["username"]).lower():
            said += f", but config says username = {configured!r}: receipts would link wrong"
        return said + self.token_note()
