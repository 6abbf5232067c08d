"""Instagram (Graph API, a professional account), channels.md §14; the container steps are
shared with Threads in :mod:`channels.containers`.

- Auth: a token with ``instagram_content_publish`` (a long-lived user or Page token),
  ``Authorization: Bearer`` only, from ``token_env`` or ``token_file``. Graph answers a bad
  token with HTTP 400 and code 190.
- Container: ``POST /{version}/{ig-user-id}/media`` with ``image_url`` (public: the image
  is copied to ``[media]`` first), ``caption``, ``alt_text``; status ``GET /{container}
  ?fields=status_code,status``; publish ``POST /{version}/{ig-user-id}/media_publish
  ?creation_id=``; URL from ``GET /{media-id}?fields=permalink``.
- An image is required (there is no text-only post) and must be JPEG; caption 2,200
  characters and 30 hashtags; posts per 24 h from ``content_publishing_limit``.
- ``version``: the Graph API version in every path (default ``v26.0``, §15).
"""

from __future__ import annotations

from typing import Any

from channels.base import Message, PermanentError
from channels.containers import ContainerAdapter

VERSION = "v26.0"


class InstagramChannel(ContainerAdapter):
    """Post images with captions to one Instagram professional account."""

    type = "instagram"
    api_base = "https://graph.facebook.com"
    user_key = "ig_user_id"
    create_path = "media"
    publish_path = "media_publish"
    status_field = "status_code"
    detail_field = "status"

    @property
    def version(self) -> str:
        return str(self.options.get("version") or VERSION)

    def container_fields(self, message: Message, image_url: str | None) -> dict[str, Any]:
        if image_url is None:
            raise PermanentError(f"{self.name}: instagram needs an image (a text-only post)")
        fields: dict[str, Any] = {"image_url": image_url, "caption": message.text}
        if message.media[0].alt:
            fields["alt_text"] = message.media[0].alt
        return fields

    def _check(self) -> str:
        me = self.authed(
            "GET",
            f"{self.api}/{self.user}",
            sends=False,
            fields=("id",),
            params={"fields": "id,username"},
        )
        return f"signed in as @{me.get('username') or me['id']}" + self.token_note()
