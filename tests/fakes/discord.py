"""A contract fake of a Discord webhook (channels.md section 5).

Configure the adapter with ``webhook URL = fake.webhook_url``
(``{fake.url}/api/webhooks/{id}/{token}``; an ``/api/v10/...`` prefix works too).

- ``GET`` → the webhook object (``id``, ``type`` 1, ``guild_id``, ``channel_id``, ``name``,
  ``token``);
- ``POST ?wait=true`` JSON ``{"content", "username"?, "avatar_url"?, "embeds"?,
  "allowed_mentions"?}`` or multipart ``files[n]`` + ``payload_json`` → ``200`` Message;
  without ``wait=true`` → ``204`` and no body (the message is still made).

Errors: ``{"code", "message", "errors"?}``; ``429 {"message", "retry_after", "global"}`` with
``Retry-After`` and ``X-RateLimit-*``. No idempotency: every POST makes a message.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, UploadedFile, json_reply, utf16_length

DISCORD_EPOCH_MS = 1420070400000
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_DESCRIPTION = 1024  # attachment alt text
MAX_FILE_BYTES = 10 * 1024 * 1024  # the default upload limit
BUCKET = "a06de0de0f2f3a1c5dd4ee5e0a9e9e51"


def error(status: int, code: int, message: str, **extra: Any) -> Reply:
    return json_reply(status, {"code": code, "message": message, **extra})


def invalid_form_body(errors: dict[str, Any]) -> Reply:
    """``400`` code ``50035`` with Discord's nested ``errors`` object."""
    return error(400, 50035, "Invalid Form Body", errors=errors)


