"""How each channel measures a post (channels/text.py), as tables of text and verdict.

Every table pairs a text with what the network would say: the post that fits exactly at the
limit goes out, one character more is refused (../shared/channels.md).
"""

from __future__ import annotations

import pytest

from channels.registry import limits_for
from channels.text import (
    compose,
    graphemes,
    mastodon_length,
    x_weighted_length,
)

THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: thumbs up + skin tone modifier
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦: ZWJ sequence
GRINNING = "\U0001f600"  # 😀: one code point, two UTF-16 units
UK_FLAG = "\U0001f1ec\U0001f1e7"  # 🇬🇧: two regional indicators
E_ACUTE_NFD = "e\u0301"  # é as e + combining acute accent
LONG_URL = "https://www.stopitnow.org.uk/get-help/" + "a" * 100


def too_long(
    channel_type: str, text: str, *, has_media: bool = False, max_characters: int | None = None
) -> list[str]:
    """The units in which ``text`` is over the channel's limits (empty: the post fits)."""
    options = {"max_characters": max_characters} if max_characters else {}
    limits = limits_for(channel_type, has_media=has_media, options=options)
    return [limit.unit for limit in limits if limit.count(text) > limit.limit]


# --- graphemes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", 3),
        (THUMBS_UP_MEDIUM, 1),
        (FAMILY, 1),
        (UK_FLAG, 1),
        (E_ACUTE_NFD, 1),
        ("日本語", 3),
        (f"Hi {FAMILY}{THUMBS_UP_MEDIUM}!", 6),
    ],
    ids=["latin", "skin-tone", "zwj-family", "flag", "combining-accent", "cjk", "mixed"],
)
def test_graphemes_count_what_a_reader_sees(text: str, expected: int) -> None:
    assert graphemes(text) == expected


# --- Mastodon -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 500, 500),
        (LONG_URL, 23),
        ("https://t.co/a", 23),
        ("http://example.com/x", 23),
        ("a https://x.org/1 b https://www.stopitnow.org.uk/" + "p" * 60, 2 + 23 + 3 + 23),
        (f"See {LONG_URL}.", 4 + 23 + 1),
        ("stopitnow.org.uk", 16),
        ("@alice@mastodon.social", 6),
        ("Thanks @alice@mastodon.social and @bob", 22),
        ("help@stopitnow.org.uk", 21),
        (THUMBS_UP_MEDIUM * 3 + FAMILY, 4),
    ],
    ids=[
        "plain",
        "long-url-is-23",
        "short-url-is-23",
        "http-url-is-23",
        "two-urls",
        "url-then-full-stop",
        "bare-domain-counts-literally",
        "remote-mention-without-domain",
        "remote-and-local-mentions",
        "email-is-not-a-mention",
        "emoji-are-graphemes",
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


@pytest.mark.parametrize(
    ("text", "max_characters", "over"),
    [
        ("a" * 500, None, []),
        ("a" * 501, None, ["characters (URLs count 23)"]),
        ("a" * 476 + " " + LONG_URL, None, []),
        ("a" * 477 + " " + LONG_URL, None, ["characters (URLs count 23)"]),
        ("Thanks @alice@mastodon.social " + "a" * 486, None, []),
        ("Thanks @alice@mastodon.social " + "a" * 487, None, ["characters (URLs count 23)"]),
        (THUMBS_UP_MEDIUM * 500, None, []),
        ("a" * 1000, 1000, []),
        ("a" * 1001, 1000, ["characters (URLs count 23)"]),
        ("a" * 101, 100, ["characters (URLs count 23)"]),
    ],
    ids=[
        "500-fits",
        "501-refused",
        "url-makes-500",
        "url-makes-501",
        "mention-makes-500",
        "mention-makes-501",
        "500-skin-toned-emoji-fit",
        "instance-1000-fits",
        "instance-1000-refuses-1001",
        "instance-100-refuses-101",
    ],
)
def test_mastodon_limit(text: str, max_characters: int | None, over: list[str]) -> None:
    assert too_long("mastodon", text, max_characters=max_characters) == over


# --- Bluesky --------------------------------------------------------------------------------


#: texts by case and the units Bluesky refuses each in (empty: it fits), for test_limit
BLUESKY_LIMITS = {
    "300-fits": ("a" * 300, []),
    "301-refused": ("a" * 301, ["graphemes"]),
    "url-counts-literally": ("a" * 270 + " " + "https://www.stopitnow.org.uk/x", ["graphemes"]),
    "300-emoji-2400-bytes-fit": (THUMBS_UP_MEDIUM * 300, []),
    "301-emoji-refused": (THUMBS_UP_MEDIUM * 301, ["graphemes"]),
    "3000-bytes-fit": (FAMILY * 120, []),
    "3025-bytes-refused-at-121-graphemes": (FAMILY * 121, ["UTF-8 bytes"]),
    "both-limits-broken": (FAMILY * 301, ["graphemes", "UTF-8 bytes"]),
}


# --- X --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", 3),
        ("日本語", 6),
        (THUMBS_UP_MEDIUM, 2),
        (FAMILY, 2),
        (GRINNING, 2),
        (LONG_URL, 23),
        ("https://t.co/a", 23),
        ("stopitnow.org.uk", 23),
        (E_ACUTE_NFD, 1),
    ],
    ids=[
        "latin",
        "cjk-weighs-2",
        "skin-tone-emoji-weighs-2",
        "zwj-family-weighs-2",
        "emoji-weighs-2",
        "long-url-is-23",
        "short-url-is-23",
        "bare-domain-is-a-url",
        "nfd-counts-as-nfc",
    ],
)
def test_x_weighted_length(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


#: texts by case and the units X refuses each in (empty: it fits), for test_limit
X_LIMITS = {
    "280-fits": ("a" * 280, []),
    "281-refused": ("a" * 281, ["weighted characters"]),
    "140-cjk-fit": ("日" * 140, []),
    "141-cjk-refused": ("日" * 141, ["weighted characters"]),
    "cjk-plus-one-refused": ("日" * 140 + "a", ["weighted characters"]),
    "140-family-emoji-fit": (FAMILY * 140, []),
    "family-emoji-plus-one-refused": (FAMILY * 140 + "a", ["weighted characters"]),
    "url-makes-280": ("a" * 256 + " " + LONG_URL, []),
    "url-makes-281": ("a" * 257 + " " + LONG_URL, ["weighted characters"]),
}


# --- Telegram and Discord -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "has_media", "over"),
    [
        ("a" * 4096, False, []),
        ("a" * 4097, False, ["UTF-16 units"]),
        ("a" * 1025, False, []),
        ("a" * 1024, True, []),
        ("a" * 1025, True, ["UTF-16 units"]),
        (GRINNING * 512, True, []),
        (GRINNING * 512 + "a", True, ["UTF-16 units"]),
        (THUMBS_UP_MEDIUM * 256, True, []),
        (GRINNING * 2048, False, []),
        (GRINNING * 2049, False, ["UTF-16 units"]),
    ],
    ids=[
        "message-4096-fits",
        "message-4097-refused",
        "1025-fits-without-media",
        "caption-1024-fits",
        "caption-1025-refused",
        "caption-512-emoji-are-1024-units",
        "caption-512-emoji-plus-one-refused",
        "caption-256-skin-toned-emoji-are-1024-units",
        "message-2048-emoji-fit",
        "message-2049-emoji-refused",
    ],
)
def test_telegram_limits(text: str, has_media: bool, over: list[str]) -> None:
    assert too_long("telegram", text, has_media=has_media) == over


