"""The composer: exactly what one channel receives for one post, and how it measures.

One function for the engine and for every preview (``signpost post preview``, the review
page): the engine sends the :class:`~channels.base.Message` this builds, the preview shows
the same message, so what an approver reads is what goes out. The steps, in order:

1. the channel's variant if the post has one, else the main text;
2. UTM tags on every http(s) URL in it and on the link (channels/utm.py), unless off;
3. the link appended as its own paragraph unless the text already carries it
   (channels/text.py ``compose``) — except for the types that carry the link as a field of
   their own (webhook payload, Atom ``<link rel="alternate">``), which get the words alone;
4. the images with their alt texts, in order.

Adapters send ``message.text`` as it is; they never re-compose it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channels import registry
from channels.base import Media, Message
from channels.text import compose
from channels.utm import tag, tag_text


def link_as_field(channel_type: str) -> bool:
    """Whether the type's payload has a field for the link, so it is not appended."""
    return channel_type in registry.TYPES and registry.TYPES[channel_type].link_as_field


@dataclass(frozen=True)
class Measure:
    """One of a channel's limits and the outgoing text's count against it."""

    count: int
    limit: int
    unit: str

    @property
    def over(self) -> bool:
        """Whether the text is longer than this limit allows."""
        return self.count > self.limit


def compose_message(
    channel: str,
    channel_type: str,
    *,
    text: str,
    variants: Mapping[str, str],
    link: str | None,
    media: Sequence[Mapping[str, Any]],
    utm: Mapping[str, str],
    idempotency_key: str,
    campaign: str | None = None,
    post_id: int | None = None,
    delivery_id: int | None = None,
) -> Message:
    """The message a channel named ``channel`` of ``channel_type`` receives.

    ``utm`` are the tags for this delivery (empty: links go untagged).
    """
    words = tag_text(variants.get(channel, text), utm)
    tagged = tag(link, utm) if link and utm else link
    return Message(
        text=words if link_as_field(channel_type) else compose(words, tagged),
        idempotency_key=idempotency_key,
        link=tagged,
        media=tuple(Media(m["path"], m["sha256"], m.get("alt", "")) for m in media),
        campaign=campaign,
        post_id=post_id,
        delivery_id=delivery_id,
    )


def measure(channel_type: str, options: Mapping[str, Any], message: Message) -> list[Measure]:
    """The outgoing text counted as the channel counts it, against each of its limits."""
    limits = registry.limits_for(channel_type, has_media=bool(message.media), options=dict(options))
    return [Measure(limit.count(message.text), limit.limit, limit.unit) for limit in limits]
