"""The Matrix adapter against a real Synapse homeserver on loopback (peers.md §2)."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, PermanentError
from tests.conftest import outgoing
from tests.peers import Synapse
from tests.shared import on_wall_clock

ENV = "SIGNPOST_TEST_MATRIX_TOKEN"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
_users = itertools.count()


@pytest.fixture
def room(synapse: Synapse, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, str]:
    user = synapse.register(f"signpost{next(_users)}", "pw-signpost")
    room_id = synapse.create_room(user["access_token"], "Stop It Now")
    monkeypatch.setenv(ENV, user["access_token"])
    return user, room_id


def channel(synapse: Synapse, room_id: str, client: httpx.Client):
    return on_wall_clock("matrix", {"url": synapse.url, "room": room_id, "token_env": ENV}, client)


def message(key: str, **extra) -> Message:
    return outgoing(
        "matrix",
        "Confidential help: 0808 1000 900",
        key,
        link="https://www.stopitnow.org.uk/",
        **extra,
    )


def texts(synapse: Synapse, token: str, room_id: str) -> list[dict]:
    return [e for e in synapse.messages(token, room_id) if e["type"] == "m.room.message"]


def test_publish_then_again_with_the_same_key_is_one_message(synapse: Synapse, room):
    user, room_id = room
    with httpx.Client() as client:
        adapter = channel(synapse, room_id, client)
        first = adapter.publish(message("sp-matrix-1"))
        again = adapter.publish(message("sp-matrix-1"))
    assert again.remote_id == first.remote_id
    assert first.remote_url == (
        f"https://matrix.to/#/{room_id.replace('!', '%21')}/{first.remote_id.replace('$', '%24')}"
        f"?via=localhost"
    )
    events = texts(synapse, user["access_token"], room_id)
    assert len(events) == 1
    assert events[0]["event_id"] == first.remote_id
    assert events[0]["content"]["body"] == (
        "Confidential help: 0808 1000 900\n\nhttps://www.stopitnow.org.uk/"
    )


def test_image_goes_first_with_its_alt_text(synapse: Synapse, room, tmp_path: Path):
    user, room_id = room
    image = tmp_path / "helpline.png"
    image.write_bytes(PNG)
    media = Media(
        str(image), hashlib.sha256(PNG).hexdigest(), "Stop It Now helpline card: 0808 1000 900"
    )
    with httpx.Client() as client:
        channel(synapse, room_id, client).publish(message("sp-matrix-img", media=(media,)))
    events = list(reversed(texts(synapse, user["access_token"], room_id)))
    assert [e["content"]["msgtype"] for e in events] == ["m.image", "m.text"]
    assert events[0]["content"]["body"] == "Stop It Now helpline card: 0808 1000 900"
    assert events[0]["content"]["url"].startswith("mxc://")


def test_check_and_bad_token(synapse: Synapse, room, monkeypatch: pytest.MonkeyPatch):
    user, room_id = room
    with httpx.Client() as client:
        assert channel(synapse, room_id, client).check() == (
            f"signed in as {user['user_id']}, member of {room_id}"
        )
        monkeypatch.setenv(ENV, "not-a-token")
        with pytest.raises(
            PermanentError, match=r"credentials rejected by matrix \(M_UNKNOWN_TOKEN"
        ):
            channel(synapse, room_id, client).publish(message("sp-matrix-bad"))


def test_a_room_the_user_is_not_in_is_refused(synapse: Synapse, room):
    other = synapse.register(f"signpost{next(_users)}", "pw-signpost")
    foreign = synapse.create_room(other["access_token"], "Elsewhere")
    with httpx.Client() as client:
        adapter = channel(synapse, foreign, client)
        with pytest.raises(PermanentError, match="has not joined"):
            adapter.check()
        with pytest.raises(PermanentError, match=r"matrix: not allowed \(M_FORBIDDEN"):
            adapter.publish(message("sp-matrix-foreign"))
