"""Mastodon (and API-compatible servers), channels.md §1.

- Publish: ``POST {url}/api/v1/statuses`` with ``Authorization: Bearer`` (scope
  ``write:statuses``), JSON ``status`` (the link is just text; the server builds the card),
  ``media_ids``, ``visibility`` (docs.joinmastodon.org/methods/statuses/#create).
- Prepare (DESIGN §9.4): ``POST /api/v2/media`` multipart ``file`` with ``description`` =
  alt text; 200 is processed, 202 means poll ``GET /api/v1/media/:id`` (206 processing, 200
  ready) (docs.joinmastodon.org/methods/media/#v2). :meth:`_prepare` uploads every image and
  waits until each is processed, returning the media ids comma-joined; the engine stores
  them, and ``publish`` with ``message.prepared`` set attaches those instead of uploading
  again. Polls sleep through the injectable ``sleep`` and stop at the send deadline.
- Receipt: ``id`` (a string), ``url`` falling back to ``uri`` (entities/Status).
- Idempotency: ``Idempotency-Key`` = the delivery's key, "stored for up to 1 hour"
  (statuses/#create; Mastodon.py statuses.py), so an unknown outcome is resent with the same
  key within that hour (``dedup_window``, with a margin) and looked up after it.
- Lookup: ``verify_credentials`` → account id, then ``/api/v1/accounts/:id/statuses``
  (limit 40, no replies) (methods/accounts/#statuses). A status whose
  ``media_attachments`` ids are exactly the prepared ids is ours whatever its time (one
  attachment belongs to one status only); otherwise only a status with ``created_at`` at or
  after ``message.not_before`` and the exact text counts, so last week's copy of a weekly
  post is never taken for this one. Without ``not_before`` any recent copy of the text
  matches (documented weakness, for callers that have no claim time).
- Errors: ``{"error"}``; 401 credentials, 422 validation (permanent, the server's
  ``error``); 429 and 5xx transient, ``X-RateLimit-Reset`` is a timestamp (Mastodon.py
  internals.py; api/rate-limits).
- Limit: ``max_characters`` (500 default) with URLs as 23, checked by channels.text; ``check``
  reads the instance's real limit from ``/api/v2/instance``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    MediaFile,
    Message,
    Receipt,
    TransientError,
)
from channels.lookups import created_at, find_since

MEDIA_POLLS = 20
MEDIA_POLL_S = 0.5
_TAGS = re.compile(r"<[^>]+>")


def plain_text(content: str) -> str:
    """A status's HTML content as the words it shows, for matching after a crash."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", content)
    return " ".join(html.unescape(_TAGS.sub("", text)).split())


STATUSES_PAGE = 40  # the most /api/v1/accounts/:id/statuses returns at once


class MastodonChannel(Adapter):
    """Post statuses to one Mastodon account."""

    type = "mastodon"
    deduplicates = True
    dedup_window = timedelta(minutes=55)  # the server keeps keys "up to 1 hour"
    said_keys = ("error",)

    @property
    def base(self) -> str:
        return self.options["url"].rstrip("/")

    def _headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret()}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def _get(self, path: str, *fields: str, **kwargs: Any) -> Any:
        return self.call(
            "GET",
            f"{self.base}{path}",
            sends=False,
            fields=fields,
            headers=self._headers(),
            **kwargs,
        )

    def _prepare(self, message: Message) -> str | None:
        if not message.media:
            return None
        files = self.media_files(message)  # every image checked before the first upload
        return ",".join(self._upload(f) for f in files)

    def _publish(self, message: Message) -> Receipt:
        media_ids = self.prepared_ids(message)
        body: dict[str, Any] = {
            "status": message.text,
            "visibility": self.options.get("visibility", "public"),
        }
        if media_ids:
            body["media_ids"] = media_ids
        status = self.call(
            "POST",
            f"{self.base}/api/v1/statuses",
            sends=True,
            fields=("id",),
            json=body,
            headers=self._headers(message.idempotency_key),
        )
        return self._receipt(status)

    def _upload(self, media: MediaFile) -> str:
        """Upload one image with its alt text and wait until the server has processed it."""
        response = self.request(
            "POST",
            f"{self.base}/api/v2/media",
            sends=False,  # an unattached upload is never public
            headers=self._headers(),
            files={"file": (media.name, media.data, media.mime)},
            data={"description": media.alt},
        )
        media_id = str(self.expect(response, "id", sends=False)["id"])
        for _ in range(MEDIA_POLLS):
            if response.status_code not in (202, 206):
                return media_id
            self.wait(MEDIA_POLL_S)
            response = self.request(
                "GET", f"{self.base}/api/v1/media/{media_id}", sends=False, headers=self._headers()
            )
        if response.status_code in (202, 206):
            raise TransientError(f"{self.name}: the server is still processing the image")
        return media_id

    def _receipt(self, status: dict[str, Any]) -> Receipt:
        return Receipt(
            remote_id=str(status["id"]), remote_url=status.get("url") or status.get("uri")
        )

    def _lookup(self, message: Message) -> Receipt | None:
        account = self._get("/api/v1/accounts/verify_credentials", "id")
        prepared = [i for i in (message.prepared or "").split(",") if i]
        wanted = " ".join(message.text.split())

        def ours(status: dict[str, Any]) -> bool:
            if prepared:  # our media ids are attached to our status and no other
                attached = [str(m.get("id")) for m in status.get("media_attachments") or []]
                return attached == prepared
            when = created_at(status)
            if message.not_before is not None and (when is None or when < message.not_before):
                return False
            return plain_text(str(status.get("content") or "")) == wanted

        found = find_since(
            self._statuses(str(account["id"])),
            matches=ours,
            created=created_at,
            not_before=message.not_before,
            name=self.name,
        )
        return self._receipt(found) if found is not None else None

    def _statuses(self, account_id: str) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """The account's statuses, a page at a time, newest first (``max_id`` pages back)."""
        params: dict[str, Any] = {"limit": STATUSES_PAGE, "exclude_replies": "true"}
        while True:
            page = self._get(f"/api/v1/accounts/{account_id}/statuses", params=params)
            if not isinstance(page, list):
                raise TransientError(f"{self.name}: the statuses answer is not a list")
            statuses = [s for s in page if isinstance(s, dict) and s.get("id") is not None]
            if len(statuses) < len(page):
                raise TransientError(f"{self.name}: a status in the answer has no id")
            yield statuses, len(page) >= STATUSES_PAGE
            params = {**params, "max_id": str(statuses[-1]["id"])}

    def instance_limit(self) -> int | None:
        """The server's own character limit, or None where it does not say."""
        try:
            data = self.call("GET", f"{self.base}/api/v2/instance", sends=False)
        except ChannelError:
            return None
        limit = (
            data.get("configuration", {}).get("statuses", {}).get("max_characters")
            if isinstance(data, dict)
            else None
        )
        return limit if isinstance(limit, int) else None

    def _check(self) -> str:
        account = self._get("/api/v1/accounts/verify_credentials")
        limit = self.instance_limit()
        configured = self.options.get("max_characters", 500)
        note = ""
        if limit and limit != configured:
            note = (
                f"; the server allows {limit} characters, config says {configured}:"
                f" set max_characters = {limit}"
            )
        return f"signed in as @{account.get('acct') or account.get('username')}{note}"
