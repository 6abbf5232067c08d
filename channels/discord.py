"""Discord webhook, channels.md §5.

- Publish: ``POST {webhook url}?wait=true`` (without ``wait`` Discord answers 204 and an
  unsaved message gives no error), JSON ``{"content", "allowed_mentions": {"parse": []}}``
  so a post can never ping @everyone; with an image, multipart ``files[0]`` plus
  ``payload_json`` whose ``attachments`` carry ``description`` = alt text
  (discord.com/developers/docs/resources/webhook#execute-webhook; reference#uploading-files).
- Receipt: the Message ``id``; ``https://discord.com/channels/{guild_id}/{channel_id}/{id}``
  with ``guild_id`` from ``GET`` on the webhook.
- The webhook URL holds its token: it comes from ``token_env``/``token_file`` (or ``url``),
  and never appears in a message.
- No idempotency for webhooks and no way to look a message up: an unknown outcome becomes
  ``uncertain``.
- Errors: 429 with ``retry_after`` (seconds, float) and ``Retry-After`` transient; 400
  (codes 50035 invalid form body, 50006 empty) and 404 (10015 unknown webhook) permanent;
  401/403 permanent; 5xx transient (topics/rate-limits; opcodes-and-status-codes).
- Limit: 2000 characters (channels.text counts UTF-16 units, the stricter reading).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    Message,
    PermanentError,
    Receipt,
    raise_for,
    said,
    translate_errors,
)


class DiscordChannel(Adapter):
    """Post through one Discord channel webhook."""

    type = "discord"
    deduplicates = False

    def __post_init__(self) -> None:
        self._guild: str | None = None

    def _url(self) -> str:
        return (
            self.secret()
            if self.options.get("token_env") or self.options.get("token_file")
            else self.options["url"]
        )

    def _check(self, response: Any) -> Any:
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code == 404:
            raise PermanentError(f"{self.name}: unknown webhook ({body.get('message', '404')})")
        detail = said(response, "message")
        if isinstance(body, dict) and body.get("code"):
            detail = f"{detail} (code {body['code']})"
        raise_for(
            response,
            self.name,
            self.now(),
            detail,
            retry_after=body.get("retry_after") if isinstance(body, dict) else None,
        )
        return body

    def publish(self, message: Message) -> Receipt:
        payload: dict[str, Any] = {
            "content": message.text,
            "allowed_mentions": {"parse": []},
        }
        with translate_errors(self.name):
            if message.media:
                media = message.media[0]
                payload["attachments"] = [
                    {"id": 0, "filename": Path(media.path).name, "description": media.alt}
                ]
                kind = mimetypes.guess_type(media.path)[0] or "application/octet-stream"
                with open(media.path, "rb") as data:
                    response = self.client.post(
                        self._url(),
                        params={"wait": "true"},
                        data={"payload_json": json.dumps(payload)},
                        files={"files[0]": (Path(media.path).name, data, kind)},
                    )
            else:
                response = self.client.post(self._url(), params={"wait": "true"}, json=payload)
        sent = self._check(response)
        try:  # the message is out: nothing after this line may raise
            guild = self._guild_id()
        except ChannelError:
            guild = None
        url = (
            f"https://discord.com/channels/{guild}/{sent['channel_id']}/{sent['id']}"
            if guild
            else None
        )
        return Receipt(remote_id=str(sent["id"]), remote_url=url)

    def _guild_id(self) -> str | None:
        if self._guild is None:
            with translate_errors(self.name):
                response = self.client.get(self._url())
            self._guild = self._check(response).get("guild_id")
        return self._guild

    def check(self) -> str:
        with translate_errors(self.name):
            response = self.client.get(self._url())
        hook = self._check(response)
        return f"webhook '{hook.get('name')}' posts to channel {hook.get('channel_id')}"
