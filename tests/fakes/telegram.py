"""A contract fake of the Telegram Bot API (channels.md section 4).

Configure the adapter with ``API base URL = fake.url`` (instead of
``https://api.telegram.org``), ``bot token = fake.token`` and ``chat = "@stopitnow"`` (or
``STOPITNOW.id``). Methods: ``/bot<token>/getMe``, ``/bot<token>/sendMessage`` (JSON, form
or query: ``chat_id``, ``text``, ``parse_mode``?, ``link_preview_options``?) and
``/bot<token>/sendPhoto`` (multipart ``photo`` file, or a URL / ``file_id``; ``caption``,
``chat_id``).

Not modelled, as channels.md marks them: reading chat history (there is no such Bot API
method: unverified negative, so reconcile is impossible), an alt-text parameter for photos
(unverified negative), and admin rights in a channel (the bot "must be a channel admin
allowed to post", unverified): a chat is either usable or ``kick()``-ed. No idempotency:
every call makes a new message.

Every answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code",
"description", "parameters"?: {"retry_after", "migrate_to_chat_id"}}``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, UploadedFile, json_reply, utf16_length

MAX_TEXT_LENGTH = 4096  # python-telegram-bot telegram/constants.py
MAX_CAPTION_LENGTH = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # "≤ 10 MB" (#sendphoto)
TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")


@dataclass
class TelegramChat:
    """A chat the bot knows: ``type`` is ``channel``, ``supergroup``, ``group`` or ``private``."""

    id: int
    type: str = "channel"
    username: str | None = None
    title: str | None = None
    kicked: bool = False
    migrated_to: int | None = None

    def as_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.title or "User"
        else:
            chat["title"] = self.title or "Chat"
        if self.username:
            chat["username"] = self.username
        return chat


STOPITNOW = TelegramChat(-1001234567890, "channel", "stopitnow", "Stop It Now")


def error(status: int, description: str, **parameters: Any) -> Reply:
    """Telegram's error shape (Bot API "Making requests")."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_reply(status, body)


def ok(result: Any) -> Reply:
    return json_reply(200, {"ok": True, "result": result})


class EntityError(ValueError):
    """The text did not parse in its ``parse_mode``."""


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}


class _HtmlEntities(HTMLParser):
    """Telegram's HTML style: the supported tags, the text left after removing them."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.lines = [0]
        for line in source.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.plain: list[str] = []
        self.stack: list[str] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        return _byte_offset(self.source, self.lines[line - 1] + column)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS or (tag == "span" and dict(attrs).get("class") != "tg-spoiler"):
            raise EntityError(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f"Unexpected end tag at byte offset {self._offset()}")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.plain.append(data)


def _parse_html(text: str) -> str:
    parser = _HtmlEntities(text)
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"')
    return "".join(parser.plain)


MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
MARKDOWN_V2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}


def _parse_markdown_v2(text: str) -> str:
    """An approximation of Telegram's MarkdownV2 parser: the visible text, or EntityError.

    Handles ``\\`` escapes, ``* _ __ ~ ||`` toggles, ``[text](url)``, inline code, ``pre``
    blocks and ``>`` quotes; any other unescaped reserved character is an error, as on
    Telegram.
    """
    plain: list[str] = []
    open_marks: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n:
            plain.append(text[i + 1])
            i += 2
        elif text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise EntityError(
                    f"Can't find end of Pre entity at byte offset {_byte_offset(text, i)}"
                )
            block = text[i + 3 : end]
            first, newline, rest = block.partition("\n")
            plain.append(rest if newline and first and " " not in first else block)
            i = end + 3
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise EntityError(
                    f"Can't find end of Code entity at byte offset {_byte_offset(text, i)}"
                )
            plain.append(text[i + 1 : end].replace("\\`", "`").replace("\\\\", "\\"))
            i = end + 1
        elif char == "]" and open_marks and open_marks[-1][0] == "[":
            open_marks.pop()
            if not text.startswith("(", i + 1):
                raise EntityError(
                    "Character ']' is reserved and must be escaped with the preceding '\\'"
                )
            j = i + 2
            while j < n and text[j] != ")":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise EntityError(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
            i = j + 1
        elif char in "*_~|[":
            mark = text[i : i + 2] if text[i : i + 2] in ("__", "||") else char
            if mark == "|":
                raise EntityError(
                    "Character '|' is reserved and must be escaped with the preceding '\\'"
                )
            if open_marks and open_marks[-1][0] == mark and mark != "[":
                open_marks.pop()
            else:
                open_marks.append((mark, i))
            i += len(mark)
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a blockquote line
        elif char in MARKDOWN_V2_RESERVED:
            raise EntityError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            plain.append(char)
            i += 1
    if open_marks:
        mark, start = open_marks[-1]
        name = MARKDOWN_V2_NAMES[mark]
        raise EntityError(
            f"Can't find end of {name} entity at byte offset {_byte_offset(text, start)}"
        )
    return "".join(plain)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text "after entities parsing", whose length Telegram limits."""
    if not parse_mode:
        return text
    if parse_mode.lower() == "html":
        return _parse_html(text)
    if parse_mode.lower() == "markdownv2":
        return _parse_markdown_v2(text)
    if parse_mode.lower() == "markdown":
        return text  # legacy style: counted as sent (not modelled)
    raise EntityError("unsupported parse_mode")


