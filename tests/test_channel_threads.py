"""The Threads adapter against the Threads contract fake over loopback (channels.md §13).

The container is the prepared object: created first (never public), its id recorded, then
published. An unknown outcome is settled by its status, so a lost answer never becomes a
second post; images are copied to a public folder that the fake really fetches from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, TransientError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.fakes.threads import FakeThreads
from tests.shared import token_file
from tests.test_fake_threads import png

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900"
ENV = "SIGNPOST_TEST_THREADS_TOKEN"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeThreads]:
    with FakeThreads(clock=clock) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def public(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``[media] public_dir`` served over loopback HTTP, as the organisation's web server."""
    folder = tmp_path / "www" / "media"
    folder.mkdir(parents=True)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=folder.parent)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}/media"
    server.shutdown()
    server.server_close()


def threads(fake: FakeThreads, http: httpx.Client, clock: FrozenClock, **options):
    slept: list[float] = []
    channel = build(
        "threads",
        "threads",
        {"url": fake.url, "user_id": fake.user_id, "token_env": ENV, **options},
        client=http,
        now=clock.now,
    )
    channel.sleep = slept.append  # polls never wait in a test
    channel.slept = slept
    return channel


@pytest.fixture
def channel(fake, http, clock, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, fake.token)
    return threads(fake, http, clock)


def prepared(channel, text: str = TEXT, **extra) -> Message:
    """The message as the engine sends it: prepared first, the container id recorded."""
    message = Message(text=text, idempotency_key="sp-threads-1", **extra)
    return replace(message, prepared=channel.prepare(message))


def lose_the_publish(fake: FakeThreads, *, processed: bool) -> None:
    """The status read before publishing is answered; the publish's answer is lost."""
    fake.delay_next(0)  # the status read: answered as usual
    fake.drop_next(processed=processed)


def test_a_text_post_goes_out_through_its_container(channel, fake: FakeThreads) -> None:
    sent = prepared(channel)
    assert fake.posts == []  # a container is not public

    receipt = channel.publish(sent)

    (post,) = fake.posts
    assert post["text"] == TEXT and post["container"] == sent.prepared
    assert receipt.remote_id == post["id"]
    assert receipt.remote_url == post["permalink"]
    assert fake.tokens_in_urls == 0
    assert all(r.headers.get("authorization") == f"Bearer {fake.token}" for r in fake.requests)


def test_publish_lost_after_it_landed_is_settled_as_sent_without_a_second_publish(
    channel, fake: FakeThreads
) -> None:
    sent = prepared(channel)
    lose_the_publish(fake, processed=True)

    with pytest.raises(OutcomeUnknown):
        channel.publish(sent)

    assert channel.lookup(sent) is not None  # the container says PUBLISHED
    channel.publish(sent)  # even a retry does not publish again
    assert len(fake.posts) == 1
    publishes = [r for r in fake.requests if r.path.endswith("/threads_publish")]
    assert len(publishes) == 1


def test_publish_lost_before_it_landed_is_published_once_on_the_retry(
    channel, fake: FakeThreads
) -> None:
    sent = prepared(channel)
    lose_the_publish(fake, processed=False)  # read, then the connection dies unanswered

    with pytest.raises(OutcomeUnknown):
        channel.publish(sent)

    assert fake.posts == []
    assert channel.lookup(sent) is None  # FINISHED: not published, safe to publish
    channel.publish(sent)
    assert len(fake.posts) == 1


def test_an_expired_container_fails_saying_why(channel, fake: FakeThreads) -> None:
    sent = prepared(channel)
    fake.expire_container(sent.prepared)

    with pytest.raises(PermanentError, match="container is EXPIRED: not published within 24"):
        channel.publish(sent)
    assert channel.lookup(sent) is None
    assert fake.posts == []


def test_publishing_waits_for_the_container_within_the_deadline(channel, fake: FakeThreads) -> None:
    fake.processing_polls = 2
    sent = prepared(channel)

    channel.publish(sent)

    assert len(fake.posts) == 1
    assert len(channel.slept) == 2


def test_an_image_is_copied_to_the_public_folder_and_fetched_from_there(
    fake, http, clock, public, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, fake.token)
    folder, base = public
    channel = threads(fake, http, clock, public_dir=str(folder), public_url=base)
    data = png()
    image = tmp_path / "card.png"
    image.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    channel.publish(prepared(channel, media=(Media(str(image), digest, "The helpline card"),)))

    (post,) = fake.posts
    assert post["media_type"] == "IMAGE"
    assert post["image_url"] == f"{base}/{digest}.png"
    assert post["alt_text"] == "The helpline card"
    assert (folder / f"{digest}.png").read_bytes() == data


def test_an_image_without_a_public_folder_is_refused_naming_the_keys(
    channel, fake: FakeThreads, tmp_path: Path
) -> None:
    image = tmp_path / "card.png"
    image.write_bytes(png())
    media = Media(str(image), hashlib.sha256(image.read_bytes()).hexdigest(), "card")

    with pytest.raises(PermanentError, match=r"set \[media\] public_dir and public_url"):
        channel.prepare(Message(text=TEXT, idempotency_key="k", media=(media,)))
    assert fake.containers == {}


def test_a_token_file_is_renewed_before_it_lapses(
    fake, http, clock: FrozenClock, tmp_path: Path
) -> None:
    soon = (NOW + timedelta(minutes=2)).isoformat()
    path = token_file(tmp_path / "threads.json", {"access_token": fake.token, "expires_at": soon})
    channel = build(
        "threads",
        "threads",
        {"url": fake.url, "user_id": fake.user_id, "token_file": str(path)},
        client=http,
        now=clock.now,
    )

    channel.publish(prepared(channel))

    assert fake.refreshes == 1
    stored = json.loads(path.read_text())
    assert stored["access_token"] == fake.token
    assert datetime.fromisoformat(stored["expires_at"]) == NOW + timedelta(days=60)
    assert fake.tokens_in_urls == 0


def test_an_expired_token_is_credentials_rejected_not_a_loop(channel, fake: FakeThreads) -> None:
    fake.expire_token()

    with pytest.raises(PermanentError, match="credentials rejected by threads"):
        channel.publish(Message(text=TEXT, idempotency_key="k"))
    assert len(fake.requests) == 1


def test_metas_rate_limit_is_transient_and_waits(channel, fake: FakeThreads) -> None:
    fake.rate_limit()

    with pytest.raises(TransientError) as limited:
        channel.publish(Message(text=TEXT, idempotency_key="k"))

    assert limited.value.retry_after == 300
    assert "Application request limit reached (code 4)" in str(limited.value)


def test_check_names_the_profile(channel, fake: FakeThreads) -> None:
    assert channel.check() == "signed in as @stopitnow"
    assert fake.containers == {}
