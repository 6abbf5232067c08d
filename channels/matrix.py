"""Matrix (client-server API v3), channels.md §3.

- Publish: ``PUT {url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}`` with
  ``Authorization: Bearer`` and ``{"msgtype": "m.text", "body"}`` (spec: room_send). The
  txnId is the delivery's key: the same txnId from the same device returns the original
  ``event_id`` instead of a second message (spec: Transaction identifiers), so an unknown
  outcome is simply sent again.
- Images: ``POST /_matrix/media/v3/upload`` → ``content_uri``, then an ``m.image`` event
  whose ``body`` carries the alt text (Matrix has no alt field; channels.md, unverified
  convention), each with its own txnId derived from the key. Every image is re-hashed
  before the first upload, so a changed one stops the whole post, not half of it.
- Receipt: ``event_id``; ``https://matrix.to/#/{room}/{event_id}?via={server}`` (spec
  appendices, matrix.to), the server being the room's or, for newer room ids, our own.
- Room: a room id (``!...``), or an alias (``#...``) resolved through
  ``/directory/room/{alias}``.
- Errors: ``{"errcode", "error"}``; 429 ``M_LIMIT_EXCEEDED`` with ``Retry-After`` or
  ``retry_after_ms`` and 5xx transient; ``M_RESOURCE_LIMIT_EXCEEDED`` transient; 401
  ``M_UNKNOWN_TOKEN``/``M_MISSING_TOKEN``, 403 ``M_FORBIDDEN``, 400 ``M_BAD_JSON``
  permanent (spec: Standard error response, Rate limiting).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    raise_for,
)


class MatrixChannel(Adapter):
    """Send messages to one Matrix room."""

    type = "matrix"
    deduplicates = True

    def __post_init__(self) -> None:
        self._room_id: str | None = None
        self._via: str | None = None

    @property
    def base(self) -> str:
        return self.options["url"].rstrip("/")

    def classify(self, response: Any, body: Any) -> None:
        """``errcode`` bodies (spec: Standard error response)."""
        if response.status_code < 400:
            return
        body = body if isinstance(body, dict) else {}
        code, text = str(body.get("errcode") or ""), str(body.get("error") or "")
        why = f"{code}: {text}" if text else code or str(response.status_code)
        if response.status_code == 401:
            raise PermanentError(f"credentials rejected by {self.name} ({why})")
        if response.status_code == 403:
            raise PermanentError(f"{self.name}: not allowed ({why})")
        if code == "M_RESOURCE_LIMIT_EXCEEDED":
            raise TransientError(f"{self.name}: {code} {text}".rstrip())
        retry_ms = body.get("retry_after_ms")
        raise_for(
            response,
            self.name,
            self.now(),
            f"{code} {text}".strip(),
            retry_after=retry_ms / 1000 if isinstance(retry_ms, int | float) else None,
        )

    def _call(self, method: str, path: str, *fields: str, sends: bool, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.secret()}", **kwargs.pop("headers", {})}
        return self.call(
            method, f"{self.base}{path}", sends=sends, fields=fields, headers=headers, **kwargs
        )

    def room(self) -> str:
        """The room id, resolving an alias once."""
        if self._room_id is None:
            room = self.options["room"]
            if room.startswith("#"):
                path = f"/_matrix/client/v3/directory/room/{quote(room)}"
                room = str(self._call("GET", path, "room_id", sends=False)["room_id"])
            self._room_id = room
        return self._room_id

    def _send(self, content: dict[str, Any], txn_id: str) -> str:
        path = f"/_matrix/client/v3/rooms/{quote(self.room())}/send/m.room.message/{quote(txn_id)}"
        return str(self._call("PUT", path, "event_id", sends=True, json=content)["event_id"])

    def via(self) -> str:
        """A server for matrix.to links: the room's own (older room ids carry it), else ours.

        Room ids of newer room versions carry no server name, so the user's own homeserver,
        which is in the room, is named instead.
        """
        if self._via is None:
            server = self.room().partition(":")[2]
            if not server:
                who = self._call("GET", "/_matrix/client/v3/account/whoami", "user_id", sends=False)
                server = str(who["user_id"]).partition(":")[2]
            self._via = server
        return self._via

    def _publish(self, message: Message) -> Receipt:
        via = self.via()  # before sending: nothing may fail once the message is out
        files = self.media_files(message)
        for i, media in enumerate(files, start=1):
            uploaded = self._call(
                "POST",
                "/_matrix/media/v3/upload",
                "content_uri",
                sends=False,  # an upload alone is never shown in the room
                params={"filename": media.name},
                content=media.data,
                headers={"Content-Type": media.mime},
            )
            self._send(
                {
                    "msgtype": "m.image",
                    "url": uploaded["content_uri"],
                    "filename": media.name,
                    "body": media.alt or media.name,
                    "info": {"mimetype": media.mime, "size": len(media.data)},
                },
                f"{message.idempotency_key}-image{i}",
            )
        event_id = self._send({"msgtype": "m.text", "body": message.text}, message.idempotency_key)
        return Receipt(
            remote_id=event_id,
            remote_url=f"https://matrix.to/#/{quote(self.room())}/{quote(event_id)}?via={via}",
        )

    def _check(self) -> str:
        who = self._call("GET", "/_matrix/client/v3/account/whoami", "user_id", sends=False)
        joined = self._call("GET", "/_matrix/client/v3/joined_rooms", sends=False)
        rooms = joined.get("joined_rooms", []) if isinstance(joined, dict) else []
        room = self.room()
        if room not in rooms:
            raise PermanentError(f"{self.name}: {who['user_id']} has not joined {room}")
        return f"signed in as {who['user_id']}, member of {room}"
