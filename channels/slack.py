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
  slack.provider.ts). Lookup: ``conversations.history`` since the claim, matched on the exact
  text (scope ``channels:history``, unverified).
- Images: Slack needs the file uploaded through ``files.getUploadURLExternal`` (details
  unverified), not supported yet: a post with an image is refused for Slack rather than sent
  without it.
- Limit: text is truncated above 40,000 characters (channels.text).
"""

from __future__ import annotations

from typing import Any

from channels.base import (
    Adapter,
    ChannelError,
    Message,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    TransientError,
    raise_for,
    translate_errors,
)

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

    def _api(self, method: str, *, params: dict | None = None, json: dict | None = None) -> Any:
        base = self.options.get("url", "https://slack.com/api").rstrip("/")
        headers = {"Authorization": f"Bearer {self.secret()}"}
        with translate_errors(self.name):
            if json is None:
                response = self.client.get(f"{base}/{method}", params=params, headers=headers)
            else:
                response = self.client.post(f"{base}/{method}", json=json, headers=headers)
        raise_for(response, self.name, self.now())
        body = response.json()
        if body.get("ok"):
            return body
        error = body.get("error", "unknown_error")
        if error in CREDENTIALS:
            raise PermanentError(f"credentials rejected by {self.name} ({error})")
        if error in MAYBE_SENT:
            raise OutcomeUnknown(f"{self.name}: Slack said {error}; it may have been posted")
        if error == "ratelimited":
            raise TransientError(f"{self.name}: rate limited")
        raise PermanentError(f"{self.name}: Slack said {error}")

    def publish(self, message: Message) -> Receipt:
        if message.media:
            raise PermanentError(
                f"{self.name}: images are not supported for Slack yet;"
                " schedule a version without the image"
            )
        text = message.text
        if not self.bot:
            return self._webhook(text)
        posted = self._api(
            "chat.postMessage", json={"channel": self.options["channel"], "text": text}
        )
        channel, ts = posted["channel"], posted["ts"]
        try:  # the message is out: nothing after this line may raise
            link = self._api("chat.getPermalink", params={"channel": channel, "message_ts": ts})[
                "permalink"
            ]
        except ChannelError:
            link = None
        return Receipt(remote_id=f"{channel}/{ts}", remote_url=link)

    def _webhook(self, text: str) -> Receipt:
        url = (
            self.secret()
            if self.options.get("token_env") or self.options.get("token_file")
            else self.options["url"]
        )
        with translate_errors(self.name):
            response = self.client.post(url, json={"text": text})
        word = response.text.strip()
        if response.status_code == 200:
            return Receipt()
        if response.status_code == 500 and word == "rollup_error":
            raise TransientError(f"{self.name}: Slack said rollup_error")
        if response.status_code in (400, 403, 404, 410):
            raise PermanentError(f"{self.name}: Slack said {word or response.status_code}")
        raise_for(response, self.name, self.now(), word)
        raise PermanentError(f"{self.name}: unexpected answer {response.status_code}")

    def lookup(self, message: Message) -> Receipt | None:
        if not self.bot:
            return super().lookup(message)
        history = self._api(
            "conversations.history", params={"channel": self.options["channel"], "limit": 50}
        )
        wanted = message.text
        for item in history.get("messages", []):
            if item.get("text") == wanted:
                channel = self.options["channel"]
                return Receipt(remote_id=f"{channel}/{item['ts']}")
        return None

    def check(self) -> str:
        if not self.bot:
            return "incoming webhook configured (Slack offers no way to test one without posting)"
        who = self._api("auth.test", json={})
        return (
            f"bot {who.get('user')} in team {who.get('team')}; posting to {self.options['channel']}"
        )
