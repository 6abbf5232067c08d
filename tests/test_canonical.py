"""Properties of canonical JSON and content hashes (posts/canonical.py, Content.content_hash).

An approval binds to a content hash, so the hash must not move when nothing a reader sees
has changed (key order, Unicode normal form) and must move when anything that goes out does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from posts.canonical import canonical_json
from posts.rules import Content

# Text rich in characters that have distinct NFC and NFD forms: accented letters,
# Hangul syllables, combining marks, plus emoji and plain ASCII.
DECOMPOSABLE = "éèêëàâäçñöüÅØœ가각힣ǅﬁ\u0301\u0308\u0327"
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(DECOMPOSABLE),
        st.sampled_from("👍🏽\u200d👨👩 "),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
sha256s = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
media_items = st.fixed_dictionaries({"sha256": sha256s, "alt": texts})
channel_names = st.sampled_from(["mastodon", "bluesky", "x", "telegram", "newsroom"])
contents = st.builds(
    Content,
    text=texts,
    variants=st.dictionaries(channel_names, texts, max_size=3),
    link=st.none() | st.just("https://www.stopitnow.org.uk/"),
    media=st.lists(media_items, max_size=3).map(tuple),
)


def nfd(value: Any) -> Any:
    """``value`` with every string in NFD (decomposed), recursively."""
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, dict):
        return {nfd(k): nfd(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(nfd(v) for v in value)
    return value


@given(st.dictionaries(texts, json_values, max_size=8), st.randoms(use_true_random=False))
def test_canonical_json_ignores_key_order(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)

    assert canonical_json(dict(items)) == canonical_json(value)
    assert canonical_json(dict(reversed(items))) == canonical_json(value)


def test_canonical_json_is_compact_sorted_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


@given(contents)
def test_nfc_and_nfd_forms_of_a_post_hash_the_same(content: Content) -> None:
    decomposed = Content(
        text=nfd(content.text),
        variants=nfd(content.variants),
        link=content.link,
        media=nfd(content.media),
    )
    composed = content.normalised()

    assert decomposed.content_hash() == content.content_hash() == composed.content_hash()


def test_cafe_typed_two_ways_hashes_the_same() -> None:
    typed_on_a_mac = Content(text="Caf\u0065\u0301 meeting: 0808 1000 900")
    typed_on_windows = Content(text="Caf\u00e9 meeting: 0808 1000 900")

    assert typed_on_a_mac.text != typed_on_windows.text
    assert typed_on_a_mac.content_hash() == typed_on_windows.content_hash()


@given(texts, texts)
def test_different_texts_hash_differently(first: str, second: str) -> None:
    assume(unicodedata.normalize("NFC", first) != unicodedata.normalize("NFC", second))

    assert Content(text=first).content_hash() != Content(text=second).content_hash()


def _other(old: str, new: str) -> str:
    """``new`` unless it means the same as ``old``; then ``old`` with something added."""
    if unicodedata.normalize("NFC", new) == unicodedata.normalize("NFC", old):
        return old + "!"
    return new


def change_text(content: Content, new: str) -> Content:
    return replace(content, text=_other(content.text, new))


def change_variant(content: Content, new: str) -> Content:
    variants = dict(content.variants)
    variants["x"] = _other(variants["x"], new) if "x" in variants else new
    return replace(content, variants=variants)


def change_link(content: Content, new: str) -> Content:
    link = f"https://www.stopitnow.org.uk/{new.encode().hex()}"
    return replace(content, link=_other(content.link or "", link))


def change_media_sha256(content: Content, new: str) -> Content:
    assume(content.media)
    first = dict(content.media[0])
    first["sha256"] = "f" * 64 if first["sha256"] != "f" * 64 else "0" * 64
    return replace(content, media=(first, *content.media[1:]))


def change_alt(content: Content, new: str) -> Content:
    assume(content.media)
    first = dict(content.media[0])
    first["alt"] = _other(first["alt"], new)
    return replace(content, media=(first, *content.media[1:]))


def add_image(content: Content, new: str) -> Content:
    return replace(content, media=(*content.media, {"sha256": "a" * 64, "alt": new}))


@pytest.mark.parametrize(
    "change",
    [change_text, change_variant, change_link, change_media_sha256, change_alt, add_image],
    ids=["text", "variant", "link", "media-sha256", "alt", "another-image"],
)
@given(content=contents, new=texts)
def test_the_hash_changes_when_anything_that_goes_out_changes(
    change: Any, content: Content, new: str
) -> None:
    changed = change(content, new)

    assert changed != content
    assert changed.content_hash() != content.content_hash()


@given(contents)
def test_the_hash_ignores_where_the_image_file_lies(content: Content) -> None:
    moved = replace(
        content,
        media=tuple({**m, "path": f"/elsewhere/{i}.png"} for i, m in enumerate(content.media)),
    )

    assert moved.content_hash() == content.content_hash()
