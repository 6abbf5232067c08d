"""The Instagram adapter against the Instagram contract fake over loopback (channels.md §14).

Like Threads (the container steps are shared, channels/containers.py): the image is copied
to the public folder the fake really fetches from, the container is recorded before the
publish, and its status settles a lost answer. Instagram's own rules: an image is required,
JPEG only, and Graph answers a bad token with 400 and code 190.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, TransientError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.fakes.instagram import FakeInstagram
from tests.test_channel_threads import NOW, TEXT, lose_the_publish, public  # noqa: F401
from tests.test_fake_instagram import JPEG

ENV = "SIGNPOST_TEST_INSTAGRAM_TOKEN"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeInstagram]:
    with FakeInstagram(clock=clock) as running:
        yield running


@pytest.fixture
def channel(fake, clock, public, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv(ENV, fake.token)
    folder, base = public
    with httpx.Client(timeout=10) as client:
        adapter = build(
            "instagram",
            "instagram",
            {
                "url": fake.url,
                "ig_user_id": fake.ig_user_id,
                "token_env": ENV,
                "public_dir": str(folder),
                "public_url": base,
            },
            client=client,
            now=clock.now,
        )
        adapter.sleep = lambda seconds: None
        yield adapter


@pytest.fixture
def card(tmp_path: Path) -> Media:
    image = tmp_path / "helpline.jpg"
    image.write_bytes(JPEG)
    return Media(str(image), hashlib.sha256(JPEG).hexdigest(), "The helpline number on a card")


def prepared(channel, card: Media) -> Message:
    message = Message(text=TEXT, idempotency_key="sp-ig-1", media=(card,))
    return replace(message, prepared=channel.prepare(message))


def test_an_image_post_goes_out_with_its_caption_and_alt_text(
    channel,
    fake: FakeInstagram,
    card: Media,
    public,  # noqa: F811
) -> None:
    sent = prepared(channel, card)
    assert fake.posts == []

    receipt = channel.publish(sent)

    (post,) = fake.posts
    assert (post["caption"], post["alt_text"]) == (TEXT, "The helpline number on a card")
    assert post["image_url"] == f"{public[1]}/{card.sha256}.jpg"
    assert receipt.remote_id == post["id"] and receipt.remote_url == post["permalink"]
    assert fake.tokens_in_urls == 0


def test_instagram_refuses_a_text_only_post_before_any_request(
    channel, fake: FakeInstagram
) -> None:
    with pytest.raises(PermanentError, match="instagram needs an image"):
        channel.prepare(Message(text=TEXT, idempotency_key="k"))
    assert fake.requests == []


def test_a_lost_publish_that_landed_is_sent_once(channel, fake: FakeInstagram, card: Media) -> None:
    sent = prepared(channel, card)
    lose_the_publish(fake, processed=True)

    with pytest.raises(OutcomeUnknown):
        channel.publish(sent)

    assert channel.lookup(sent) is not None
    channel.publish(sent)
    assert len(fake.posts) == 1


def test_a_lost_publish_that_did_not_land_is_published_once(
    channel, fake: FakeInstagram, card: Media
) -> None:
    sent = prepared(channel, card)
    lose_the_publish(fake, processed=False)

    with pytest.raises(OutcomeUnknown):
        channel.publish(sent)

    assert channel.lookup(sent) is None
    channel.publish(sent)
    assert len(fake.posts) == 1


def test_an_image_instagram_cannot_use_fails_with_metas_reason(
    channel, fake: FakeInstagram, tmp_path: Path
) -> None:
    fake_jpeg = tmp_path / "not-really.jpg"
    fake_jpeg.write_bytes(b"<html>not an image</html>")
    media = Media(str(fake_jpeg), hashlib.sha256(fake_jpeg.read_bytes()).hexdigest(), "alt")
    sent = prepared(channel, media)

    with pytest.raises(PermanentError, match="the container is ERROR"):
        channel.publish(sent)
    assert fake.posts == []


def test_a_bad_token_is_credentials_rejected(channel, fake: FakeInstagram, card) -> None:
    fake.expire_token()

    with pytest.raises(PermanentError, match="credentials rejected by instagram"):
        channel.prepare(Message(text=TEXT, idempotency_key="k", media=(card,)))
    assert fake.token not in str(fake.requests[-1].query)


def test_metas_rate_limit_is_transient(channel, fake: FakeInstagram, card: Media) -> None:
    fake.rate_limit()

    with pytest.raises(TransientError, match="code 4"):
        channel.prepare(Message(text=TEXT, idempotency_key="k", media=(card,)))


def test_check_names_the_account(channel, fake: FakeInstagram) -> None:
    assert channel.check() == f"signed in as @{fake.username}"
