"""The channel types Signpost knows: one registry, one entry per type.

Each type is registered once (:func:`register`, like huey's registry) with everything the
rest of the program asks about it: its config keys, how it counts text against its limits
(channels/text.py), whether a link travels as a field of its own rather than in the text,
and its adapter ("module:Class", imported only when a channel is built, so reading commands
stay light). A type with no adapter is known to config (so a config written for the next
release loads) but cannot publish: :func:`can_publish` is the one place that says so, and
the config validator, ``post check``, ``channels list`` and the daemon all ask it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.base import Adapter, Now, PermanentError
from channels.secrets import has_secret, read_secret
from channels.text import (
    TextLimit,
    graphemes,
    linkedin_length,
    mastodon_length,
    utf8_bytes,
    utf16_units,
    x_weighted_length,
)

if TYPE_CHECKING:
    import httpx

COMMON_KEYS = frozenset({"type", "url", "token_env", "token_file"})

#: config keys holding file paths, resolved against the config file's folder
PATH_KEYS = frozenset({"path", "token_file", "ca_file"})

#: a type's text limits, given whether the post has media and the channel's config
Limits = Callable[[bool, dict[str, Any]], list[TextLimit]]


def no_limit(has_media: bool, options: dict[str, Any]) -> list[TextLimit]:
    return []


def fixed(limit: int, unit: str, count: Callable[[str], int]) -> Limits:
    """One limit that depends on nothing else."""
    return lambda has_media, options: [TextLimit(limit, unit, count)]


@dataclass(frozen=True)
class ChannelType:
    """A kind of channel: its config keys, limits, link handling and adapter."""

    name: str
    keys: frozenset[str] = frozenset()  # beyond COMMON_KEYS
    limits: Limits = no_limit
    adapter: str | None = None  # "module:Class"; None: known to config, cannot publish yet
    link_as_field: bool = False  # the link is sent beside the text, not appended to it
    #: the network fetches images from a public URL ([media] public_dir and public_url)
    public_media: bool = False
    #: how many images one post may carry (None: no limit of ours), and whether it needs one
    max_images: int | None = None
    needs_image: bool = False
    jpeg_only: bool = False


TYPES: dict[str, ChannelType] = {}


def register(channel_type: ChannelType) -> ChannelType:
    """Add a type; a second type of the same name is a programming error."""
    if channel_type.name in TYPES:
        raise ValueError(f"channel type {channel_type.name} is registered twice")
    TYPES[channel_type.name] = channel_type
    return channel_type


def get(name: str) -> ChannelType:
    """The registered type ``name``; KeyError naming the known ones if there is none."""
    try:
        return TYPES[name]
    except KeyError:
        raise KeyError(f"unknown channel type {name!r} (known: {', '.join(TYPES)})") from None


def can_publish(name: str) -> bool:
    """Whether channels of type ``name`` can publish (it has an adapter)."""
    return name in TYPES and TYPES[name].adapter is not None


def publishing() -> list[str]:
    """The names of the types that can publish, sorted."""
    return sorted(name for name in TYPES if can_publish(name))


def known_keys(name: str) -> frozenset[str]:
    """Every config key a channel of type ``name`` accepts; KeyError if unknown."""
    return COMMON_KEYS | get(name).keys


def limits_for(
    name: str, *, has_media: bool, options: dict[str, Any] | None = None
) -> list[TextLimit]:
    """Every limit a channel of type ``name`` puts on a post's text (none if unknown)."""
    return TYPES[name].limits(has_media, dict(options or {})) if name in TYPES else []


# --- the types (limits and sources: channels/text.py and ../shared/channels.md) ------------

