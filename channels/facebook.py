"""Facebook Page (Graph API), channels.md §8 and §15.

- Auth: a Page access token (``pages_manage_posts``) in ``Authorization: Bearer`` only, from
  ``token_env`` or ``token_file``; a Page token got from a long-lived user token does not
  expire, so nothing refreshes it. Graph answers a bad one with 400 and code 190.
- Prepare (DESIGN §9.4): each image is uploaded unpublished, ``POST /{version}/{page-id}/
  photos`` multipart ``source``, ``published=false``, ``alt_text_custom`` → ``{"id"}``
  (an unpublished photo is not on the Page); the ids are recorded before the post is made.
- Publish: ``POST /{version}/{page-id}/feed`` with ``message``, ``published=true``,
  ``attached_media[i]={"media_fbid"}``, ``fields=id,permalink_url`` → ``{"id",
  "permalink_url"}``.
- Never twice: no idempotency, and "HTTP 500 answers have been seen with the post created
  anyway" (§15), so a 5xx to the feed POST is an unknown outcome (looked up, never resent
  blind). Duplicates ``(#506) Duplicate status message`` / ``(#368) You've already posted
  this`` on a send mean an earlier try landed: settled by a lookup.
- Lookup: ``GET /{version}/{page-id}/feed?fields=id,message,created_time,permalink_url``
  with ``since`` = the claim, paged by the ``after`` cursor until absence is proven.
- Errors: :mod:`channels.graph` (transient codes 1, 2, 4, 17, 341, 368, 32/613).
- ``version``: the Graph API version in every path (default ``v26.0``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from channels.base import MediaFile, Message, OutcomeUnknown, PermanentError, Receipt
from channels.graph import graph_error, raise_graph_error
from channels.lookups import find_since
from channels.oauth import OAuthAdapter

API = "https://graph.facebook.com"
VERSION = "v26.0"
FEED_PAGE = 25
DUPLICATE_CODES = (506, 368)


class Duplicate(PermanentError):
    """Graph refused the message as one the Page has just posted."""


def created_time(post: dict[str, Any]) -> datetime | None:
    """Graph's ``created_time`` ("2026-03-01T12:00:00+0000"), or None."""
    try:
        return datetime.strptime(str(post["created_time"]), "%Y-%m-%dT%H:%M:%S%z")
    except (KeyError, ValueError):
        return None


class FacebookChannel(OAuthAdapter):
    """Post to one Facebook Page."""

    type = "facebook"
    server_error_may_post = True

    @property
    def api(self) -> str:
        base = (self.options.get("url") or API).rstrip("/")
        return f"{base}/{self.options.get('version') or VERSION}"

    @property
    def page(self) -> str:
        page_id = self.options.get("page_id")
        if not page_id:
            raise PermanentError(f"{self.name}: set page_id (the Page's numeric id)")
        return str(page_id)

    def classify(self, response: Any, body: Any) -> bool | None:
        request = response.request
        posting = request.method == "POST" and request.url.path.endswith(f"/{self.page}/feed")
        error = graph_error(body)
        if posting and error is not None and error.get("code") in DUPLICATE_CODES:
            if error.get("code") == 506 or "already posted" in str(error.get("message", "")):
                raise Duplicate(f"{self.name}: Facebook refused the message as a duplicate")
        raise_graph_error(response, body, self.name, self.now())
        return None

    # --- prepare and publish ---------------------------------------------------------

    def _prepare(self, message: Message) -> str | None:
        if not message.media:
            return None
        files = self.media_files(message)  # every image checked before the first upload
        return ",".join(self._upload(f) for f in files)

    def _upload(self, media: MediaFile) -> str:
        form = {"published": "false"}
        if media.alt:
            form["alt_text_custom"] = media.alt
        answer = self.authed(
            "POST",
            f"{self.api}/{self.page}/photos",
            sends=False,
            fields=("id",),
            data=form,
            files={"source": (media.name, media.data, media.mime)},
        )
        return str(answer["id"])

    def _publish(self, message: Message) -> Receipt:
        photos = self.prepared_ids(message)
        form = {"message": message.text, "published": "true", "fields": "id,permalink_url"}
        for n, photo in enumerate(photos):
            form[f"attached_media[{n}]"] = json.dumps({"media_fbid": photo})
        try:
            answer = self.authed(
                "POST", f"{self.api}/{self.page}/feed", sends=True, fields=("id",), data=form
            )
        except Duplicate:
            return self.earlier_send(message)
        return self._receipt(answer)

    def _receipt(self, post: dict[str, Any]) -> Receipt:
        url = post.get("permalink_url")
        if not url:
            try:
                url = self.authed(
                    "GET",
                    f"{self.api}/{post['id']}",
                    sends=False,
                    params={"fields": "permalink_url"},
                ).get("permalink_url")
            except PermanentError:
                url = None
        return Receipt(remote_id=str(post["id"]), remote_url=url)

    # --- lookup and check -----------------------------------------------------------

    def _lookup(self, message: Message) -> Receipt | None:
        wanted = " ".join(message.text.split())

        def ours(post: dict[str, Any]) -> bool:
            when = created_time(post)
            if message.not_before is not None and (
                when is None or when < message.not_before.replace(microsecond=0)
            ):
                return False
            return " ".join(str(post.get("message", "")).split()) == wanted

        found = find_since(
            self._feed(message.not_before),
            matches=ours,
            created=created_time,
            not_before=message.not_before.replace(microsecond=0) if message.not_before else None,
            name=self.name,
        )
        return self._receipt(found) if found is not None else None

    def _feed(self, since: datetime | None) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        params: dict[str, Any] = {
            "fields": "id,message,created_time,permalink_url",
            "limit": FEED_PAGE,
        }
        if since is not None:
            params["since"] = int(since.timestamp())
        while True:
            page = self.authed("GET", f"{self.api}/{self.page}/feed", sends=False, params=params)
            posts = page.get("data") if isinstance(page, dict) else None
            if not isinstance(posts, list) or any(
                not isinstance(p, dict) or p.get("id") is None for p in posts
            ):
                raise OutcomeUnknown(f"{self.name}: the Page's feed answer is not a list")
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            more = bool((page.get("paging") or {}).get("next")) and bool(after)
            yield posts, more
            params = {**params, "after": after}

    def _check(self) -> str:
        page = self.authed(
            "GET",
            f"{self.api}/{self.page}",
            sends=False,
            fields=("id",),
            params={"fields": "id,name"},
        )
        return f"posting as the Page '{page.get('name') or page['id']}'"