def _field_error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _timestamp(moment: datetime) -> str:
    """Discord's ISO 8601 ``timestamp``: ``2026-01-31T12:00:00.000000+00:00``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class FakeDiscord(FakeServer):
    """One webhook of one channel in one guild.

    :param webhook_id: the id in the webhook URL (a snowflake string).
    :param token: the token in the webhook URL.
    :param guild_id: the guild the channel is in (needed for message URLs).
    :param channel_id: the channel the webhook posts to.
    :param name: the webhook's default username.
    :param clock: source of snowflakes, ``timestamp`` and rate-limit resets.
    """

    def __init__(
        self,
        webhook_id: str = "1234567890123456789",
        token: str = "webhook-token",
        *,
        guild_id: str = "1111111111111111111",
        channel_id: str = "2222222222222222222",
        name: str = "Signpost",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.webhook_id = webhook_id
        self.token = token
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.name = name
        self.messages: list[dict[str, Any]] = []  # every Message made, oldest first
        self.files: dict[str, UploadedFile] = {}  # attachment id → uploaded file
        self.token_rejected = False
        self.deleted = False
        self._last_snowflake = 0
        self.route(
            "GET POST",
            r"/api(?:/v\d+)?/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)",
            self._webhook,
        )

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.token}"

    def message_url(self, message: dict[str, Any]) -> str:
        """``https://discord.com/channels/{guild_id}/{channel_id}/{id}`` for a message."""
        return (
            f"https://discord.com/channels/{self.guild_id}/{message['channel_id']}/{message['id']}"
        )

    # --- scripting helpers -----------------------------------------------------------

    def rate_limit(self, seconds: float, *, times: int = 1, is_global: bool = False) -> None:
        """The next ``times`` requests get 429: ``retry_after`` (float s) in the body,
        ``Retry-After`` (whole s) and ``X-RateLimit-*`` headers."""

        def answer(request: Request) -> Reply:
            reset = self.clock.now().timestamp() + seconds
            headers = {
                "Retry-After": str(math.ceil(seconds)),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset:.3f}",
                "X-RateLimit-Reset-After": f"{seconds:.3f}",
                "X-RateLimit-Bucket": BUCKET,
                "X-RateLimit-Scope": "global" if is_global else "user",
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {
                "message": "You are being rate limited.",
                "retry_after": float(seconds),
                "global": is_global,
            }
            return json_reply(429, body, headers)

        self.script_next(answer, times=times)

    def reject_token(self) -> None:
        """From now on the configured webhook token is invalid: 401 ``Invalid Webhook Token``
        (Discord's code 50027; channels.md only says 401 is permanent)."""
        self.token_rejected = True

    def restore_token(self) -> None:
        self.token_rejected = False

    def delete_webhook(self) -> None:
        """The webhook was deleted: every call gets 404 ``Unknown Webhook`` (10015)."""
        self.deleted = True

    # --- dispatch --------------------------------------------------------------------

    def _snowflake(self) -> str:
        """A snowflake: milliseconds since the Discord epoch << 22, strictly increasing."""
        millis = int(self.clock.now().timestamp() * 1000) - DISCORD_EPOCH_MS
        self._last_snowflake = max(millis << 22, self._last_snowflake + 1)
        return str(self._last_snowflake)

    def _rate_headers(self) -> dict[str, str]:
        reset = self.clock.now() + timedelta(seconds=2)
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset": f"{reset.timestamp():.3f}",
            "X-RateLimit-Reset-After": "2.000",
            "X-RateLimit-Bucket": BUCKET,
        }

    def _webhook(self, request: Request, match: re.Match[str]) -> Reply:
        if self.deleted or match["id"] != self.webhook_id or match["token"] != self.token:
            return error(404, 10015, "Unknown Webhook")
        if self.token_rejected:
            return error(401, 50027, "Invalid Webhook Token")
        if request.method == "GET":
            return json_reply(
                200,
                {
                    "application_id": None,
                    "avatar": None,
                    "channel_id": self.channel_id,
                    "guild_id": self.guild_id,
                    "id": self.webhook_id,
                    "name": self.name,
                    "type": 1,
                    "token": self.token,
                },
            )
        return self._execute(request)

    def _payload(self, request: Request) -> dict[str, Any] | Reply:
        if request.content_type == "multipart/form-data":
            raw = request.form.get("payload_json")
            if raw is None:
                return dict(request.form)  # plain form fields, no payload_json
            try:
                payload = json.loads(raw)
            except ValueError:
                return invalid_form_body(
                    {"payload_json": _field_error("PAYLOAD_JSON_INVALID", "Invalid JSON")}
                )
        elif request.content_type == "application/json":
            if request.malformed:
                # Discord's code for unparsable JSON (not in channels.md).
                return error(400, 50109, "The request body contains invalid JSON.")
            payload = request.json
        else:
            return error(400, 50035, "Invalid Form Body")
        if not isinstance(payload, dict):
            return error(400, 50035, "Invalid Form Body")
        return payload

    def _execute(self, request: Request) -> Reply:
        payload = self._payload(request)
        if isinstance(payload, Reply):
            return payload
        content = payload.get("content") or ""
        embeds = payload.get("embeds") or []
        uploads = {
            int(name[len("files[") : -1]): upload
            for name, upload in request.files.items()
            if re.fullmatch(r"files\[\d+\]", name)
        }
        errors: dict[str, Any] = {}
        # "≤ 2000 characters"; counted in UTF-16 units as twilight-http does (unverified).
        if not isinstance(content, str) or utf16_length(content) > MAX_CONTENT:
            errors["content"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
        if len(embeds) > MAX_EMBEDS:
            errors["embeds"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
            )
        described = {int(a.get("id", -1)): a for a in payload.get("attachments") or []}
        for index, attachment in described.items():
            description = attachment.get("description") or ""
            if len(description) > MAX_DESCRIPTION:
                errors.setdefault("attachments", {})[str(index)] = {
                    "description": _field_error(
                        "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_DESCRIPTION} or fewer in length."
                    )
                }
        if any(len(upload.data) > MAX_FILE_BYTES for upload in uploads.values()):
            return error(413, 40005, "Request entity too large")  # code unverified
        if errors:
            return invalid_form_body(errors)
        if not content and not embeds and not uploads:
            return error(400, 50006, "Cannot send an empty message")
        attachments = []
        for index in sorted(uploads):
            upload = uploads[index]
            attachment_id = self._snowflake()
            filename = described.get(index, {}).get("filename") or upload.filename or "file"
            url = (
                f"https://cdn.discordapp.com/attachments/{self.channel_id}/"
                f"{attachment_id}/{filename}"
            )
            attachment: dict[str, Any] = {
                "id": attachment_id,
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                "content_type": upload.content_type,
            }
            if description := described.get(index, {}).get("description"):
                attachment["description"] = description
            attachments.append(attachment)
            self.files[attachment_id] = upload
        message_id = self._snowflake()
        message = {
            "id": message_id,
            "type": 0,
            "content": content,
            "channel_id": self.channel_id,
            "author": {
                "bot": True,
                "id": self.webhook_id,
                "username": payload.get("username") or self.name,
                "avatar": None,
                "discriminator": "0000",
            },
            "attachments": attachments,
            "embeds": embeds,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": _timestamp(self.clock.now()),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "webhook_id": self.webhook_id,
        }
        self.messages.append(message)
        if request.query.get("wait", "").lower() not in ("true", "1"):
            return Reply(204, b"", self._rate_headers())
        return json_reply(200, message, self._rate_headers())

    def not_found(self, request: Request) -> Reply:
        return error(404, 0, "404: Not Found")
