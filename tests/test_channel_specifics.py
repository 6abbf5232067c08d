"""What differs per channel: images and alt text, lookups after a crash, Telegram moves."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, TransientError
from channels.registry import build
from tests.fakes.discord import FakeDiscord
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
ALT = "Card showing the Stop It Now helpline, 0808 1000 900"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def image(tmp_path: Path) -> Media:
    path = tmp_path / "helpline.png"
    path.write_bytes(PNG)
    return Media(str(path), hashlib.sha256(PNG).hexdigest(), ALT)


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as client:
        yield client


def make(kind: str, options: dict, client: httpx.Client):
    return build(
        kind, kind, {**options, "token_env": ENV}, client=client, now=lambda: datetime.now(UTC)
    )


def post(text: str = "Confidential help: 0808 1000 900", key: str = "sp-1", media=()) -> Message:
    return Message(text=text, idempotency_key=key, media=media)


@pytest.mark.parametrize("polls", [None, 2])
def test_mastodon_uploads_the_image_with_its_alt_text_first(polls, image, client, monkeypatch):
    with FakeMastodon(async_media_polls=polls) as fake:
        monkeypatch.setenv(ENV, fake.token)
        monkeypatch.setattr("channels.mastodon.MEDIA_POLL_S", 0.0)
        make("mastodon", {"url": fake.url}, client).publish(post(media=(image,)))
        [status] = fake.statuses
        [attachment] = status["media_attachments"]
        assert attachment["description"] == ALT


def test_mastodon_lookup_finds_the_post_after_its_hour(client, monkeypatch):
    with FakeMastodon() as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("mastodon", {"url": fake.url}, client)
        sent = Message(
            text="Sent: 0808 1000 900", link="https://www.stopitnow.org.uk/", idempotency_key="sp-a"
        )
        receipt = channel.publish(sent)
        assert channel.lookup(sent) == receipt
        assert channel.lookup(post("Never sent", "sp-b")) is None


def test_mastodon_check_reports_the_servers_own_limit(client, monkeypatch):
    with FakeMastodon(max_characters=1000) as fake:
        monkeypatch.setenv(ENV, fake.token)
        said = make("mastodon", {"url": fake.url}, client).check()
        assert "the server allows 1000 characters, config says 500" in said
        assert "set max_characters = 1000" in said


def test_telegram_sends_the_image_with_the_post_as_caption(image, client, monkeypatch):
    with FakeTelegram() as fake:
        monkeypatch.setenv(ENV, fake.token)
        make("telegram", {"url": fake.url, "chat": "@stopitnow"}, client).publish(
            post(media=(image,))
        )
        [sent] = fake.messages
        assert sent["caption"] == "Confidential help: 0808 1000 900"
        assert "photo" in sent


def test_telegram_follows_a_group_that_moved(client, monkeypatch):
    with FakeTelegram() as fake:
        monkeypatch.setenv(ENV, fake.token)
        old_id = str(fake.chat("@stopitnow").id)
        channel = make("telegram", {"url": fake.url, "chat": old_id}, client)
        fake.migrate("@stopitnow", -1009876543210)
        with pytest.raises(TransientError, match="set chat = -1009876543210"):
            channel.publish(post())
        channel.publish(post())
        assert [m["chat"]["id"] for m in fake.messages] == [-1009876543210]


def test_telegram_bot_kicked_is_permanent(client, monkeypatch):
    with FakeTelegram() as fake:
        monkeypatch.setenv(ENV, fake.token)
        fake.kick("@stopitnow")
        with pytest.raises(PermanentError, match="the bot may not post here"):
            make("telegram", {"url": fake.url, "chat": "@stopitnow"}, client).publish(post())


def test_telegram_cannot_be_asked_after_a_crash(client, monkeypatch):
    with FakeTelegram() as fake:
        monkeypatch.setenv(ENV, fake.token)
        with pytest.raises(OutcomeUnknown):
            make("telegram", {"url": fake.url, "chat": "@stopitnow"}, client).lookup(post())


def test_discord_attaches_the_image_with_alt_text_and_mentions_nobody(image, client, monkeypatch):
    with FakeDiscord() as fake:
        monkeypatch.setenv(ENV, fake.webhook_url)
        make("discord", {}, client).publish(post("@everyone help: 0808 1000 900", media=(image,)))
        [sent] = fake.messages
        assert sent["attachments"][0]["description"] == ALT
        body = fake.requests[0]
        assert body.query.get("wait") == "true"


def test_slack_refuses_an_image_rather_than_dropping_it(image, client, monkeypatch):
    with FakeSlack() as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("slack", {"url": fake.api_url, "channel": "C0123456789"}, client)
        with pytest.raises(PermanentError, match="images are not supported for Slack"):
            channel.publish(post(media=(image,)))
        assert fake.messages == []


def test_slack_internal_error_may_have_posted(client, monkeypatch):
    with FakeSlack() as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("slack", {"url": fake.api_url, "channel": "C0123456789"}, client)
        fake.fail_api("internal_error", posted=True)
        with pytest.raises(OutcomeUnknown):
            channel.publish(post())
        found = channel.lookup(post())
        assert found is not None and found.remote_id.startswith("C0123456789/")


def test_slack_incoming_webhook(client, monkeypatch):
    with FakeSlack() as fake:
        monkeypatch.setenv(ENV, fake.webhook_url)
        channel = make("slack", {}, client)
        assert channel.publish(post()).remote_url is None  # a webhook gives no id
        assert [p["text"] for p in fake.webhook_posts] == ["Confidential help: 0808 1000 900"]
        fake.fail_webhook("channel_is_archived")
        with pytest.raises(PermanentError, match="channel_is_archived"):
            channel.publish(post())
