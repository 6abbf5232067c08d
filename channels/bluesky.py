"""Bluesky (AT Protocol), channels.md §2.

- Session: ``com.atproto.server.createSession`` with the handle and an app password
  (``token_env``/``token_file``) → ``accessJwt``, ``refreshJwt``, ``did``. Logins are limited
  (30/5 min, 300/day), so the session is kept and renewed with ``refreshSession`` when the
  server answers ``ExpiredToken`` (docs.bsky.app rate-limits; lexicon).
- Publish: ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` with ``text``,
  ``createdAt`` (RFC 3339, "Z"), link ``facets`` whose ``byteStart``/``byteEnd`` are UTF-8
  byte offsets, end exclusive (lexicon app.bsky.richtext.facet), and one ``embed``: images
  (``uploadBlob`` first, ``alt`` per image, at most 4) or else an external card for the link
  (lexicons app.bsky.embed.images / app.bsky.embed.external). Images are re-hashed and all
  read before the first upload; an upload is not public (unreferenced blobs are deleted).
- Marker: the record also carries ``org.signpost.key`` = the delivery's idempotency key.
  Lexicon records are open (fields a schema does not name are kept; the PDS on loopback
  stores it, tests/test_channel_faults.py), and channels.md §2 says to reconcile by "marker
  or text + createdAt".
- Receipt: the record's ``at://did/app.bsky.feed.post/rkey`` and
  ``https://bsky.app/profile/<handle>/post/<rkey>``.
- No idempotency (a client rkey is not to be relied on), so after an unknown outcome the
  adapter lists the account's recent posts (``listRecords``, limit 50): a record carrying
  our key is ours; a record without a marker counts only with the exact text and a
  ``createdAt`` at or after ``message.not_before`` (we choose ``createdAt``, so it is our own
  clock on both sides); a record with another key is another delivery's. Without
  ``not_before`` any unmarked recent copy of the text matches (documented weakness).
- Errors: ``{"error", "message"}``; 400 ``InvalidRequest`` and 401 permanent; 400
  ``ExpiredToken`` → refresh and retry once (an ``InvalidToken`` session too: renewed once,
  by logging in again if the refresh fails, then permanent); 429 (``RateLimit-Reset``,
  epoch s) and 5xx transient.
- Limit: 300 graphemes and 3000 UTF-8 bytes (channels.text).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from channels.base import Adapter, MediaFile, Message, PermanentError, Receipt
from channels.lookups import find_since
from channels.text import http_urls

MAX_IMAGES = 4
CARD_TITLE_LENGTH = 100
MARKER = "org.signpost.key"
LIST_RECORDS = "com.atproto.repo.listRecords"
RECORDS_PAGE = 100  # the most listRecords returns at once (channels.md §1: 1-100)


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


class _SessionRejected(PermanentError):
    """The PDS refused our access token (ExpiredToken / InvalidToken): renew once."""


def _session_check(response: Any, body: Any) -> None:
    error = body.get("error") if isinstance(body, dict) else None
    if error in ("ExpiredToken", "InvalidToken") and response.status_code in (400, 401):
        raise _SessionRejected(f"credentials rejected by bluesky ({error})")


class BlueskyChannel(Adapter):
    """Post to one Bluesky account through its PDS."""

    type = "bluesky"
    deduplicates = False
    said_keys = ("message", "error")

    def __post_init__(self) -> None:
        self._session: dict[str, str] | None = None
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return self.options.get("url", "https://bsky.social").rstrip("/")

    def _xrpc(
        self, method: str, name: str, *, sends: bool, fields: tuple[str, ...] = (), **kwargs: Any
    ) -> Any:
        """One XRPC call with the session, renewed once if the PDS refuses its token."""
        headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {self._access()}"
            try:
                response = self.request(
                    method,
                    f"{self.base}/xrpc/{name}",
                    sends=sends,
                    classify=_session_check,
                    headers=headers,
                    **kwargs,
                )
            except _SessionRejected as exc:
                if attempt == 2:
                    raise PermanentError(f"credentials rejected by {self.name} ({exc})") from None
                self._refresh()  # refused, so nothing was posted: safe to try again
                continue
            return self.expect(response, *fields, sends=sends)
        raise AssertionError("unreachable")

    def _login(self) -> dict[str, str]:
        def wrong_password(response: Any, body: Any) -> None:
            if response.status_code == 401:
                raise PermanentError(
                    f"credentials rejected by {self.name} (handle or app password)"
                )

        return self.call(
            "POST",
            f"{self.base}/xrpc/com.atproto.server.createSession",
            sends=False,
            fields=("accessJwt", "did"),
            classify=wrong_password,
            json={"identifier": self.options["handle"], "password": self.secret()},
        )

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
                try:
                    renewed = self.call(
                        "POST",
                        f"{self.base}/xrpc/com.atproto.server.refreshSession",
                        sends=False,
                        fields=("accessJwt", "did"),
                        headers={"Authorization": f"Bearer {refresh}"},
                    )
                except PermanentError:
                    renewed = None
                self._session = renewed
            if self._session is None:
                self._session = self._login()

    def _did(self) -> str:
        self._access()
        return self._session["did"]

    def record(self, message: Message, images: list[dict[str, Any]] | None = None) -> dict:
        """The ``app.bsky.feed.post`` record as it is sent (``images``: uploaded blobs)."""
        text = message.text
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _rfc3339(self.now()),
            MARKER: message.idempotency_key,
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        if images:
            record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        elif message.link:
            title = message.title or " ".join(message.text.split())[:CARD_TITLE_LENGTH]
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": message.link, "title": title, "description": ""},
            }
        return record

    def _upload(self, media: MediaFile) -> dict[str, Any]:
        blob = self._xrpc(
            "POST",
            "com.atproto.repo.uploadBlob",
            sends=False,  # an unreferenced blob is never shown, and is deleted later
            fields=("blob",),
            content=media.data,
            headers={"Content-Type": media.mime},
        )
        return {"image": blob["blob"], "alt": media.alt}

    def _publish(self, message: Message) -> Receipt:
        files = self.media_files(message)[:MAX_IMAGES]
        images = [self._upload(f) for f in files]
        created = self._xrpc(
            "POST",
            "com.atproto.repo.createRecord",
            sends=True,
            fields=("uri",),
            json={
                "repo": self._did(),
                "collection": "app.bsky.feed.post",
                "record": self.record(message, images),
            },
        )
        return self._receipt(str(created["uri"]))

    def _receipt(self, uri: str) -> Receipt:
        rkey = uri.rsplit("/", 1)[-1]
        handle = (self._session or {}).get("handle") or self.options["handle"]
        return Receipt(remote_id=uri, remote_url=f"https://bsky.app/profile/{handle}/post/{rkey}")

    def _lookup(self, message: Message) -> Receipt | None:
        def ours(item: dict[str, Any]) -> bool:
            value = item["value"]
            if MARKER in value:  # our key, written into the record by publish
                return value[MARKER] == message.idempotency_key
            when = _created(item)
            return value.get("text") == message.text and (
                message.not_before is None or (when is not None and when >= message.not_before)
            )

        found = find_since(
            self._records(),
            matches=ours,
            created=_created,
            not_before=message.not_before,
            name=self.name,
        )
        return self._receipt(str(found["uri"])) if found is not None else None

    def _records(self) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """The account's posts, a page at a time, newest first (``cursor`` pages back)."""
        params: dict[str, Any] = {
            "repo": self._did(),
            "collection": "app.bsky.feed.post",
            "limit": RECORDS_PAGE,
        }
        while True:
            listed = self._xrpc(
                "GET", LIST_RECORDS, sends=False, fields=("records",), params=params
            )
            records = [item for item in listed["records"] if _is_record(item)]
            cursor = listed.get("cursor")
            yield records, bool(cursor) and len(listed["records"]) >= RECORDS_PAGE
            params = {**params, "cursor": cursor}

    def _check(self) -> str:
        self._session = self._login()
        return f"signed in as {self._session.get('handle')} ({self._session.get('did')})"


def _is_record(item: Any) -> bool:
    return isinstance(item, dict) and bool(item.get("uri")) and isinstance(item.get("value"), dict)


def _created(item: dict[str, Any]) -> datetime | None:
    return _parse_time(item["value"].get("createdAt"))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
