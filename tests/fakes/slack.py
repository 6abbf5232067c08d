"""A contract fake of Slack: an incoming webhook and the Web API (channels.md section 6).

Configure the adapter with ``webhook URL = fake.webhook_url``, or ``API base URL =
fake.api_url`` (instead of ``https://slack.com/api/``), ``bot token = fake.token`` and
``channel = GENERAL.id``.

- Incoming webhook ``POST /services/T000/B000/XXXX`` JSON ``{"text", "blocks"?}`` → ``200``
  text ``ok``; errors are text bodies with their status (400, 403, 404, 410, 500).
- Web API under ``/api/``: ``chat.postMessage``, ``chat.getPermalink``, ``auth.test``,
  ``conversations.history``. Failures are HTTP ``200 {"ok": false, "error"}``, except
  ``429 {"ok": false, "error": "ratelimited"}`` with ``Retry-After``.

channels.md marks as unverified: the webhook's ``200`` body ``ok``, the 40,000 / 3,000 /
4,000 limits ("partly unverified"), "no idempotency" (the fake has none: every call posts)
and the ``channels:history`` scope. File uploads (``files.getUploadURLExternal`` +
``files.completeUploadExternal``, details unverified) are not modelled: images go by URL in
an ``image`` block (``image_url`` + ``alt_text``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, json_reply, text_reply

MAX_TEXT = 40_000  # characters (code points here; channels.md does not say how they count)
MAX_SECTION_TEXT = 3_000

# The webhook's documented errors and their statuses
# (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
WEBHOOK_ERRORS = {
    "invalid_payload": 400,
    "action_prohibited": 403,
    "channel_not_found": 404,
    "channel_is_archived": 410,
    "rollup_error": 500,
}


@dataclass
class SlackChannel:
    """A conversation the bot may post in (``member``) or not."""

    id: str
    name: str
    archived: bool = False
    member: bool = True


GENERAL = SlackChannel("C0123456789", "general")


def api_error(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"ok": False, "error": error}, headers)


class FakeSlack(FakeServer):
    """One workspace with one bot and one incoming webhook.

    :param token: the valid bot token (``Authorization: Bearer``).
    :param team: the workspace's subdomain, used in permalinks and ``auth.test``.
    :param channels: the conversations; ``fake.add_channel()`` adds more.
    :param webhook_path: the incoming webhook's path.
    :param long_text: ``"reject"`` → a text over 40,000 characters gets ``msg_too_long``;
        ``"truncate"`` → it is cut to 40,000. channels.md says both ("truncated above
        40,000" under Limit, ``msg_too_long`` under Errors), so tests can pick either.
    :param clock: source of ``ts``.
    """

    def __init__(
        self,
        token: str = "xoxb-test",
        *,
        team: str = "signpost",
        channels: list[SlackChannel] | None = None,
        webhook_path: str = "/services/T000/B000/XXXX",
        long_text: str = "reject",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if long_text not in ("reject", "truncate"):
            raise ValueError("long_text must be 'reject' or 'truncate'")
        self.token = token
        self.team = team
        self.team_id = "T000"
        self.user_id = "U0SIGNPOST"
        self.bot_id = "B0SIGNPOST"
        self.webhook_path = webhook_path
        self.long_text = long_text
        self.channels: dict[str, SlackChannel] = {}
        for channel in channels if channels is not None else [GENERAL]:
            self.add_channel(SlackChannel(**vars(channel)))
        self.messages: list[dict[str, Any]] = []  # chat.postMessage messages, oldest first
        self.webhook_posts: list[dict[str, Any]] = []  # payloads the webhook accepted
        self.token_rejected = False
        self._last_ts = Decimal(0)
        self.route("POST", re.escape(webhook_path), self._webhook)
        self.route("GET POST", r"/api/(?P<method>[A-Za-z.]+)", self._api)

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    @property
    def api_url(self) -> str:
        """The Web API base: ``{api_url}chat.postMessage``."""
        return f"{self.url}/api/"

    def permalink(self, channel: str, ts: str) -> str:
        return f"https://{self.team}.slack.com/archives/{channel}/p{ts.replace('.', '')}"

    # --- scripting helpers -----------------------------------------------------------

    def add_channel(self, channel: SlackChannel) -> SlackChannel:
        self.channels[channel.id] = channel
        return channel

    def rate_limit(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests get 429 with ``Retry-After`` (whole seconds) and
        ``{"ok": false, "error": "ratelimited"}`` (the webhook: text ``rate_limited``,
        unverified)."""
        headers = {"Retry-After": str(math.ceil(seconds))}

        def answer(request: Request) -> Reply:
            if request.path == self.webhook_path:
                return text_reply(429, "rate_limited", headers)
            return api_error("ratelimited", 429, headers)

        self.script_next(answer, times=times)

    def reject_token(self) -> None:
        """From now on the bot token is invalid: every Web API call gets ``invalid_auth``."""
        self.token_rejected = True

    def restore_token(self) -> None:
        self.token_rejected = False

    def fail_webhook(self, error: str, *, times: int = 1) -> None:
        """The next ``times`` requests get one of the webhook's errors, e.g.
        ``channel_is_archived`` → ``410`` with that text body."""
        reply = text_reply(WEBHOOK_ERRORS[error], error)
        self.script_next(lambda request: reply, times=times)

    def fail_api(self, error: str, *, posted: bool = False) -> None:
        """The next request gets ``200 {"ok": false, "error": error}``. With ``posted=True``
        the message is made first, as ``internal_error`` / ``fatal_error`` allow ("some
        aspect may have succeeded")."""

        def answer(request: Request) -> Reply:
            if posted:
                self.dispatch(request)
            return api_error(error)

        self.script_next(answer)

    # --- incoming webhook ------------------------------------------------------------

    def _webhook(self, request: Request, match: re.Match[str]) -> Reply:
        payload = request.json
        if request.malformed or not isinstance(payload, dict):
            return text_reply(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return text_reply(400, "no_text")  # Slack's own error, not in channels.md
        self.webhook_posts.append(payload)
        return Reply(200, b"ok", {"Content-Type": "text/html"})  # "200 body ok" (unverified)

    # --- Web API ---------------------------------------------------------------------

    def _api(self, request: Request, match: re.Match[str]) -> Reply:
        method = {
            "chat.postMessage": self._post_message,
            "chat.getPermalink": self._get_permalink,
            "auth.test": self._auth_test,
            "conversations.history": self._history,
        }.get(match["method"])
        if method is None:
            return api_error("unknown_method")
        if request.malformed:
            return api_error("invalid_json")
        token = request.headers.get("authorization", "")
        if token.lower().startswith("bearer "):
            token = token[len("bearer ") :].strip()
        else:
            token = str(request.param("token") or "")
        if not token:
            return api_error("not_authed")
        if token != self.token or self.token_rejected:
            return api_error("invalid_auth")
        return method(request)

    def _channel(self, request: Request) -> SlackChannel | Reply:
        ref = str(request.param("channel") or "")
        channel = self.channels.get(ref) or next(
            (c for c in self.channels.values() if c.name == ref.removeprefix("#")), None
        )
        if channel is None:
            return api_error("channel_not_found")
        return channel

    def _next_ts(self) -> str:
        """``1700000000.000100``: seconds and a 6-digit suffix, strictly increasing."""
        candidate = Decimal(int(self.clock.now().timestamp() * 1_000_000)) / 1_000_000
        self._last_ts = max(candidate, self._last_ts + Decimal("0.000001"))
        return f"{self._last_ts:.6f}"

    def _post_message(self, request: Request) -> Reply:
        channel = self._channel(request)
        if isinstance(channel, Reply):
            return channel
        if channel.archived:
            return api_error("is_archived")
        if not channel.member:
            return api_error("not_in_channel")
        text = str(request.param("text") or "")
        blocks = request.param("blocks")
        if not text and not blocks:
            return api_error("no_text")
        if len(text) > MAX_TEXT:
            # channels.md: "text truncated above 40,000" and msg_too_long is a permanent
            # error; which one happens is chosen by long_text.
            if self.long_text == "reject":
                return api_error("msg_too_long")
            text = text[:MAX_TEXT]
        if blocks is not None and not self._valid_blocks(blocks):
            return api_error("invalid_blocks")
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "user": self.user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            "team": self.team_id,
        }
        if blocks:
            message["blocks"] = blocks
        self.messages.append({**message, "channel": channel.id})
        body: dict[str, Any] = {"ok": True, "channel": channel.id, "ts": ts, "message": message}
        if request.content_type == "application/json" and "charset" not in request.headers.get(
            "content-type", ""
        ):
            body["warning"] = "missing_charset"
            body["response_metadata"] = {"warnings": ["missing_charset"]}
        return json_reply(200, body)

    @staticmethod
    def _valid_blocks(blocks: Any) -> bool:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return False
        for block in blocks:
            if not isinstance(block, dict) or "type" not in block:
                return False
            if block["type"] == "section":
                text = (block.get("text") or {}).get("text", "")
                if len(text) > MAX_SECTION_TEXT:
                    return False
            if block["type"] == "image" and not (block.get("image_url") and "alt_text" in block):
                return False
        return True

    def _get_permalink(self, request: Request) -> Reply:
        channel = self._channel(request)
        if isinstance(channel, Reply):
            return channel
        ts = str(request.param("message_ts") or "")
        if not any(m["channel"] == channel.id and m["ts"] == ts for m in self.messages):
            return api_error("message_not_found")
        return json_reply(
            200, {"ok": True, "channel": channel.id, "permalink": self.permalink(channel.id, ts)}
        )

    def _auth_test(self, request: Request) -> Reply:
        return json_reply(
            200,
            {
                "ok": True,
                "url": f"https://{self.team}.slack.com/",
                "team": "Signpost",
                "user": "signpost",
                "team_id": self.team_id,
                "user_id": self.user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            },
        )

    def _history(self, request: Request) -> Reply:
        # Scope channels:history and the marker search are unverified in channels.md.
        channel = self._channel(request)
        if isinstance(channel, Reply):
            return channel
        if not channel.member:
            return api_error("not_in_channel")
        try:
            oldest = Decimal(str(request.param("oldest") or "0"))
        except InvalidOperation:
            return api_error("invalid_ts_oldest")
        inclusive = str(request.param("inclusive") or "").lower() in ("true", "1")
        try:
            limit = min(max(int(request.param("limit") or 100), 1), 999)
            start = int(str(request.param("cursor") or "0").removeprefix("next:"))
        except ValueError:
            return api_error("invalid_cursor")
        messages = [
            {k: v for k, v in m.items() if k != "channel"}
            for m in reversed(self.messages)
            if m["channel"] == channel.id
            and (Decimal(m["ts"]) > oldest or (inclusive and Decimal(m["ts"]) == oldest))
        ]
        more = len(messages) > start + limit
        return json_reply(
            200,
            {
                "ok": True,
                "messages": messages[start : start + limit],
                "has_more": more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": f"next:{start + limit}" if more else ""},
            },
        )

    def not_found(self, request: Request) -> Reply:
        return text_reply(404, "Not Found")