class FakeTelegram(FakeServer):
    """A bot that may post to the chats in ``chats`` (by default the ``@stopitnow`` channel).

    :param token: the valid bot token (``<digits>:<letters>``; any other shape is 404).
    :param chats: the chats the bot is in; ``fake.add_chat()`` adds more.
    :param clock: source of each message's ``date``.
    """

    def __init__(
        self,
        token: str = "123:abc",
        *,
        chats: list[TelegramChat] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.token = token
        self.bot_id = int(token.split(":")[0]) if TOKEN_RE.fullmatch(token) else 0
        self.chats: dict[int, TelegramChat] = {}
        for chat in chats if chats is not None else [STOPITNOW]:
            self.add_chat(TelegramChat(**vars(chat)))
        self.messages: list[dict[str, Any]] = []  # every Message sent, oldest first
        self.files: dict[str, UploadedFile] = {}  # file_id → uploaded photo
        self.token_rejected = False
        self._last_message_id: dict[int, int] = {}
        self._file_count = 0
        self.route("GET POST", r"/bot(?P<token>[^/]*)/(?P<method>[^/]*)", self._bot_method)

    @property
    def api_url(self) -> str:
        """The base URL of this bot's methods: ``{api_url}/sendMessage``."""
        return f"{self.url}/bot{self.token}"

    # --- scripting helpers -----------------------------------------------------------

    def add_chat(self, chat: TelegramChat) -> TelegramChat:
        self.chats[chat.id] = chat
        return chat

    def chat(self, ref: int | str | TelegramChat) -> TelegramChat:
        """A known chat by id, ``@username`` or the chat itself."""
        if isinstance(ref, TelegramChat):
            return self.chats[ref.id]
        found = self._find_chat(ref)
        if found is None:
            raise KeyError(ref)
        return found

    def rate_limit(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests get 429 with ``parameters.retry_after`` (whole seconds)."""
        after = math.ceil(seconds)
        answer = error(429, f"Too Many Requests: retry after {after}", retry_after=after)
        self.script_next(lambda request: answer, times=times)

    def reject_token(self) -> None:
        """From now on the bot token is invalid (revoked): every call gets 401 Unauthorized."""
        self.token_rejected = True

    def restore_token(self) -> None:
        self.token_rejected = False

    def migrate(self, chat: int | str | TelegramChat, new_id: int) -> TelegramChat:
        """The group became supergroup ``new_id``: sends to the old id get 400 +
        ``parameters.migrate_to_chat_id``; the username moves to the new chat."""
        old = self.chat(chat)
        new = self.add_chat(TelegramChat(new_id, "supergroup", old.username, old.title))
        old.migrated_to, old.username = new_id, None
        return new

    def kick(self, chat: int | str | TelegramChat) -> None:
        """The bot was removed from the chat: sends get 403 Forbidden."""
        self.chat(chat).kicked = True

    # --- dispatch --------------------------------------------------------------------

    def _find_chat(self, ref: Any) -> TelegramChat | None:
        if isinstance(ref, str) and ref.startswith("@"):
            name = ref[1:].lower()
            return next(
                (c for c in self.chats.values() if (c.username or "").lower() == name), None
            )
        try:
            return self.chats.get(int(ref))
        except (TypeError, ValueError):
            return None

    def _bot_method(self, request: Request, match: re.Match[str]) -> Reply:
        if not TOKEN_RE.fullmatch(match["token"]):
            return error(404, "Not Found")
        if match["token"] != self.token or self.token_rejected:
            return error(401, "Unauthorized")
        method = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
        }.get(match["method"].lower())
        if method is None:
            return error(404, "Not Found")
        if request.malformed:
            # Telegram's wording for an unparsable body is not in channels.md (unverified).
            return error(400, "Bad Request: can't parse request body")
        return method(request)

    def _get_me(self, request: Request) -> Reply:
        return ok(
            {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Signpost",
                "username": "signpost_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    def _target(self, request: Request) -> TelegramChat | Reply:
        chat_id = request.param("chat_id")
        if chat_id is None or chat_id == "":
            return error(400, "Bad Request: chat_id is empty")
        chat = self._find_chat(chat_id)
        if chat is None:
            return error(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            return error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.kicked:
            if chat.type == "private":
                return error(403, "Forbidden: bot was blocked by the user")
            return error(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    def _message(self, chat: TelegramChat, **content: Any) -> dict[str, Any]:
        message_id = self._last_message_id.get(chat.id, 0) + 1
        self._last_message_id[chat.id] = message_id
        message: dict[str, Any] = {"message_id": message_id}
        if chat.type == "channel":
            message["sender_chat"] = chat.as_json()
        else:
            message["from"] = {"id": self.bot_id, "is_bot": True, "first_name": "Signpost"}
        message["chat"] = chat.as_json()
        message["date"] = int(self.clock.now().timestamp())
        message.update(content)
        self.messages.append(message)
        return message

    def _send_message(self, request: Request) -> Reply:
        target = self._target(request)
        if isinstance(target, Reply):
            return target
        text = request.param("text")
        if text is None or str(text) == "":
            return error(400, "Bad Request: message text is empty")
        try:
            plain = visible_text(str(text), request.param("parse_mode"))
        except EntityError as exc:
            return error(400, f"Bad Request: can't parse entities: {exc}")
        if not plain.strip():
            return error(400, "Bad Request: message text is empty")
        # "1-4096 characters after entities parsing"; counted in UTF-16 code units, as
        # entity offsets are (channels.md: "to be safe", unverified).
        if utf16_length(plain) > MAX_TEXT_LENGTH:
            return error(400, "Bad Request: message is too long")
        options = request.param("link_preview_options")
        if isinstance(options, str):
            try:
                options = json.loads(options)
            except ValueError:
                options = None
            if not isinstance(options, dict):
                # Wording unverified.
                return error(400, "Bad Request: can't parse link preview options JSON object")
        return ok(self._message(target, text=plain))

    def _send_photo(self, request: Request) -> Reply:
        target = self._target(request)
        if isinstance(target, Reply):
            return target
        upload = request.files.get("photo")
        reference = request.param("photo")
        if upload is None and not reference:
            return error(400, "Bad Request: there is no photo in the request")
        if upload is None:
            if str(reference) in self.files:
                upload = self.files[str(reference)]
            elif not str(reference).startswith(("http://", "https://")):
                return error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if upload is not None and len(upload.data) > MAX_PHOTO_BYTES:
            return error(400, "Bad Request: file is too big")  # wording unverified
        caption = request.param("caption")
        content: dict[str, Any] = {}
        if caption:
            try:
                plain = visible_text(str(caption), request.param("parse_mode"))
            except EntityError as exc:
                return error(400, f"Bad Request: can't parse entities: {exc}")
            # channels.md gives no wording; this is Telegram's own for captions.
            if utf16_length(plain) > MAX_CAPTION_LENGTH:
                return error(400, "Bad Request: message caption is too long")
            content["caption"] = plain
        self._file_count += 1
        file_id = f"AgACAgQAAxkDAAI{self._file_count:06d}"
        if upload is not None:
            self.files[file_id] = upload
        size = len(upload.data) if upload is not None else 0
        # The fake does not decode images: dimensions are nominal; no w+h or ratio checks.
        content["photo"] = [
            {
                "file_id": file_id,
                "file_unique_id": f"AQAD{self._file_count:06d}",
                "file_size": size,
                "width": 1280,
                "height": 720,
            }
        ]
        return ok(self._message(target, **content))

    def not_found(self, request: Request) -> Reply:
        return error(404, "Not Found")
