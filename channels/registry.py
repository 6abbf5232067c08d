"""The channel types Signpost knows and the config keys each one accepts.

A dict keyed by type name, like huey's registry: an unknown type is an error that lists the
known ones. Keys common to every channel are in ``COMMON_KEYS``; the rest are documented per
type in docs/channels.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from channels.base import Adapter, Now, PermanentError
from channels.secrets import has_secret, read_secret

if TYPE_CHECKING:
    import httpx

COMMON_KEYS = frozenset({"type", "url", "token_env", "token_file"})

#: type name -> the channel-specific config keys it accepts (beyond COMMON_KEYS)
CHANNEL_TYPES: dict[str, frozenset[str]] = {
    "webhook": frozenset(),
    "feed": frozenset({"path", "feed_id", "title", "self_url", "author"}),
    "email": frozenset({"host", "port", "mode", "username", "from", "to", "ca_file"}),
    "mastodon": frozenset({"max_characters", "visibility"}),
    "bluesky": frozenset({"handle"}),
    "matrix": frozenset({"room"}),
    "telegram": frozenset({"chat"}),
    "discord": frozenset(),
    "slack": frozenset({"channel"}),
    "x": frozenset({"username"}),
    "facebook": frozenset({"page_id", "graph_version"}),
    "linkedin": frozenset({"author", "linkedin_version"}),
}


def known_keys(channel_type: str) -> frozenset[str]:
    """Every config key a channel of ``channel_type`` accepts; KeyError if unknown."""
    return COMMON_KEYS | CHANNEL_TYPES[channel_type]


#: type name -> "module:Class" of its adapter, imported only when a channel is built
ADAPTERS: dict[str, str] = {
    "webhook": "channels.webhook:WebhookChannel",
    "feed": "channels.feed:FeedChannel",
    "email": "channels.email:EmailChannel",
    "mastodon": "channels.mastodon:MastodonChannel",
    "bluesky": "channels.bluesky:BlueskyChannel",
    "matrix": "channels.matrix:MatrixChannel",
    "telegram": "channels.telegram:TelegramChannel",
    "discord": "channels.discord:DiscordChannel",
    "slack": "channels.slack:SlackChannel",
}

#: config keys holding file paths, resolved against the config file's folder
PATH_KEYS = frozenset({"path", "token_file", "ca_file"})


def build(
    name: str, channel_type: str, options: dict[str, Any], *, client: httpx.Client, now: Now
) -> Adapter:
    """An adapter for one configured channel; PermanentError for a type with none yet."""
    from importlib import import_module

    target = ADAPTERS.get(channel_type)
    if target is None:
        raise PermanentError(
            f"{name}: no adapter for channel type {channel_type} yet"
            f" (available: {', '.join(sorted(ADAPTERS))})"
        )
    module, _, cls_name = target.partition(":")
    cls = getattr(import_module(module), cls_name)
    secret = (lambda: read_secret(name, options)) if has_secret(options) else _no_secret(name)
    return cls(name=name, now=now, options=options, client=client, secret=secret)


def _no_secret(name: str) -> Callable[[], str]:
    def missing() -> str:
        raise PermanentError(f"{name}: no secret configured (set token_env or token_file)")

    return missing
