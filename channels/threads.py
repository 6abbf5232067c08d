"""Threads (Meta, graph.threads.net), channels.md §13.

- Auth: a long-lived user token (60 days), ``Authorization: Bearer`` (never in the URL,
  though Meta's examples put it there), scope ``threads_content_publish``. From
  ``token_file`` it is renewed before it lapses with ``GET /refresh_access_token
  ?grant_type=th_refresh_token`` (the token renews itself; there is no refresh token).
- Prepare (DESIGN §9.4) = the container: ``POST /v1.0/{user-id}/threads`` with
  ``media_type=TEXT|IMAGE``, ``text``, ``image_url`` (a public URL Meta fetches: the image is
  copied into ``[media] public_dir`` under its sha256 name first) and ``alt_text`` →
  ``{"id"}``. A container is not public, so creating one is safe; the engine stores its id
  before anything is published.
- Publish: wait until the container is ``FINISHED`` (``GET /{container}?fields=status,
  error_message``, polled within the send deadline), then ``POST /v1.0/{user-id}/
  threads_publish?creation_id=`` → ``{"id": media-id}``; the URL from ``GET /{media-id}
  ?fields=permalink``.
- Never twice: an unknown outcome is settled by the container's status, the one handle
  Threads offers (§13): ``PUBLISHED`` → it went out (sent, without a second publish);
  ``FINISHED`` or ``IN_PROGRESS`` → it did not, and publishing that same container again is
  safe (Threads publishes a container once at most); ``EXPIRED`` (24 h unpublished) or
  ``ERROR`` → failed, with Meta's reason.
- Errors: the Graph body (:mod:`channels.graph`); code 190 / HTTP 401 is the token.
- Limit: 500 characters; 250 published posts per 24 h (``threads_publishing_limit``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from channels.base import ChannelError, Message, PermanentError, Receipt, TransientError
from channels.graph import raise_graph_error
from channels.oauth import OAuthAdapter
from channels.tokens import Tokens

API = "https://graph.threads.net"
VERSION = "v1.0"
STATUS_POLLS = 10
STATUS_POLL_S = 3.0  # Meta: media containers take up to ~30 s


class ThreadsChannel(OAuthAdapter):
    """Post to one Threads profile, through a container recorded before publishing."""

    type = "threads"
    renews_itself = True

    @property
    def base(self) -> str:
        return (self.options.get("url") or API).rstrip("/")

    @property
    def api(self) -> str:
        return f"{self.base}/{VERSION}"

    @property
    def user(self) -> str:
        user_id = self.options.get("user_id")
        if not user_id:
            raise PermanentError(f"{self.name}: set user_id (the Threads profile's id)")
        return str(user_id)

    def classify(self, response: Any, body: Any) -> bool | None:
        raise_graph_error(response, body, self.name, self.now())
        return None

    def _refresh(self, tokens: Tokens) -> Tokens:
        answer = self._with_token(
            tokens,
            "GET",
            f"{self.base}/refresh_access_token",
            sends=False,
            fields=("access_token",),
            params={"grant_type": "th_refresh_token"},
        )
        return Tokens.from_answer(answer, self.now(), old=tokens)

    # --- the container ---------------------------------------------------------------

    def _prepare(self, message: Message) -> str | None:
        params: dict[str, Any] = {"media_type": "TEXT", "text": message.text}
        if message.media:
            if len(message.media) > 1:
                raise PermanentError(f"{self.name}: Signpost sends one image to Threads")
            media = message.media[0]
            params.update(media_type="IMAGE", image_url=self._publish_image(media))
            if media.alt:
                params["alt_text"] = media.alt
        answer = self.authed(
            "POST", f"{self.api}/{self.user}/threads", sends=False, fields=("id",), data=params
        )
        return str(answer["id"])

    def _publish_image(self, media: Any) -> str:
        """Copy the approved image where Meta can fetch it; its public URL."""
        folder, base_url = self.options.get("public_dir"), self.options.get("public_url")
        if not folder or not base_url:
            raise PermanentError(
                f"{self.name}: Threads fetches images from a public URL: set [media]"
                " public_dir and public_url"
            )
        checked = self.media_file(media)  # re-hashed against what was approved
        name = media.sha256 + (Path(media.path).suffix.lower() or ".jpg")
        target = Path(folder) / name
        if not target.exists():
            try:
                tmp = target.with_suffix(target.suffix + ".part")
                tmp.write_bytes(checked.data)
                shutil.move(tmp, target)
            except OSError as exc:
                raise PermanentError(
                    f"{self.name}: cannot write the image to [media] public_dir {folder}"
                    f" ({exc.strerror or exc})"
                ) from None
        return f"{base_url.rstrip('/')}/{name}"

    def _status(self, container: str) -> dict[str, Any]:
        return self.authed(
            "GET",
            f"{self.api}/{container}",
            sends=False,
            fields=("status",),
            params={"fields": "status,error_message"},
        )

    def _ready(self, container: str) -> str:
        """Wait for the container to leave IN_PROGRESS; its status then."""
        for attempt in range(STATUS_POLLS):
            status = self._status(container)
            state = str(status["status"])
            if state in ("EXPIRED", "ERROR"):
                why = status.get("error_message") or (
                    "not published within 24 hours" if state == "EXPIRED" else "no reason given"
                )
                raise PermanentError(f"{self.name}: the container is {state}: {why}")
            if state != "IN_PROGRESS":
                return state
            if attempt + 1 < STATUS_POLLS:
                self.wait(STATUS_POLL_S)
        raise TransientError(f"{self.name}: Threads is still processing the post")

    # --- publish, lookup, check --------------------------------------------------------

    def _publish(self, message: Message) -> Receipt:
        container = message.prepared or self._prepare(message)
        assert container is not None
        if self._ready(container) == "PUBLISHED":
            return Receipt()  # an earlier try published this very container
        answer = self.authed(
            "POST",
            f"{self.api}/{self.user}/threads_publish",
            sends=True,
            fields=("id",),
            params={"creation_id": container},
        )
        return self._receipt(str(answer["id"]))

    def _receipt(self, media_id: str) -> Receipt:
        """The post's permalink if Threads gives it; the post is out either way."""
        try:
            media = self.authed(
                "GET", f"{self.api}/{media_id}", sends=False, params={"fields": "permalink"}
            )
        except ChannelError:
            return Receipt(remote_id=media_id)
        return Receipt(remote_id=media_id, remote_url=media.get("permalink"))

    def _lookup(self, message: Message) -> Receipt | None:
        if message.prepared is None:
            return None  # no container was recorded, so nothing could be published
        status = self._status(message.prepared)
        if status["status"] == "PUBLISHED":
            return Receipt()  # out; the container does not name the post it became
        return None  # FINISHED, IN_PROGRESS, EXPIRED, ERROR: not published

    def _check(self) -> str:
        me = self.authed(
            "GET", f"{self.api}/me", sends=False, fields=("id",), params={"fields": "id,username"}
        )
        said = f"signed in as @{me.get('username') or me['id']}"
        if str(me["id"]) != self.user:
            said += f", but config says user_id = {self.user!r}"
        store = self.token_file
        if store is not None:
            tokens = store.read()
            if tokens.expires_at is not None:
                said += f"; token valid until {tokens.expires_at:%Y-%m-%d} (renewed automatically)"
        return said
