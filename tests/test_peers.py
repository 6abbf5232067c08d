"""Smoke tests for the real-server fixtures (Synapse, atproto PDS), with raw httpx.

They pin down the server behaviour the Matrix and Bluesky channels rely on
(channels.md §2-3): Matrix txnId idempotency, Bluesky facets in UTF-8 byte offsets, image
blobs with alt text, and the 300-grapheme limit.
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.peers import BlueskyPds, Synapse

# --- Matrix ------------------------------------------------------------------------------


def test_matrix_send_is_idempotent_per_txn_id(synapse: Synapse) -> None:
    alice = synapse.register("alice", "alice-password")
    assert alice["user_id"] == "@alice:localhost"
    assert alice["access_token"] and alice["device_id"]
    room_id = synapse.create_room(alice["access_token"], "Newsroom")
    assert room_id.startswith("!")

    url = f"{synapse.url}/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/signpost-1"
    auth = {"Authorization": f"Bearer {alice['access_token']}"}
    content = {
        "msgtype": "m.text",
        "body": "Confidential help: 0808 1000 900",
        "format": "org.matrix.custom.html",
        "formatted_body": "Confidential help: <b>0808 1000 900</b>",
    }
    first = httpx.put(url, headers=auth, json=content)
    assert first.status_code == 200, first.text
    event_id = first.json()["event_id"]
    assert event_id.startswith("$")

    again = httpx.put(url, headers=auth, json=content)
    assert again.status_code == 200, again.text
    assert again.json()["event_id"] == event_id

    sent = [
        e for e in synapse.messages(alice["access_token"], room_id) if e["type"] == "m.room.message"
    ]
    assert [e["event_id"] for e in sent] == [event_id]  # one event, not two
    assert sent[0]["content"] == content
    assert sent[0]["unsigned"]["transaction_id"] == "signpost-1"

    # Another login is another device: the same txnId is a new event (channels.md §3).
    login = httpx.post(
        f"{synapse.url}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "alice-password",
        },
    )
    assert login.status_code == 200, login.text
    other = {"Authorization": f"Bearer {login.json()['access_token']}"}
    third = httpx.put(url, headers=other, json=content)
    assert third.status_code == 200, third.text
    assert third.json()["event_id"] != event_id
    newest = synapse.messages(alice["access_token"], room_id)[0]
    assert newest["event_id"] == third.json()["event_id"]


def test_matrix_bad_token_is_401(synapse: Synapse) -> None:
    response = httpx.post(
        f"{synapse.url}/_matrix/client/v3/createRoom",
        headers={"Authorization": "Bearer not-a-token"},
        json={},
    )
    assert response.status_code == 401
    assert response.json()["errcode"] == "M_UNKNOWN_TOKEN"


# --- Bluesky -----------------------------------------------------------------------------


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def alice(bluesky_pds: BlueskyPds) -> dict[str, Any]:
    """alice.test, logged in with createSession as the channel would."""
    account = bluesky_pds.create_account("alice.test", "alice-password")
    assert account["handle"] == "alice.test"
    assert account["did"].startswith("did:plc:")
    assert account["accessJwt"] and account["refreshJwt"]
    session = httpx.post(
        bluesky_pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": "alice.test", "password": "alice-password"},
    )
    assert session.status_code == 200, session.text
    assert session.json()["did"] == account["did"]
    return session.json()


def create_post(pds: BlueskyPds, who: dict[str, Any], record: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers={"Authorization": f"Bearer {who['accessJwt']}"},
        json={
            "repo": who["did"],
            "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "createdAt": now(), **record},
        },
    )


def test_bluesky_post_with_link_facet(bluesky_pds: BlueskyPds, alice: dict[str, Any]) -> None:
    link = "stopitnow.org.uk"
    text = f"Inquiet·e ? Aide confidentielle ☎ 0808 1000 900 — {link}"
    encoded = text.encode()
    start = encoded.index(link.encode())  # UTF-8 bytes, not characters
    assert start != text.index(link)
    facet = {
        "index": {"byteStart": start, "byteEnd": start + len(link.encode())},
        "features": [
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://www.stopitnow.org.uk/"}
        ],
    }
    response = create_post(bluesky_pds, alice, {"text": text, "langs": ["fr"], "facets": [facet]})
    assert response.status_code == 200, response.text
    uri = response.json()["uri"]
    assert uri.startswith(f"at://{alice['did']}/app.bsky.feed.post/")
    assert response.json()["cid"]

    stored = bluesky_pds.get_record(uri)
    assert stored["value"]["text"] == text
    index = stored["value"]["facets"][0]["index"]
    assert encoded[index["byteStart"] : index["byteEnd"]].decode() == link
    assert uri in [r["uri"] for r in bluesky_pds.list_records(alice["did"])]


def test_bluesky_image_post_with_alt(bluesky_pds: BlueskyPds, alice: dict[str, Any]) -> None:
    png = tiny_png()
    upload = httpx.post(
        bluesky_pds.xrpc("com.atproto.repo.uploadBlob"),
        headers={"Authorization": f"Bearer {alice['accessJwt']}", "Content-Type": "image/png"},
        content=png,
    )
    assert upload.status_code == 200, upload.text
    blob = upload.json()["blob"]
    assert blob["mimeType"] == "image/png"
    assert blob["size"] == len(png)
    alt = "The helpline number, 0808 1000 900, on a green card"
    embed = {
        "$type": "app.bsky.embed.images",
        "images": [{"image": blob, "alt": alt, "aspectRatio": {"width": 1, "height": 1}}],
    }
    response = create_post(bluesky_pds, alice, {"text": "", "embed": embed})
    assert response.status_code == 200, response.text

    stored = bluesky_pds.get_record(response.json()["uri"])["value"]["embed"]
    assert stored["images"][0]["alt"] == alt
    assert stored["images"][0]["image"]["ref"] == blob["ref"]


def test_bluesky_counts_graphemes_not_code_points(
    bluesky_pds: BlueskyPds, alice: dict[str, Any]
) -> None:
    decomposed_e = "e\u0301"  # one grapheme, two code points, three UTF-8 bytes
    fits = create_post(bluesky_pds, alice, {"text": decomposed_e * 300})
    assert fits.status_code == 200, fits.text

    too_long = create_post(bluesky_pds, alice, {"text": decomposed_e * 301})
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "InvalidRequest"
