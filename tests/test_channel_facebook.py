"""The Facebook Page adapter against the Graph contract fake over loopback (channels.md §8, §15).

No idempotency, and Graph may answer 500 having made the post: such an answer is an
unknown outcome, settled by reading the Page's feed since the claim; a duplicate refusal
on a send means an earlier try landed. Photos go up unpublished first, with alt text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, TransientError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.fakes.facebook import FakeFacebook
from tests.test_channel_threads import NOW, TEXT
from tests.test_fake_threads import png

ENV = "SIGNPOST_TEST_FACEBOOK_TOKEN"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeFacebook]:
    with FakeFacebook(clock=clock) as running:
        yield running


@pytest.fixture
def channel(fake: FakeFacebook, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, fake.token)
    with httpx.Client(timeout=10) as client:
        yield build(
            "facebook",
            "facebook",
            {"url": fake.url, "page_id": fake.page_id, "version": fake.version, "token_env": ENV},
            client=client,
            now=clock.now,
        )


def message(text: str = TEXT, **extra) -> Message:
    return Message(text=text, idempotency_key="sp-fb-1", **extra)


def test_a_post_goes_out_with_its_permalink(channel, fake: FakeFacebook) -> None:
    receipt = channel.publish(message())

    (post,) = fake.posts
    assert post["message"] == TEXT
    assert receipt.remote_id == post["id"] and receipt.remote_url == post["permalink_url"]
    assert fake.tokens_in_urls == 0


def test_photos_go_up_unpublished_with_alt_text_then_the_post_attaches_them(
    channel, fake: FakeFacebook, tmp_path: Path
) -> None:
    data = png()
    image = tmp_path / "card.png"
    image.write_bytes(data)
    sent = message(media=(Media(str(image), hashlib.sha256(data).hexdigest(), "Helpline card"),))

    prepared = channel.prepare(sent)
    assert fake.posts == []  # an unpublished photo is not on the Page
    channel.publish(replace(sent, prepared=prepared))

    (post,) = fake.posts
    assert post["media_fbids"] == [prepared]
    assert post["alt_texts"] == ["Helpline card"]


def test_a_500_after_the_post_was_made_is_unknown_then_found_not_resent(
    channel, fake: FakeFacebook
) -> None:
    fake.fail_after_posting()
    claimed = message(not_before=NOW - timedelta(seconds=30))

    with pytest.raises(OutcomeUnknown, match="looked up, never resent blind"):
        channel.publish(claimed)

    found = channel.lookup(claimed)
    assert found is not None and found.remote_id == fake.posts[0]["id"]
    assert len(fake.posts) == 1


def test_a_lost_answer_then_the_duplicate_refusal_is_settled_as_sent_once(
    channel, fake: FakeFacebook
) -> None:
    fake.drop_next(processed=True)
    with pytest.raises(OutcomeUnknown):
        channel.publish(message())

    receipt = channel.publish(message(not_before=NOW - timedelta(minutes=1)))

    assert len(fake.posts) == 1
    assert receipt.remote_id == fake.posts[0]["id"]


def test_a_duplicate_of_an_older_post_is_refused(
    channel, fake: FakeFacebook, clock: FrozenClock
) -> None:
    channel.publish(message())
    clock.advance(timedelta(days=1))

    with pytest.raises(PermanentError, match="duplicate of an older post"):
        channel.publish(message(not_before=clock.now() - timedelta(minutes=1)))
    assert len(fake.posts) == 1


def test_a_lookup_reads_the_feed_back_to_the_claim(
    channel, fake: FakeFacebook, clock: FrozenClock
) -> None:
    claim = clock.now()
    ours = channel.publish(message())
    for n in range(30):  # more than a page of the feed since ours
        clock.advance(timedelta(seconds=1))
        channel.publish(message(f"Another post {n}"))

    assert channel.lookup(message(not_before=claim)) == ours
    assert channel.lookup(message("Never sent", not_before=claim)) is None


def test_a_revoked_token_is_credentials_rejected(channel, fake: FakeFacebook) -> None:
    fake.expire_token()

    with pytest.raises(PermanentError, match="credentials rejected by facebook"):
        channel.publish(message())
    assert fake.posts == []


def test_a_rate_limit_waits_as_long_as_the_usage_header_says(channel, fake: FakeFacebook) -> None:
    fake.rate_limit(regain_minutes=7)

    with pytest.raises(TransientError, match="code 4") as limited:
        channel.publish(message())
    assert limited.value.retry_after == 7 * 60  # X-Business-Use-Case-Usage, not a guess
    assert fake.posts == []


def test_check_names_the_page(channel, fake: FakeFacebook) -> None:
    assert channel.check() == f"posting as the Page '{fake.page_name}'"
