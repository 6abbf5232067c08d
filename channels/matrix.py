"""Matrix (client-server API v3), channels.md §3.

- Publish: ``PUT {url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}`` with
  ``Authorization: Bearer`` and ``{"msgtype": "m.text", "body"}`` (spec: room_send). The
  txnId is the delivery's key: the same txnId from the same device returns the original
  ``event_id`` instead of a second message (spec: Transaction identifiers), so an unknown
  outcome is simply sent again.
- Images: ``POST /_matrix/media/v3/upload`` → ``content_uri``, then an ``m.image`` event
  whose ``body`` carries the alt text (Matrix has no alt field; channels.md, unverified
  convention), each with its own txnId derived from the key.
- Receipt: ``event_id``; ``https://matrix.to/#/{room}/{event_id}?via={server}`` (spec
  appendices, matrix.to), the server being the room's or, for newer room ids, our own.
- Room: a room id (``!...``), or an alias (``#...``) resolved through
  ``/directory/room/{alias}``.
- Errors: ``{"errcode", "error"}``; 429 ``M_LIMIT_EXCEEDED`` with ``Retry-After`` or
  ``retry_after_ms`` and 5xx transient; 401 ``M_UNKNOWN_TOKEN``/``M_MISSING_TOKEN``,
  403 ``M_FORBIDDEN``, 400 ``M_BAD_JSON`` permanent (spec: Standard error response).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    raise_for,
    translate_errors,
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

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.secret()}", **kwargs.pop("headers", {})}
        with translate_errors(self.name):
            response = self.client.request(method, f"{self.base}{path}", headers=headers, **kwargs)
        if response.status_code >= 400:
            body = _json(response)
            code, text = body.get("errcode", ""), body.get("error", "")
            retry_ms = body.get("retry_after_ms")
            why = f"{code}: {text}" if text else code or str(response.status_code)
            if response.status_code == 401:
                raise PermanentError(f"credentials rejected by {self.name} ({why})")
            if response.status_code == 403:
                raise PermanentError(f"{self.name}: not allowed ({why})")
            if code == "M_RESOURCE_LIMIT_EXCEEDED":
                raise TransientError(f"{self.name}: {code} {text}".rstrip())
            raise_for(
                response,
                self.name,
                self.now(),
                f"{code} {text}".strip(),
                retry_after=retry_ms / 1000 if isinstance(retry_ms, int | float) else None,
            )
        return response.json()

    def room(self) -> str:
        """The room id, resolving an alias once."""
        if self._room_id is None:
            room = self.options["room"]
            if room.startswith("#"):
                room = self._call("GET", f"/_matrix/client/v3/directory/room/{quote(room)}")[
                    "room_id"
                ]
            self._room_id = room
        return self._room_id

    def _send(self, content: dict[str, Any], txn_id: str) -> str:
        path = f"/_matrix/client/v3/rooms/{quote(self.room())}/send/m.room.message/{quote(txn_id)}"
        return self._call("PUT", path, json=content)["event_id"]

    def via(self) -> str:
        """A server for matrix.to links: the room's own (older room ids carry it), else ours.

        Room ids of newer room versions carry no server name, so the user's own homeserver,
        which is in the room, is named instead.
        """
        if self._via is None:
            self._via = (
                self.room().partition(":")[2]
                or self._call("GET", "/_matrix/client/v3/account/whoami")["user_id"].partition(":")[
                    2
                ]
            )
        return self._via

    def publish(self, message: Message) -> Receipt:
        via = self.via()  # before sending: nothing may fail once the message is out
        for i, media in enumerate(message.media, start=1):
            uri = self._upload(media.path)
            kind = mimetypes.guess_type(media.path)[0] or "application/octet-stream"
            self._send(
                {
                    "msgtype": "m.image",
                    "url": uri,
                    "filename": Path(media.path).name,
                    "body": media.alt or Path(media.path).name,
                    "info": {"mimetype": kind, "size": Path(media.path).stat().st_size},
                },
                f"{message.idempotency_key}-image{i}",
            )
        event_id = self._send(
            {"msgtype": "m.text", "body": message.text},
            message.idempotency_key,
        )
        return Receipt(
            remote_id=event_id,
            remote_url=f"https://matrix.to/#/{quote(self.room())}/{quote(event_id)}?via={via}",
        )

    def _upload(self, path: str) -> str:
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as data:
            uploaded = self._call(
                "POST",
                "/_matrix/media/v3/upload",
                params={"filename": Path(path).name},
                content=data.read(),
                headers={"Content-Type": kind},
            )
        return uploaded["content_uri"]

    def check(self) -> str:
        who = self._call("GET", "/_matrix/client/v3/account/whoami")
        joined = self._call("GET", "/_matrix/client/v3/joined_rooms").get("joined_rooms", [])
        room = self.room()
        if room not in joined:
            raise PermanentError(f"{self.name}: {who['user_id']} has not joined {room}")
        return f"signed in as {who['user_id']}, member of {room}"


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
