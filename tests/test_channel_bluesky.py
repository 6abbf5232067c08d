# ruff: noqa: F811  (the fixture client, imported from tests.shared)
"""The Bluesky adapter against a real atproto PDS on loopback (peers.md §4)."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, PermanentError
from tests.conftest import outgoing
from tests.peers import BlueskyPds
from tests.shared import client, on_wall_clock  # noqa: F401

ENV = "SIGNPOST_TEST_BLUESKY_PASSWORD"
PASSWORD = "app-password-for-tests"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
_accounts = itertools.count()


@pytest.fixture
def account(bluesky_pds: BlueskyPds, monkeypatch: pytest.MonkeyPatch) -> dict:
    created = bluesky_pds.create_account(f"force{next(_accounts)}.test", PASSWORD)
    monkeypatch.setenv(ENV, PASSWORD)
    return created


def channel(pds: BlueskyPds, handle: str, client: httpx.Client):
    return on_wall_clock("bluesky", {"url": pds.url, "handle": handle, "token_env": ENV}, client)


def test_link_facet_offsets_are_utf8_bytes(bluesky_pds: BlueskyPds, account, client):
    text = "Worried? 👍🏽 Café talk — confidential help 0808 1000 900"
    link = "https://www.stopitnow.org.uk/get-help"
    receipt = channel(bluesky_pds, account["handle"], client).publish(
        outgoing("bluesky", text, "sp-bsky-1", link=link)
    )
    rkey = receipt.remote_id.rsplit("/", 1)[-1]
    assert receipt.remote_url == f"https://bsky.app/profile/{account['handle']}/post/{rkey}"
    record = bluesky_pds.get_record(receipt.remote_id)["value"]
    assert record["text"] == f"{text}\n\n{link}"
    [facet] = record["facets"]
    encoded = record["text"].encode("utf-8")
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert encoded[start:end].decode("utf-8") == link
    assert start != record["text"].index(link)  # bytes, not characters
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": link}]
    assert record["embed"]["$type"] == "app.bsky.embed.external"
    assert record["embed"]["external"]["uri"] == link


def test_image_with_alt_text(bluesky_pds: BlueskyPds, account, client, tmp_path: Path):
    image = tmp_path / "card.png"
    image.write_bytes(PNG)
    alt = "Card with the Stop It Now helpline number 0808 1000 900"
    receipt = channel(bluesky_pds, account["handle"], client).publish(
        Message(
            text="Help is confidential: 0808 1000 900",
            idempotency_key="sp-bsky-2",
            media=(Media(str(image), hashlib.sha256(PNG).hexdigest(), alt),),
        )
    )
    record = bluesky_pds.get_record(receipt.remote_id)["value"]
    [shown] = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert shown["alt"] == alt
    assert shown["image"]["mimeType"] == "image/png"


def test_lookup_finds_a_post_after_a_crash(bluesky_pds: BlueskyPds, account, client):
    adapter = channel(bluesky_pds, account["handle"], client)
    sent = Message(text="Sent before the crash: 0808 1000 900", idempotency_key="sp-bsky-3")
    receipt = adapter.publish(sent)
    fresh = channel(bluesky_pds, account["handle"], client)  # a restarted daemon
    assert fresh.lookup(sent) == receipt
    assert fresh.lookup(Message(text="Never sent", idempotency_key="sp-bsky-4")) is None


def test_wrong_password_and_over_long(bluesky_pds: BlueskyPds, account, client, monkeypatch):
    adapter = channel(bluesky_pds, account["handle"], client)
    with pytest.raises(PermanentError, match=r"bluesky: refused with 400"):
        adapter.publish(Message(text="x" * 301, idempotency_key="sp-bsky-5"))
    assert adapter.check().startswith(f"signed in as {account['handle']}")
    monkeypatch.setenv(ENV, "wrong-password")
    with pytest.raises(PermanentError, match="credentials rejected by bluesky"):
        channel(bluesky_pds, account["handle"], client).check()


def test_a_rejected_session_is_renewed_once(bluesky_pds: BlueskyPds, account, client):
    adapter = channel(bluesky_pds, account["handle"], client)
    adapter.check()
    adapter._session["accessJwt"] = adapter._session["refreshJwt"]  # the PDS refuses it
    receipt = adapter.publish(
        Message(text="After refresh: 0808 1000 900", idempotency_key="sp-bsky-6")
    )
    assert bluesky_pds.get_record(receipt.remote_id)["value"]["text"].startswith("After refresh")
