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
- A 2xx without the Message's ``id`` and ``channel_id`` is an unknown outcome (it may be
  out). Only the first image is sent, re-hashed against what was approved.
- Limit: 2000 characters (channels.text counts UTF-16 units, the stricter reading).
"""

from __future__ import annotations

import json
from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    Message,
    PermanentError,
    Receipt,
    raise_for,
    said,
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

    def classify(self, response: Any, body: Any) -> None:
        """404 is the unknown webhook (10015); ``code`` and ``retry_after`` from the body."""
        if response.status_code < 300:
            return
        body = body if isinstance(body, dict) else {}
        if response.status_code == 404:
            raise PermanentError(f"{self.name}: unknown webhook ({body.get('message', '404')})")
        detail = said(response, "message")
        if body.get("code"):
            detail = f"{detail} (code {body['code']})"
        retry_after = body.get("retry_after")
        raise_for(
            response,
            self.name,
            self.now(),
            detail,
            retry_after=retry_after if isinstance(retry_after, int | float) else None,
        )

    def _publish(self, message: Message) -> Receipt:
        payload: dict[str, Any] = {
            "content": message.text,
            "allowed_mentions": {"parse": []},
        }
        if message.media:
            image = self.media_file(message.media[0])
            payload["attachments"] = [{"id": 0, "filename": image.name, "description": image.alt}]
            upload: dict[str, Any] = {
                "data": {"payload_json": json.dumps(payload)},
                "files": {"files[0]": (image.name, image.data, image.mime)},
            }
        else:
            upload = {"json": payload}
        sent = self.call(
            "POST",
            self._url(),
            sends=True,
            fields=("id", "channel_id"),
            params={"wait": "true"},
            **upload,
        )
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
            hook = self.call("GET", self._url(), sends=False, fields=("guild_id",))
            self._guild = str(hook["guild_id"])
        return self._guild

    def _check(self) -> str:
        hook = self.call("GET", self._url(), sends=False)
        if not isinstance(hook, dict):
            raise PermanentError(f"{self.name}: the webhook URL does not answer as Discord does")
        return f"webhook '{hook.get('name')}' posts to channel {hook.get('channel_id')}"
