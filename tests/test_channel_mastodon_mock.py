"""A second opinion on the Mastodon adapter: the third-party ``mastodon-mock`` server.

Our contract fake (tests/fakes/mastodon.py) stays the reference (peers.md §5); this mock was
written by others from the same public API, so passing both lowers the chance that the
adapter and our fake share a misreading.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, PermanentError
from channels.registry import build

mock = pytest.importorskip("mastodon_mock.testing.server")
ENV = "SIGNPOST_TEST_MASTODON_TOKEN"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def server():
    with mock.MockServer() as running:
        yield running


@pytest.fixture
def channel(server, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, "alice_token")
    with httpx.Client(timeout=10) as client:
        yield build(
            "mastodon",
            "mastodon",
            {"url": server.base_url, "token_env": ENV},
            client=client,
            now=lambda: datetime.now(UTC),
        )


def test_publish_and_idempotency(channel):
    message = Message(
        text="Confidential help: 0808 1000 900",
        idempotency_key="sp-mm-1",
        link="https://www.stopitnow.org.uk/",
    )
    first = channel.publish(message)
    again = channel.publish(message)
    assert first.remote_id == again.remote_id
    assert first.remote_url
    assert channel.lookup(message) == first


def test_image_with_alt_text(channel, tmp_path: Path):
    image = tmp_path / "card.png"
    image.write_bytes(PNG)
    receipt = channel.publish(
        Message(
            text="Helpline card: 0808 1000 900",
            idempotency_key="sp-mm-2",
            media=(Media(str(image), hashlib.sha256(PNG).hexdigest(), "Helpline card"),),
        )
    )
    assert receipt.remote_id


def test_bad_token(channel, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, "not-a-token")
    with pytest.raises(PermanentError, match=r"credentials rejected by mastodon \(401\)"):
        channel.publish(Message(text="x", idempotency_key="sp-mm-3"))
