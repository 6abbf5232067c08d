"""Slack, channels.md §6: an incoming webhook, or a bot token with ``chat.postMessage``.

- Webhook (``url`` = ``https://hooks.slack.com/services/...``, or the URL as the secret):
  ``POST {"text"}``, success 200 ``ok`` (unverified); text errors ``400 invalid_payload``,
  ``403 action_prohibited``, ``404 channel_not_found``, ``410 channel_is_archived`` permanent,
  ``500 rollup_error`` transient. No id, so no URL and no lookup.
- Bot (``channel`` set, token ``xoxb-...`` from ``token_env``/``token_file``):
  ``POST {url or https://slack.com/api}/chat.postMessage`` with ``Authorization: Bearer``
  (scope ``chat:write``), JSON ``{"channel", "text"}``; failures are HTTP 200
  ``{"ok": false, "error"}``: ``invalid_auth``, ``not_authed``, ``token_revoked``,
  ``account_inactive``, ``channel_not_found``, ``not_in_channel``, ``is_archived``,
  ``msg_too_long``, ``no_text`` permanent; ``internal_error``/``fatal_error`` ("some aspect
  may have succeeded") are an unknown outcome; 429 ``ratelimited`` with ``Retry-After``
  transient. Receipt: channel + ``ts``, URL from ``chat.getPermalink`` (postiz
  slack.provider.ts). Lookup: ``conversations.history`` with ``oldest`` = the claim
  (``message.not_before``, inclusive) and each ``ts`` checked again, matched on the exact text
  (scope ``channels:history``, unverified): last week's copy of a weekly post never counts.
  Without ``not_before`` the latest 50 messages are searched (documented weakness). A 2xx
  without ``ok: true`` and ``ts`` is an unknown outcome for ``chat.postMessage``.
- Images: Slack needs the file uploaded through ``files.getUploadURLExternal`` (details
  unverified), not supported yet: a post with an image is refused for Slack rather than sent
  without it.
- Limit: text is truncated above 40,000 characters (channels.text).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    Message,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    TransientError,
    retry_after_seconds,
)
from channels.lookups import find_since

HISTORY_PAGE = 100  # messages per conversations.history page (Slack suggests at most 200)

PERMANENT = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "account_inactive",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
}
CREDENTIALS = {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
MAYBE_SENT = {"internal_error", "fatal_error"}


class SlackChannel(Adapter):
    """Post to one Slack channel."""

    type = "slack"
    deduplicates = False

    @property
    def bot(self) -> bool:
        return bool(self.options.get("channel"))

    def classify(self, response: Any, body: Any) -> None:
        """Web API failures are ``{"ok": false, "error"}``, mostly with HTTP 200."""
        if not isinstance(body, dict) or body.get("ok") is not False:
            return
        error = str(body.get("error") or "unknown_error")
        if error in CREDENTIALS:
            raise PermanentError(f"credentials rejected by {self.name} ({error})")
        if error in MAYBE_SENT:
            raise OutcomeUnknown(f"{self.name}: Slack said {error}; it may have been posted")
        if error == "ratelimited" or response.status_code == 429:
            raise TransientError(
                f"{self.name}: rate limited", retry_after_seconds(response.headers, self.now())
            )
        if response.status_code >= 500:
            raise TransientError(f"{self.name}: Slack said {error}")
        raise PermanentError(f"{self.name}: Slack said {error}")

    def _api(self, method: str, *fields: str, sends: bool, **kwargs: Any) -> Any:
        base = self.options.get("url", "https://slack.com/api").rstrip("/")
        headers = {"Authorization": f"Bearer {self.secret()}"}
        http = "POST" if "json" in kwargs else "GET"
        body = self.call(
            http, f"{base}/{method}", sends=sends, fields=("ok", *fields), headers=headers, **kwargs
        )
        if body["ok"] is not True:
            raise self.unreadable("answered without ok: true", sends)
        return body

    def _publish(self, message: Message) -> Receipt:
        if message.media:
            raise PermanentError(
                f"{self.name}: images are not supported for Slack yet;"
                " schedule a version without the image"
            )
        text = message.text
        if not self.bot:
            return self._webhook(text)
        posted = self._api(
            "chat.postMessage",
            "channel",
            "ts",
            sends=True,
            json={"channel": self.options["channel"], "text": text},
        )
        channel, ts = posted["channel"], posted["ts"]
        try:  # the message is out: nothing after this line may raise
            link = self._api(
                "chat.getPermalink",
                "permalink",
                sends=False,
                params={"channel": channel, "message_ts": ts},
            )["permalink"]
        except ChannelError:
            link = None
        return Receipt(remote_id=f"{channel}/{ts}", remote_url=link)

    def _webhook(self, text: str) -> Receipt:
        url = (
            self.secret()
            if self.options.get("token_env") or self.options.get("token_file")
            else self.options["url"]
        )

        def webhook_errors(response: Any, body: Any) -> None:
            word = response.text.strip()
            if response.status_code == 500 and word == "rollup_error":
                raise TransientError(f"{self.name}: Slack said rollup_error")
            if response.status_code in (400, 403, 404, 410):
                raise PermanentError(f"{self.name}: Slack said {word or response.status_code}")

        self.request("POST", url, sends=True, classify=webhook_errors, json={"text": text})
        return Receipt()

    def _lookup(self, message: Message) -> Receipt | None:
        if not self.bot:
            return super()._lookup(message)
        found = find_since(
            self._history(message),
            matches=lambda item: (
                item.get("text") == message.text
                and (message.not_before is None or _at_or_after(item.get("ts"), message))
            ),
            created=lambda item: None,  # ``oldest`` bounds the listing itself
            not_before=message.not_before,
            name=self.name,
        )
        return Receipt(remote_id=f"{self.options['channel']}/{found['ts']}") if found else None

    def _history(self, message: Message) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """The channel's messages since the claim, a page at a time, newest first."""
        params: dict[str, Any] = {"channel": self.options["channel"], "limit": HISTORY_PAGE}
        if message.not_before is not None:
            params |= {"oldest": f"{message.not_before.timestamp():.6f}", "inclusive": "true"}
        while True:
            history = self._api("conversations.history", "messages", sends=False, params=params)
            items = [m for m in history["messages"] if isinstance(m, dict)]
            cursor = (history.get("response_metadata") or {}).get("next_cursor") or ""
            more = bool(history.get("has_more"))
            if more and not cursor:
                raise TransientError(f"{self.name}: history has more but no next_cursor")
            yield items, more
            params = {**params, "cursor": cursor}

    def _check(self) -> str:
        if not self.bot:
            return "incoming webhook configured (Slack offers no way to test one without posting)"
        who = self._api("auth.test", sends=False, json={})
        return (
            f"bot {who.get('user')} in team {who.get('team')}; posting to {self.options['channel']}"
        )


def _at_or_after(ts: Any, message: Message) -> bool:
    """Whether a message ``ts`` (epoch seconds as text) is at or after ``not_before``."""
    try:
        return float(str(ts)) >= message.not_before.timestamp()  # type: ignore[union-attr]
    except ValueError:
        return False