register(ChannelType("webhook", adapter="channels.webhook:WebhookChannel", link_as_field=True))
register(
    ChannelType(
        "feed",
        frozenset({"path", "feed_id", "title", "self_url", "author"}),
        adapter="channels.feed:FeedChannel",
        link_as_field=True,
    )
)
register(
    ChannelType(
        "email",
        frozenset({"host", "port", "mode", "username", "from", "to", "ca_file"}),
        adapter="channels.email:EmailChannel",
    )
)
register(
    ChannelType(
        "mastodon",
        frozenset({"max_characters", "visibility"}),
        lambda has_media, options: [
            TextLimit(
                options.get("max_characters") or 500,
                "characters (URLs count 23)",
                mastodon_length,
            )
        ],
        adapter="channels.mastodon:MastodonChannel",
    )
)
register(
    ChannelType(
        "bluesky",
        frozenset({"handle"}),
        lambda has_media, options: [
            TextLimit(300, "graphemes", graphemes),
            TextLimit(3000, "UTF-8 bytes", utf8_bytes),
        ],
        adapter="channels.bluesky:BlueskyChannel",
    )
)
register(
    ChannelType(
        "matrix",
        frozenset({"room"}),
        fixed(60_000, "UTF-8 bytes", utf8_bytes),
        adapter="channels.matrix:MatrixChannel",
    )
)
register(
    ChannelType(
        "telegram",
        frozenset({"chat"}),
        lambda has_media, options: [
            TextLimit(1024 if has_media else 4096, "UTF-16 units", utf16_units)
        ],
        adapter="channels.telegram:TelegramChannel",
    )
)
register(
    ChannelType(
        "discord",
        limits=fixed(2000, "UTF-16 units", utf16_units),
        adapter="channels.discord:DiscordChannel",
    )
)
register(
    ChannelType(
        "slack",
        frozenset({"channel"}),
        fixed(40_000, "characters", len),
        adapter="channels.slack:SlackChannel",
    )
)
register(
    ChannelType(
        "x",
        frozenset({"username", "client_id", "client_secret_env", "max_length"}),
        lambda has_media, options: [
            TextLimit(
                options.get("max_length") or 280,
                "weighted characters",
                x_weighted_length,
            )
        ],
        adapter="channels.x:XChannel",
        max_images=4,
    )
)
register(
    ChannelType(
        "facebook",
        frozenset({"page_id", "version"}),
        fixed(63_206, "characters", len),
        adapter="channels.facebook:FacebookChannel",
    )
)
register(
    ChannelType(
        "linkedin",
        frozenset({"author", "version", "client_id", "client_secret_env"}),
        fixed(3_000, "characters (reserved ones escaped)", linkedin_length),
        adapter="channels.linkedin:LinkedInChannel",
        max_images=1,
    )
)


register(
    ChannelType(
        "instagram",
        frozenset({"ig_user_id", "version"}),
        fixed(2_200, "characters", len),
        adapter="channels.instagram:InstagramChannel",
        public_media=True,
        max_images=1,
        needs_image=True,
        jpeg_only=True,
    )
)
register(
    ChannelType(
        "threads",
        frozenset({"user_id"}),
        fixed(500, "characters", len),
        adapter="channels.threads:ThreadsChannel",
        public_media=True,
        max_images=1,
    )
)


def needs_image(name: str) -> bool:
    """Whether channels of type ``name`` take only posts with an image (Instagram)."""
    return name in TYPES and TYPES[name].needs_image


def media_problems(
    name: str, channel_type: str, options: dict[str, Any], paths: list[str]
) -> list[str]:
    """Why a post with the images at ``paths`` cannot go to this channel as configured
    (DESIGN §10): too many, none where one is needed, not JPEG where only JPEG is taken, or
    no public folder where the network fetches them."""
    kind = TYPES.get(channel_type)
    if kind is None:
        return []
    images = len(paths)
    problems = []
    if kind.needs_image and not images:
        problems.append(f"{name} ({channel_type}) needs an image: give --image and --alt")
    if kind.max_images is not None and images > kind.max_images:
        problems.append(
            f"{name} ({channel_type}) takes at most {kind.max_images} image"
            f"{'' if kind.max_images == 1 else 's'} a post, this one has {images}"
        )
    if kind.jpeg_only:
        problems += [
            f"{name} ({channel_type}) takes JPEG images only: {path} is not .jpg or .jpeg"
            for path in paths
            if not path.lower().endswith((".jpg", ".jpeg"))
        ]
    if kind.public_media and images and not options.get("public_url"):
        problems.append(
            f"{name} ({channel_type}) fetches images from a public URL: set [media]"
            " public_dir and public_url in the config"
        )
    return problems


def build(
    name: str, channel_type: str, options: dict[str, Any], *, client: httpx.Client, now: Now
) -> Adapter:
    """An adapter for one configured channel; PermanentError for a type with none yet."""
    from importlib import import_module

    if not can_publish(channel_type):
        raise PermanentError(
            f"{name}: no adapter for channel type {channel_type} yet"
            f" (available: {', '.join(publishing())})"
        )
    module, _, cls_name = TYPES[channel_type].adapter.partition(":")  # type: ignore[union-attr]
    cls = getattr(import_module(module), cls_name)
    secret = (lambda: read_secret(name, options)) if has_secret(options) else _no_secret(name)
    return cls(name=name, now=now, options=options, client=client, secret=secret)


def _no_secret(name: str) -> Callable[[], str]:
    def missing() -> str:
        raise PermanentError(f"{name}: no secret configured (set token_env or token_file)")

    return missing
