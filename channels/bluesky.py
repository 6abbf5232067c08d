"""Bluesky (AT Protocol), channels.md §2.

- Session: ``com.atproto.server.createSession`` with the handle and an app password
  (``token_env``/``token_file``) → ``accessJwt``, ``refreshJwt``, ``did``. Logins are limited
  (30/5 min, 300/day), so the session is kept and renewed with ``refreshSession`` when the
  server answers ``ExpiredToken`` (docs.bsky.app rate-limits; lexicon).
- Publish: ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` with ``text``,
  ``createdAt`` (RFC 3339, "Z"), link ``facets`` whose ``byteStart``/``byteEnd`` are UTF-8
  byte offsets, end exclusive (lexicon app.bsky.richtext.facet), and one ``embed``: images
  (``uploadBlob`` first, ``alt`` per image, at most 4) or else an external card for the link
  (lexicons app.bsky.embed.images / app.bsky.embed.external).
- Receipt: the record's ``at://did/app.bsky.feed.post/rkey`` and
  ``https://bsky.app/profile/<handle>/post/<rkey>``.
- No idempotency (a client rkey is not to be relied on), so after an unknown outcome the
  adapter lists the account's recent posts (``listRecords``) and matches the exact text.
- Errors: ``{"error", "message"}``; 400 ``InvalidRequest`` and 401 permanent; 400
  ``ExpiredToken`` → refresh and retry once (an ``InvalidToken`` session too: renewed once,
  by logging in again if the refresh fails, then permanent); 429 (``RateLimit-Reset``,
  epoch s) and 5xx
  transient.
- Limit: 300 graphemes and 3000 UTF-8 bytes (channels.text).
"""

from __future__ import annotations

import mimetypes
import threading
from datetime import UTC
from typing import Any

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    raise_for,
    said,
    translate_errors,
)
from channels.text import http_urls

MAX_IMAGES = 4
CARD_TITLE_LENGTH = 100


def link_facets(text: str) -> list[dict[str, Any]]:
    """A link facet for every http(s) URL in ``text``, at UTF-8 byte offsets."""
    facets = []
    for start, end in http_urls(text):
        byte_start = len(text[:start].encode("utf-8"))
        byte_end = byte_start + len(text[start:end].encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": byte_start, "byteEnd": byte_end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": text[start:end]}],
            }
        )
    return facets


class BlueskyChannel(Adapter):
    """Post to one Bluesky account through its PDS."""

    type = "bluesky"
    deduplicates = False

    def __post_init__(self) -> None:
        self._session: dict[str, str] | None = None
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return self.options.get("url", "https://bsky.social").rstrip("/")

    def _xrpc(
        self,
        method: str,
        name: str,
        *,
        token: str | None = None,
        retry_expired: bool = True,
        **kwargs: Any,
    ) -> Any:
        headers = kwargs.pop("headers", {})
        if token is None:
            token = self._access()
        headers["Authorization"] = f"Bearer {token}"
        with translate_errors(self.name):
            response = self.client.request(
                method, f"{self.base}/xrpc/{name}", headers=headers, **kwargs
            )
        rejected = _error(response) in ("ExpiredToken", "InvalidToken")
        if rejected and response.status_code in (400, 401) and retry_expired:
            # Renew the session once (refresh, else log in again), then give up.
            self._refresh()
            return self._xrpc(method, name, retry_expired=False, headers=headers, **kwargs)
        if rejected:
            raise PermanentError(f"credentials rejected by {self.name} ({_error(response)})")
        raise_for(response, self.name, self.now(), said(response, "message", "error"))
        return response.json()

    def _login(self) -> dict[str, str]:
        with translate_errors(self.name):
            response = self.client.post(
                f"{self.base}/xrpc/com.atproto.server.createSession",
                json={"identifier": self.options["handle"], "password": self.secret()},
            )
        if response.status_code == 401:
            raise PermanentError(f"credentials rejected by {self.name} (handle or app password)")
        raise_for(response, self.name, self.now(), said(response, "message", "error"))
        return response.json()

    def _access(self) -> str:
        with self._lock:
            if self._session is None:
                self._session = self._login()
            return self._session["accessJwt"]

    def _refresh(self) -> None:
        with self._lock:
            refresh = (self._session or {}).get("refreshJwt")
            self._session = None
            if refresh:
                with translate_errors(self.name):
                    response = self.client.post(
                        f"{self.base}/xrpc/com.atproto.server.refreshSession",
                        headers={"Authorization": f"Bearer {refresh}"},
                    )
                if response.status_code == 200:
                    self._session = response.json()
            if self._session is None:
                self._session = self._login()

    def _did(self) -> str:
        self._access()
        return self._session["did"]

    def record(self, message: Message) -> dict[str, Any]:
        """The ``app.bsky.feed.post`` record as it is sent (blobs already uploaded)."""
        text = message.text
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": self.now()
            .astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        if message.media:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {"image": self._upload(m.path), "alt": m.alt}
                    for m in message.media[:MAX_IMAGES]
                ],
            }
        elif message.link:
            title = message.title or " ".join(message.text.split())[:CARD_TITLE_LENGTH]
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": message.link, "title": title, "description": ""},
            }
        return record

    def _upload(self, path: str) -> dict[str, Any]:
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as data:
            blob = self._xrpc(
                "POST",
                "com.atproto.repo.uploadBlob",
                content=data.read(),
                headers={"Content-Type": kind},
            )
        return blob["blob"]

    def publish(self, message: Message) -> Receipt:
        created = self._xrpc(
            "POST",
            "com.atproto.repo.createRecord",
            json={
                "repo": self._did(),
                "collection": "app.bsky.feed.post",
                "record": self.record(message),
            },
        )
        return self._receipt(created["uri"])

    def _receipt(self, uri: str) -> Receipt:
        rkey = uri.rsplit("/", 1)[-1]
        handle = (self._session or {}).get("handle") or self.options["handle"]
        return Receipt(remote_id=uri, remote_url=f"https://bsky.app/profile/{handle}/post/{rkey}")

    def lookup(self, message: Message) -> Receipt | None:
        listed = self._xrpc(
            "GET",
            "com.atproto.repo.listRecords",
            params={"repo": self._did(), "collection": "app.bsky.feed.post", "limit": 50},
        )
        wanted = message.text
        for item in listed.get("records", []):
            if item.get("value", {}).get("text") == wanted:
                return self._receipt(item["uri"])
        return None

    def check(self) -> str:
        self._session = self._login()
        return f"signed in as {self._session.get('handle')} ({self._session.get('did')})"


def _error(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
