"""The LinkedIn adapter against the LinkedIn contract fake over loopback (channels.md §9, §15).

The required headers on every call, "little text" escaping so that readers see the approved
words, images through the Images API, the duplicate refusal naming the earlier post (its
urn becomes the receipt), a 5xx after posting settled by a lookup, tokens refreshed from
the token file on a 401, and ``channels connect`` against the fake's OAuth endpoints.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, TransientError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.conftest import team_config
from tests.fakes.linkedin import FakeLinkedIn
from tests.peers import free_port
from tests.shared import token_file
from tests.test_channel_threads import NOW
from tests.test_fake_threads import png

TEXT = "Worried about your thoughts (or a friend's)? #StopItNow: call 0808 1000 900 *free*"
SECRET_ENV = "SIGNPOST_TEST_LINKEDIN_SECRET"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn(clock=clock) as running:
        yield running


@pytest.fixture
def tokens(fake: FakeLinkedIn, tmp_path: Path) -> Path:
    return token_file(tmp_path / "linkedin.tokens.json", fake.grant())


@pytest.fixture
def channel(fake, tokens, clock, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(SECRET_ENV, fake.client_secret)
    with httpx.Client(timeout=10) as client:
        yield build(
            "linkedin",
            "linkedin",
            {
                "url": fake.url,
                "author": fake.author,
                "version": fake.version,
                "token_file": str(tokens),
                "client_id": fake.client_id,
                "client_secret_env": SECRET_ENV,
            },
            client=client,
            now=clock.now,
        )


def message(text: str = TEXT, **extra) -> Message:
    return Message(text=text, idempotency_key="sp-li-1", **extra)


def test_a_post_goes_out_escaped_so_readers_see_the_approved_words(
    channel, fake: FakeLinkedIn
) -> None:
    receipt = channel.publish(message())

    (post,) = fake.posts
    assert fake.rendered(post) == TEXT
    assert post["commentary"].startswith("Worried about your thoughts \\(or a friend's\\)?")
    assert receipt.remote_id == post["urn"]
    assert receipt.remote_url == f"https://www.linkedin.com/feed/update/{post['urn']}"
    assert fake.tokens_in_urls == 0


def test_an_image_goes_up_through_the_images_api_with_its_alt_text(
    channel, fake: FakeLinkedIn, tmp_path: Path
) -> None:
    data = png()
    image = tmp_path / "card.png"
    image.write_bytes(data)
    sent = message(media=(Media(str(image), hashlib.sha256(data).hexdigest(), "Helpline card"),))

    prepared = channel.prepare(sent)
    assert fake.posts == [] and fake.images[prepared] == data
    channel.publish(replace(sent, prepared=prepared))

    (post,) = fake.posts
    assert post["content"] == {"media": {"id": prepared, "altText": "Helpline card"}}


def test_a_duplicate_refusal_of_our_lost_send_gives_that_post_as_the_receipt(
    channel, fake: FakeLinkedIn
) -> None:
    fake.drop_next(processed=True)
    with pytest.raises(OutcomeUnknown):
        channel.publish(message())

    receipt = channel.publish(message(not_before=NOW - timedelta(minutes=1)))  # retried

    (post,) = fake.posts
    assert receipt.remote_id == post["urn"]


def test_a_duplicate_of_an_older_post_is_refused_naming_it_not_recorded_as_sent(
    channel, fake: FakeLinkedIn, clock: FrozenClock
) -> None:
    channel.publish(message())  # last week's post
    clock.advance(timedelta(days=7))

    with pytest.raises(PermanentError) as refused:
        channel.publish(message(not_before=clock.now() - timedelta(minutes=1)))

    (post,) = fake.posts
    assert f"duplicate of an older post, {post['urn']}" in str(refused.value)


def test_a_gateway_timeout_after_posting_is_unknown_and_the_lookup_finds_it(
    channel, fake: FakeLinkedIn
) -> None:
    fake.fail_after_posting()
    claimed = message(not_before=NOW - timedelta(seconds=30))

    with pytest.raises(OutcomeUnknown, match="looked up, never resent blind"):
        channel.publish(claimed)

    assert channel.lookup(claimed).remote_id == fake.posts[0]["urn"]
    assert channel.lookup(message("never sent", not_before=claimed.not_before)) is None


def test_a_refused_token_is_refreshed_from_the_token_file(
    channel, fake: FakeLinkedIn, tokens: Path
) -> None:
    fake.expire_access_token()

    channel.publish(message())

    assert fake.refreshes == 1
    assert json.loads(tokens.read_text())["access_token"] == fake.access_token
    assert len(fake.posts) == 1


def test_a_revoked_grant_is_credentials_rejected(channel, fake: FakeLinkedIn) -> None:
    fake.reject_token()

    with pytest.raises(PermanentError) as refused:
        channel.publish(message())
    assert fake.posts == []
    assert fake.client_secret not in str(refused.value)


def test_a_rate_limit_is_transient(channel, fake: FakeLinkedIn) -> None:
    fake.rate_limit()

    with pytest.raises(TransientError, match="rate limited"):
        channel.publish(message())


def test_check_names_the_organisation_and_the_token(channel, fake: FakeLinkedIn) -> None:
    said = channel.check()

    assert said.startswith(f"posting as the organisation '{fake.name}'")
    assert "refreshed automatically" in said


def test_channels_connect_authorizes_with_pkce_and_writes_the_token_file(
    fake: FakeLinkedIn, tmp_path: Path
) -> None:
    path = tmp_path / "li.tokens.json"
    config = (
        team_config("sqlite:///" + str(tmp_path / "db.sqlite"))
        .with_channel(
            "linkedin",
            "linkedin",
            url=fake.url,
            author=fake.author,
            version=fake.version,
            token_file=str(path),
            client_id=fake.client_id,
            client_secret_env=SECRET_ENV,
        )
        .write(tmp_path / "config.toml")
    )
    command = [str(Path(sys.executable).with_name("signpost")), "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "channels", "connect", "linkedin", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", SECRET_ENV: fake.client_secret},
    )
    address = proc.stdout.readline().strip()

    httpx.get(address, follow_redirects=True, timeout=10)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert address.startswith(f"{fake.url}/oauth/v2/authorization?")
    assert "scope=w_organization_social+r_organization_social" in address
    assert json.loads(path.read_text())["access_token"] == fake.access_token
    assert fake.client_secret not in out + err
