"""Threads (Meta, graph.threads.net), channels.md §13; the container steps are shared with
Instagram in :mod:`channels.containers`.

- Auth: a long-lived user token (60 days), ``Authorization: Bearer`` (never in the URL,
  though Meta's examples put it there), scope ``threads_content_publish``. From
  ``token_file`` it is renewed before it lapses with ``GET /refresh_access_token
  ?grant_type=th_refresh_token`` (the token renews itself; there is no refresh token).
- Container: ``POST /v1.0/{user-id}/threads`` with ``media_type=TEXT|IMAGE``, ``text``,
  ``image_url``, ``alt_text``; status ``GET /{container}?fields=status,error_message``;
  publish ``POST /v1.0/{user-id}/threads_publish?creation_id=``; URL from ``permalink``.
- Errors: the Graph body (:mod:`channels.graph`); code 190 / HTTP 401 is the token.
- Limit: 500 characters, one image; 250 published posts per 24 h.
"""

from __future__ import annotations

from typing import Any

from channels.base import Message
from channels.containers import ContainerAdapter
from channels.tokens import Tokens


class ThreadsChannel(ContainerAdapter):
    """Post to one Threads profile, through a container recorded before publishing."""

    type = "threads"
    renews_itself = True
    api_base = "https://graph.threads.net"
    user_key = "user_id"
    create_path = "threads"
    publish_path = "threads_publish"
    status_field = "status"
    detail_field = "error_message"

    @property
    def version(self) -> str:
        return "v1.0"

    def container_fields(self, message: Message, image_url: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {"media_type": "TEXT", "text": message.text}
        if image_url is not None:
            fields.update(media_type="IMAGE", image_url=image_url)
            if message.media[0].alt:
                fields["alt_text"] = message.media[0].alt
        return fields

    def _refresh(self, tokens: Tokens) -> Tokens:
        response = self._with_token(
            tokens,
            "GET",
            f"{self.base}/refresh_access_token",
            sends=False,
            params={"grant_type": "th_refresh_token"},
        )
        answer = self.expect(response, "access_token", sends=False)
        return Tokens.from_answer(answer, self.now(), old=tokens)

    def _check(self) -> str:
        me = self.authed(
            "GET", f"{self.api}/me", sends=False, fields=("id",), params={"fields": "id,username"}
        )
        said = f"signed in as @{me.get('username') or me['id']}"
        if str(me["id"]) != self.user:
            said += f", but config says user_id = {self.user!r}"
        return said + self.token_note()
