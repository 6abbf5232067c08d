"""How each channel counts text, and the limits it enforces (../shared/channels.md).

Pure functions of a string; channels/registry.py gives each type its limits from them, and
the rules check (`post check`), scheduling and approval all measure through it, so a post
is measured the way the network will measure it. Sources per channel:

- Mastodon: 500 by default (instance ``configuration.statuses.max_characters``); grapheme
  clusters, every http(s) URL as 23, a mention ``@user@domain`` as ``@user``
  (channels.md §1; mastodon app/validators/status_length_validator.rb).
- Bluesky: 300 graphemes and 3000 UTF-8 bytes (channels.md §2 and summary).
- X: 280 weighted characters by twitter-text ``parseTweet`` (channels.md §7).
- Telegram: 4096, a caption 1024, counted in UTF-16 code units, the safe reading (§4).
- Discord: 2000; counted in UTF-16 code units, the stricter of the readings (§5, unverified).
- Slack: text is truncated above 40,000 characters (§6, partly unverified).
- Facebook 63,206 (unverified), LinkedIn 3,000 (unverified) (§8, §9); LinkedIn counts
  its "little text", reserved characters backslash-escaped, as it is sent.
- Matrix: no text limit, but an event must stay under 65,536 bytes; we keep the body under
  60,000 UTF-8 bytes to leave room for the JSON envelope (§3, our margin).
- Webhook, email and Atom feed: no limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import grapheme

MASTODON_URL_LENGTH = 23
_MENTION = re.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w", re.UNICODE)


@dataclass(frozen=True)
class TextLimit:
    """A maximum length and the unit it is counted in."""

    limit: int
    unit: str
    count: Callable[[str], int]


def compose(text: str, link: str | None) -> str:
    """The text as it goes out: the link is appended unless the text already carries it.

    "Carries" means the exact link stands in the text as a word (trailing punctuation aside):
    a longer URL that merely starts with the link does not count.
    """
    if not link or any(word.rstrip(".,;:!?)'\"") == link for word in text.split()):
        return text
    return f"{text}\n\n{link}"


def graphemes(text: str) -> int:
    """User-perceived characters: a skin-toned or ZWJ emoji is one."""
    return grapheme.length(text)


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript and Telegram count."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    """Length in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def preload() -> None:
    """Import twitter-text now. Its URL and emoji grammars take about 0.3 s to build on first
    use, and the composer uses them for every message (links, UTM tags, counts): a daemon
    calls this at start, so its first delivery is not that much late (docs/benchmarks.md).
    A command that never measures text does not pay for it."""
    import twitter_text  # noqa: F401


def http_urls(text: str) -> list[tuple[int, int]]:
    """Start and end offsets of every http(s) URL in ``text`` (twitter-text's URL grammar)."""
    from twitter_text import extract_urls_with_indices

    return [
        tuple(found["indices"])
        for found in extract_urls_with_indices(text)
        if found["url"].lower().startswith(("http://", "https://"))
    ]


def mastodon_length(text: str) -> int:
    """Mastodon's count: graphemes, each URL as 23, remote mentions without their domain."""
    pieces, last = [], 0
    for start, end in http_urls(text):
        pieces.append(text[last:start])
        pieces.append("x" * MASTODON_URL_LENGTH)
        last = end
    pieces.append(text[last:])
    return graphemes(_MENTION.sub(r"@\1", "".join(pieces)))


def x_weighted_length(text: str) -> int:
    """X's weighted length from twitter-text (emoji and CJK weigh 2, URLs 23)."""
    from twitter_text import parse_tweet

    return parse_tweet(text).weightedLength


#: LinkedIn's "little text" reserved characters (channels.md §9, postiz fixText)
LINKEDIN_RESERVED = frozenset("\\|{}@[]()<>#*_~")


def linkedin_escape(text: str) -> str:
    """``text`` as LinkedIn's commentary takes it: each reserved character backslash-escaped,
    so that readers see exactly the words that were approved."""
    return "".join("\\" + c if c in LINKEDIN_RESERVED else c for c in text)


def linkedin_length(text: str) -> int:
    """LinkedIn's 3,000 count, taken as the commentary is sent (escapes included)."""
    return len(linkedin_escape(text))
