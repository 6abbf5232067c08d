"""Mastodon (and API-compatible servers), channels.md §1.

- Publish: ``POST {url}/api/v1/statuses`` with ``Authorization: Bearer`` (scope
  ``write:statuses``), JSON ``status`` (the link is just text; the server builds the card),
  ``media_ids``, ``visibility`` (docs.joinmastodon.org/methods/statuses/#create).
- Media: ``POST /api/v2/media`` multipart ``file`` with ``description`` = alt text; 200 is
  processed, 202 means poll ``GET /api/v1/media/:id`` (206 processing, 200 ready)
  (docs.joinmastodon.org/methods/media/#v2).
- Receipt: ``id`` (a string), ``url`` falling back to ``uri`` (entities/Status).
- Idempotency: ``Idempotency-Key`` = the delivery's key, "stored for up to 1 hour"
  (statuses/#create; Mastodon.py statuses.py), so an unknown outcome is resent with the same
  key within that hour (``dedup_window``, with a margin) and looked up after it.
- Lookup: ``verify_credentials`` → account id, then ``/api/v1/accounts/:id/statuses``
  (limit 40, no replies), matched on the exact text (methods/accounts/#statuses).
- Errors: 401 credentials, 422 validation (permanent, the server's ``error``); 429 and 5xx
  transient, ``X-RateLimit-Reset`` is a timestamp (Mastodon.py internals.py; api/rate-limits).
- Limit: ``max_characters`` (500 default) with URLs as 23, checked by channels.text; ``check``
  reads the instance's real limit from ``/api/v2/instance``.
"""

from __future__ import annotations

import html
import mimetypes
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    raise_for,
    said,
    translate_errors,
)

MEDIA_POLLS = 20
MEDIA_POLL_S = 0.5
_TAGS = re.compile(r"<[^>]+>")


def plain_text(content: str) -> str:
    """A status's HTML content as the words it shows, for matching after a crash."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", content)
    return " ".join(html.unescape(_TAGS.sub("", text)).split())


class MastodonChannel(Adapter):
    """Post statuses to one Mastodon account."""

    type = "mastodon"
    deduplicates = True
    dedup_window = timedelta(minutes=55)  # the server keeps keys "up to 1 hour"

    @property
    def base(self) -> str:
        return self.options["url"].rstrip("/")

    def _headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret()}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        with translate_errors(self.name):
            response = self.client.request(method, f"{self.base}{path}", **kwargs)
        raise_for(response, self.name, self.now(), said(response, "error"))
        return response

    def publish(self, message: Message) -> Receipt:
        media_ids = [self._upload(m.path, m.alt) for m in message.media]
        body: dict[str, Any] = {
            "status": message.text,
            "visibility": self.options.get("visibility", "public"),
        }
        if media_ids:
            body["media_ids"] = media_ids
        status = self._call(
            "POST", "/api/v1/statuses", json=body, headers=self._headers(message.idempotency_key)
        ).json()
        return Receipt(remote_id=str(status["id"]), remote_url=status.get("url") or status["uri"])

    def _upload(self, path: str, alt: str) -> str:
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as data:
            media = self._call(
                "POST",
                "/api/v2/media",
                headers=self._headers(),
                files={"file": (Path(path).name, data, kind)},
                data={"description": alt},
            )
        attachment = media.json()
        polls = 0
        while media.status_code == 202 or (media.status_code == 206):
            polls += 1
            if polls > MEDIA_POLLS:
                raise TransientError(f"{self.name}: the server is still processing the image")
            time.sleep(MEDIA_POLL_S)
            media = self._call("GET", f"/api/v1/media/{attachment['id']}", headers=self._headers())
        return str(attachment["id"])

    def lookup(self, message: Message) -> Receipt | None:
        account = self._call(
            "GET", "/api/v1/accounts/verify_credentials", headers=self._headers()
        ).json()
        statuses = self._call(
            "GET",
            f"/api/v1/accounts/{account['id']}/statuses",
            params={"limit": 40, "exclude_replies": "true"},
            headers=self._headers(),
        ).json()
        wanted = " ".join(message.text.split())
        for status in statuses:
            if plain_text(status.get("content", "")) == wanted:
                return Receipt(
                    remote_id=str(status["id"]), remote_url=status.get("url") or status.get("uri")
                )
        return None

    def instance_limit(self) -> int | None:
        """The server's own character limit, or None where it does not say."""
        try:
            data = self._call("GET", "/api/v2/instance").json()
        except (TransientError, PermanentError):
            return None
        return data.get("configuration", {}).get("statuses", {}).get("max_characters")

    def check(self) -> str:
        account = self._call(
            "GET", "/api/v1/accounts/verify_credentials", headers=self._headers()
        ).json()
        limit = self.instance_limit()
        configured = self.options.get("max_characters", 500)
        note = ""
        if limit and limit != configured:
            note = (
                f"; the server allows {limit} characters, config says {configured}:"
                f" set max_characters = {limit}"
            )
        return f"signed in as @{account.get('acct') or account.get('username')}{note}"
