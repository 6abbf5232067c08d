"""Meta's two-step publishing, shared by Threads (channels.md §13) and Instagram (§14).

A post is first a *container* (``POST /{user}/{create}``: text, a public ``image_url``, alt
text), which is never public; then ``POST /{user}/{publish}?creation_id=`` makes it a post.
The container is the prepared object of DESIGN §9.4: the engine records its id before the
publish, and afterwards its status settles an unknown outcome —

- ``PUBLISHED``: it went out; sent, and never published a second time;
- ``FINISHED`` / ``IN_PROGRESS``: it did not; publishing that same container again is safe
  (Meta publishes a container at most once);
- ``EXPIRED`` (24 h unpublished) / ``ERROR``: failed, with Meta's reason.

Images: Meta fetches them, so the approved image (re-hashed) is first copied into
``[media] public_dir`` under its sha256 name and sent as ``public_url``/name.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from channels.base import ChannelError, Media, Message, PermanentError, Receipt, TransientError
from channels.graph import raise_graph_error
from channels.oauth import OAuthAdapter

STATUS_POLLS = 10
STATUS_POLL_S = 3.0  # Meta: media containers take up to ~30 s


class ContainerAdapter(OAuthAdapter):
    """Publishing through a recorded container; subclasses name the paths and fields."""

    api_base: ClassVar[str]
    user_key: ClassVar[str]  # the config key of the account id
    create_path: ClassVar[str]  # "threads" | "media"
    publish_path: ClassVar[str]  # "threads_publish" | "media_publish"
    status_field: ClassVar[str]  # "status" | "status_code"
    detail_field: ClassVar[str]  # the field with the reason of an ERROR

    @property
    def base(self) -> str:
        return (self.options.get("url") or self.api_base).rstrip("/")

    @property
    def api(self) -> str:
        return f"{self.base}/{self.version}"

    @property
    def version(self) -> str:
        raise NotImplementedError

    @property
    def user(self) -> str:
        user_id = self.options.get(self.user_key)
        if not user_id:
            raise PermanentError(f"{self.name}: set {self.user_key} (the account's id)")
        return str(user_id)

    def classify(self, response: Any, body: Any) -> bool | None:
        raise_graph_error(response, body, self.name, self.now())
        return None

    def container_fields(self, message: Message, image_url: str | None) -> dict[str, Any]:
        """The create request's fields for this network."""
        raise NotImplementedError

    # --- the container ---------------------------------------------------------------

    def _prepare(self, message: Message) -> str | None:
        if len(message.media) > 1:
            raise PermanentError(f"{self.name}: Signpost sends one image a post to {self.type}")
        image_url = self._public_image(message.media[0]) if message.media else None
        answer = self.authed(
            "POST",
            f"{self.api}/{self.user}/{self.create_path}",
            sends=False,
            fields=("id",),
            data=self.container_fields(message, image_url),
        )
        return str(answer["id"])

    def _public_image(self, media: Media) -> str:
        """Copy the approved image where Meta can fetch it; its public URL."""
        folder, base_url = self.options.get("public_dir"), self.options.get("public_url")
        if not folder or not base_url:
            raise PermanentError(
                f"{self.name}: {self.type} fetches images from a public URL: set [media]"
                " public_dir and public_url"
            )
        checked = self.media_file(media)  # re-hashed against what was approved
        name = media.sha256 + (Path(media.path).suffix.lower() or ".jpg")
        target = Path(folder) / name
        if not target.exists():
            try:
                partial = target.with_suffix(target.suffix + ".part")
                partial.write_bytes(checked.data)
                shutil.move(partial, target)
            except OSError as exc:
                raise PermanentError(
                    f"{self.name}: cannot write the image to [media] public_dir {folder}"
                    f" ({exc.strerror or exc})"
                ) from None
        return f"{base_url.rstrip('/')}/{name}"

    def _status(self, container: str) -> tuple[str, Any]:
        """The container's status and the reason Meta gives for an ERROR."""
        answer = self.authed(
            "GET",
            f"{self.api}/{container}",
            sends=False,
            fields=(self.status_field,),
            params={"fields": f"{self.status_field},{self.detail_field}"},
        )
        return str(answer[self.status_field]), answer.get(self.detail_field)

    def _ready(self, container: str) -> str:
        """Wait for the container to leave IN_PROGRESS (within the send deadline)."""
        for attempt in range(STATUS_POLLS):
            state, detail = self._status(container)
            if state in ("EXPIRED", "ERROR"):
                why = detail or (
                    "not published within 24 hours" if state == "EXPIRED" else "no reason given"
                )
                raise PermanentError(f"{self.name}: the container is {state}: {why}")
            if state != "IN_PROGRESS":
                return state
            if attempt + 1 < STATUS_POLLS:
                self.wait(STATUS_POLL_S)
        raise TransientError(f"{self.name}: {self.type} is still processing the post")

    # --- publish and lookup -------------------------------------------------------------

    def _publish(self, message: Message) -> Receipt:
        container = message.prepared or self._prepare(message)
        assert container is not None
        if self._ready(container) == "PUBLISHED":
            return Receipt()  # an earlier try published this very container
        answer = self.authed(
            "POST",
            f"{self.api}/{self.user}/{self.publish_path}",
            sends=True,
            fields=("id",),
            params={"creation_id": container},
        )
        return self._receipt(str(answer["id"]))

    def _receipt(self, media_id: str) -> Receipt:
        """The post's permalink if Meta gives it; the post is out either way."""
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
        state, _ = self._status(message.prepared)
        if state == "PUBLISHED":
            return Receipt()  # out; the container does not name the post it became
        return None  # FINISHED, IN_PROGRESS, EXPIRED, ERROR: not published
