"""Telegram Bot API, channels.md §4.

- Publish: ``POST {url}/bot<token>/sendMessage`` with ``chat_id`` and ``text``; with an
  image ``sendPhoto`` (multipart ``photo`` + ``caption``, the caption then limited to 1024)
  (core.telegram.org/bots/api#sendmessage, #sendphoto). Telegram has no alt text; the
  caption carries the post. Only the first image is sent.
- ``chat``: ``@channelusername`` or a numeric id (``-100...`` for channels); the bot must be
  an admin allowed to post (unverified).
- Receipt: ``result.message_id``; ``https://t.me/<username>/<id>``, or for a private chat
  ``https://t.me/c/<id without -100>/<id>`` (postiz telegram.provider.ts).
- No idempotency and no way to read a chat's history (unverified negative): an unknown
  outcome becomes ``uncertain``.
- Errors ``{"ok": false, "error_code", "description", "parameters"}``: 429 with
  ``parameters.retry_after`` and 5xx transient; ``migrate_to_chat_id`` → the new id is used
  from then on (kept in memory: update ``chat`` in config) and the send is retried; 400
  permanent; 401/404 bad token; 403 bot removed (python-telegram-bot _baserequest.py).
- A 2xx without ``ok: true`` and ``result.message_id`` is an unknown outcome for a send
  (it may be out), a transient error for ``getMe``.
- The token is part of the URL path, so no URL ever appears in an error message.
"""

from __future__ import annotations

from typing import Any

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    raise_for,
)


class TelegramChannel(Adapter):
    """Post to one Telegram chat or channel through a bot."""

    type = "telegram"
    deduplicates = False

    def __post_init__(self) -> None:
        self._chat: str | int | None = None

    @property
    def chat(self) -> str | int:
        return self._chat if self._chat is not None else self.options["chat"]

    def classify(self, response: Any, body: Any) -> None:
        """``{"ok": false, "error_code", "description", "parameters"}`` (Bot API "Making
        requests"); a 200 without ``ok: true`` is left to :meth:`expect`."""
        body = body if isinstance(body, dict) else {}
        if response.status_code < 300 or body.get("ok") is True:
            return
        description = str(body.get("description") or response.reason_phrase)
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        if parameters.get("migrate_to_chat_id") is not None:
            self._chat = parameters["migrate_to_chat_id"]
            raise TransientError(
                f"{self.name}: the group moved to chat {self._chat}; set chat = {self._chat}"
                " in config",
                retry_after=0.0,
            )
        status = response.status_code
        if status in (401, 404):
            raise PermanentError(f"credentials rejected by {self.name} (bot token: {description})")
        if status == 403:
            raise PermanentError(f"{self.name}: the bot may not post here ({description})")
        retry_after = parameters.get("retry_after")
        raise_for(
            response,
            self.name,
            self.now(),
            description,
            retry_after=retry_after if isinstance(retry_after, int | float) else None,
        )
        raise PermanentError(f"{self.name}: {description}")

    def _call(self, method: str, *fields: str, sends: bool, **kwargs: Any) -> dict[str, Any]:
        """A Bot API method's ``result`` (the token is in the path: never in a message)."""
        base = self.options.get("url", "https://api.telegram.org").rstrip("/")
        body = self.call(
            "POST",
            f"{base}/bot{self.secret()}/{method}",
            sends=sends,
            fields=("result", *(f"result.{f}" for f in fields)),
            **kwargs,
        )
        if body.get("ok") is not True:
            raise self.unreadable("answered without ok: true", sends)
        return body["result"]

    def _publish(self, message: Message) -> Receipt:
        text = message.text
        if message.media:
            photo = self.media_file(message.media[0])
            result = self._call(
                "sendPhoto",
                "message_id",
                sends=True,
                data={"chat_id": str(self.chat), "caption": text},
                files={"photo": (photo.name, photo.data, photo.mime)},
            )
        else:
            result = self._call(
                "sendMessage", "message_id", sends=True, json={"chat_id": self.chat, "text": text}
            )
        return self._receipt(result)

    def _receipt(self, result: dict[str, Any]) -> Receipt:
        message_id = result["message_id"]
        chat = result.get("chat") if isinstance(result.get("chat"), dict) else {}
        if chat.get("username"):
            url = f"https://t.me/{chat['username']}/{message_id}"
        else:
            url = f"https://t.me/c/{str(chat.get('id', '')).removeprefix('-100')}/{message_id}"
        return Receipt(remote_id=f"{chat.get('id', self.chat)}/{message_id}", remote_url=url)

    def _check(self) -> str:
        me = self._call("getMe", sends=False)
        return f"bot @{me.get('username')} is valid; posting to {self.chat}"
