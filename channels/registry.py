"""The channel types Signpost knows and the config keys each one accepts.

A dict keyed by type name, like huey's registry: an unknown type is an error that lists the
known ones. Keys common to every channel are in ``COMMON_KEYS``; the rest are documented per
type in docs/channels.md.
"""

from __future__ import annotations

COMMON_KEYS = frozenset({"type", "url", "token_env", "token_file"})

#: type name -> the channel-specific config keys it accepts (beyond COMMON_KEYS)
CHANNEL_TYPES: dict[str, frozenset[str]] = {
    "webhook": frozenset(),
    "feed": frozenset({"path", "feed_id", "title", "self_url", "author"}),
    "email": frozenset({"host", "port", "mode", "username", "from", "to"}),
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