#: texts by case and the units Discord refuses each in (empty: it fits), for test_limit
DISCORD_LIMITS = {
    "2000-fits": ("a" * 2000, []),
    "2001-refused": ("a" * 2001, ["UTF-16 units"]),
    "1000-emoji-fit": (GRINNING * 1000, []),
    "1000-emoji-plus-one-refused": (GRINNING * 1000 + "a", ["UTF-16 units"]),
}


@pytest.mark.parametrize(
    ("channel_type", "text", "over"),
    [
        pytest.param(channel_type, text, over, id=f"{channel_type}-{case}")
        for channel_type, table in (
            ("bluesky", BLUESKY_LIMITS),
            ("x", X_LIMITS),
            ("discord", DISCORD_LIMITS),
        )
        for case, (text, over) in table.items()
    ],
)
def test_limit(channel_type: str, text: str, over: list[str]) -> None:
    """One test for the channels measured by their type alone: only the tables differ."""
    assert too_long(channel_type, text) == over


@pytest.mark.parametrize("channel_type", ["webhook", "email", "atom"])
def test_channels_without_a_text_limit_take_any_length(channel_type: str) -> None:
    assert limits_for(channel_type, has_media=True) == []


def test_limits_are_stated_in_the_units_the_user_is_told() -> None:
    shown = {
        kind: [(limit.limit, limit.unit) for limit in limits_for(kind, has_media=False)]
        for kind in ("mastodon", "bluesky", "x", "telegram", "discord")
    }
    assert shown == {
        "mastodon": [(500, "characters (URLs count 23)")],
        "bluesky": [(300, "graphemes"), (3000, "UTF-8 bytes")],
        "x": [(280, "weighted characters")],
        "telegram": [(4096, "UTF-16 units")],
        "discord": [(2000, "UTF-16 units")],
    }


# --- compose --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "link", "expected"),
    [
        ("Call 0808 1000 900", None, "Call 0808 1000 900"),
        ("Call 0808 1000 900", "", "Call 0808 1000 900"),
        (
            "Call 0808 1000 900",
            "https://www.stopitnow.org.uk/",
            "Call 0808 1000 900\n\nhttps://www.stopitnow.org.uk/",
        ),
        (
            "Read https://www.stopitnow.org.uk/ or call 0808 1000 900",
            "https://www.stopitnow.org.uk/",
            "Read https://www.stopitnow.org.uk/ or call 0808 1000 900",
        ),
        (
            "Call 0808 1000 900 https://www.stopitnow.org.uk/",
            "https://www.stopitnow.org.uk/",
            "Call 0808 1000 900 https://www.stopitnow.org.uk/",
        ),
    ],
    ids=["no-link", "empty-link", "link-appended", "link-in-the-middle-kept", "link-at-end-kept"],
)
def test_compose_appends_the_link_only_when_absent(
    text: str, link: str | None, expected: str
) -> None:
    assert compose(text, link) == expected


def test_compose_appends_the_link_when_the_text_carries_only_a_longer_url() -> None:
    text = "Donate at https://www.stopitnow.org.uk/donate"
    link = "https://www.stopitnow.org.uk/"

    assert compose(text, link) == f"{text}\n\n{link}"
