# ruff: noqa: F811  (the fixture client, imported from tests.shared)
"""The Atom feed channel writing a real file under tmp_path (channels.md §12, RFC 4287)."""

from __future__ import annotations

import os
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from channels.base import Adapter, ChannelError, Message, PermanentError, Receipt
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.shared import client  # noqa: F401

ATOM = "http://www.w3.org/2005/Atom"
A = f"{{{ATOM}}}"
FEED_ID = "tag:stopitnow.org.uk,2026:signpost"
NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

MESSAGE = Message(
    text="Worried about your thoughts? Call 0808 1000 900 <free> & confidential.",
    idempotency_key="d42-7f3a9c",
    link="https://stopitnow.org.uk/help",
    title="Confidential help",
    campaign="stop-it-now",
    post_id=42,
    delivery_id=7,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def feed_path(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    return folder / "feed.xml"


@pytest.fixture
def channel(feed_path: Path, client: httpx.Client, clock: FrozenClock) -> Adapter:
    """The feed channel writing ``feed_path``: what most tests here publish through."""
    return feed_channel(feed_path, client, clock)


def feed_channel(path: Path, client: httpx.Client, clock: FrozenClock, **options: str):  # type: ignore[no-untyped-def]
    return build(
        "website",
        "feed",
        {
            "path": str(path),
            "feed_id": FEED_ID,
            "title": "Stop It Now news",
            "self_url": "https://stopitnow.org.uk/feed.xml",
            "author": "Stop It Now",
            **options,
        },
        client=client,
        now=clock.now,
    )


def post(n: int) -> Message:
    return Message(text=f"Post number {n}", idempotency_key=f"key-{n:03d}")


def feed_after_one_post(channel: Adapter, path: Path) -> bytes:
    """Publish post 1 to the feed at ``path``: its bytes then, the old feed that a replacement
    or a failed write must leave whole."""
    channel.publish(post(1))
    return path.read_bytes()


def entries(path: Path) -> list[ElementTree.Element]:
    return ElementTree.parse(path).getroot().findall(f"{A}entry")


def entry_ids(path: Path) -> list[str]:
    return [e.findtext(f"{A}id") for e in entries(path)]


def alternates(entry: ElementTree.Element) -> list[str]:
    """The entry's alternate links: a link without ``rel`` is one (RFC 4287 §4.2.7.2)."""
    return [
        link.get("href")
        for link in entry.findall(f"{A}link")
        if link.get("rel", "alternate") == "alternate"
    ]


def leftovers(path: Path) -> list[str]:
    """Files beside the feed other than the feed and its lock file."""
    return sorted(
        p.name for p in path.parent.iterdir() if p.name not in {path.name, f"{path.name}.lock"}
    )


def test_publish_writes_a_valid_atom_feed(channel: Adapter, feed_path: Path) -> None:
    receipt = channel.publish(MESSAGE)

    root = ElementTree.parse(feed_path).getroot()
    assert root.tag == f"{A}feed"
    assert feed_path.read_bytes().startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert [c.text for c in root.findall(f"{A}id")] == [FEED_ID]
    assert root.findtext(f"{A}title") == "Stop It Now news"
    assert datetime.fromisoformat(root.findtext(f"{A}updated")) == NOW
    assert root.findtext(f"{A}author/{A}name") == "Stop It Now"
    [self_link] = root.findall(f"{A}link[@rel='self']")
    assert self_link.get("href") == "https://stopitnow.org.uk/feed.xml"
    [entry] = root.findall(f"{A}entry")
    assert [c.text for c in entry.findall(f"{A}id")] == [f"{FEED_ID}:d42-7f3a9c"]
    assert entry.findtext(f"{A}title") == "Confidential help"
    assert datetime.fromisoformat(entry.findtext(f"{A}updated")) == NOW
    content = entry.find(f"{A}content")
    assert content.get("type") == "text"
    assert content.text == MESSAGE.text
    assert alternates(entry) == ["https://stopitnow.org.uk/help"]
    assert receipt.remote_id == f"{FEED_ID}:d42-7f3a9c"


def test_an_entry_without_a_title_is_titled_by_its_text(channel: Adapter, feed_path: Path) -> None:
    long = "Help is free.   " + "x" * 100
    channel.publish(Message(text=long, idempotency_key="k"))

    [entry] = entries(feed_path)
    title = entry.findtext(f"{A}title")
    assert title.startswith("Help is free. xxx")
    assert len(title) == 80 and title.endswith("…")


def test_publishing_twice_leaves_one_entry_and_lookup_finds_it(
    channel: Adapter, feed_path: Path, clock: FrozenClock
) -> None:
    first = channel.publish(MESSAGE)
    clock.advance(timedelta(minutes=5))

    second = channel.publish(MESSAGE)

    assert entry_ids(feed_path) == [f"{FEED_ID}:d42-7f3a9c"]
    assert first == second
    found = channel.lookup(MESSAGE)
    assert isinstance(found, Receipt)
    assert found.remote_id == first.remote_id == f"{FEED_ID}:d42-7f3a9c"
    assert channel.lookup(post(1)) is None
    assert channel.deduplicates is True


def test_lookup_gives_the_receipt_publish_gave(channel: Adapter) -> None:
    published = channel.publish(MESSAGE)

    assert channel.lookup(MESSAGE) == published


def test_earlier_entries_keep_their_links(
    channel: Adapter, feed_path: Path, clock: FrozenClock
) -> None:
    channel.publish(MESSAGE)
    clock.advance(timedelta(minutes=1))
    channel.publish(Message(text="Another post", idempotency_key="d43-0b1c2d"))

    assert [alternates(e) for e in entries(feed_path)] == [[MESSAGE.link], []]


def test_lookup_before_any_publish_finds_nothing(channel: Adapter, feed_path: Path) -> None:
    assert channel.lookup(MESSAGE) is None
    assert not feed_path.exists()


def test_the_feed_keeps_the_50_newest_entries(
    channel: Adapter, feed_path: Path, clock: FrozenClock
) -> None:
    for n in range(55):
        channel.publish(post(n))
        clock.advance(timedelta(minutes=1))

    assert entry_ids(feed_path) == [f"{FEED_ID}:key-{n:03d}" for n in range(5, 55)]
    assert channel.lookup(post(4)) is None
    assert channel.lookup(post(5)) is not None


def test_publishing_leaves_no_temporary_files(channel: Adapter, feed_path: Path) -> None:
    for n in range(3):
        channel.publish(post(n))

    assert leftovers(feed_path) == []
    assert oct(feed_path.stat().st_mode & 0o777) == oct(0o644)


def test_an_existing_feed_is_replaced_not_rewritten_in_place(
    channel: Adapter, feed_path: Path, clock: FrozenClock
) -> None:
    """A reader that opened the old feed keeps reading all of it: the file is renamed over."""
    old = feed_after_one_post(channel, feed_path)

    with open(feed_path, "rb") as reader:
        clock.advance(timedelta(minutes=1))
        channel.publish(post(2))
        assert reader.read() == old  # not truncated under the reader

    assert feed_path.read_bytes() != old
    assert entry_ids(feed_path) == [f"{FEED_ID}:key-001", f"{FEED_ID}:key-002"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_a_read_only_folder_is_permanent_and_keeps_the_old_feed(
    channel: Adapter, feed_path: Path
) -> None:
    old = feed_after_one_post(channel, feed_path)
    os.chmod(feed_path.parent, 0o555)
    try:
        with pytest.raises(PermanentError, match="cannot write"):
            channel.publish(post(2))
    finally:
        os.chmod(feed_path.parent, 0o755)

    assert feed_path.read_bytes() == old
    assert leftovers(feed_path) == []


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk (works as root too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the process is killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_an_interrupted_write_keeps_the_old_feed(channel: Adapter, feed_path: Path) -> None:
    """The write fails part-way (file too large, like a full disk): the feed is untouched."""
    old = feed_after_one_post(channel, feed_path)
    big = Message(text="x" * 4096, idempotency_key="too-big")

    with file_size_limit(2048), pytest.raises(ChannelError, match="writing") as caught:
        channel.publish(big)

    assert str(feed_path) in str(caught.value)
    assert feed_path.read_bytes() == old
    assert entry_ids(feed_path) == [f"{FEED_ID}:key-001"]
    assert channel.lookup(big) is None


def test_an_interrupted_write_leaves_no_temporary_file(channel: Adapter, feed_path: Path) -> None:
    channel.publish(post(1))

    with file_size_limit(2048), pytest.raises(ChannelError):
        channel.publish(Message(text="x" * 4096, idempotency_key="too-big"))

    assert leftovers(feed_path) == []


def test_a_missing_folder_is_permanent(
    tmp_path: Path, client: httpx.Client, clock: FrozenClock
) -> None:
    path = tmp_path / "no-such-folder" / "feed.xml"

    with pytest.raises(PermanentError, match="does not exist"):
        feed_channel(path, client, clock).publish(MESSAGE)


def test_check_reports_a_missing_folder(
    tmp_path: Path, client: httpx.Client, clock: FrozenClock
) -> None:
    channel = feed_channel(tmp_path / "no-such-folder" / "feed.xml", client, clock)

    with pytest.raises(PermanentError, match="no-such-folder does not exist"):
        channel.check()


def test_a_corrupt_feed_is_permanent_and_left_alone(channel: Adapter, feed_path: Path) -> None:
    feed_path.write_text("<feed><entry>", encoding="utf-8")

    with pytest.raises(PermanentError, match="is not a valid feed"):
        channel.publish(MESSAGE)

    assert feed_path.read_text(encoding="utf-8") == "<feed><entry>"


def test_two_publishers_at_once_lose_no_entry(
    feed_path: Path, client: httpx.Client, clock: FrozenClock
) -> None:
    """Two daemons (two adapters) publish 10 posts each at the same time: all 20 remain."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def publisher(numbers: range) -> None:
        channel = feed_channel(feed_path, client, clock)
        try:
            start.wait(5)
            for n in numbers:
                channel.publish(post(n))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=publisher, args=(range(0, 20, 2),)),
        threading.Thread(target=publisher, args=(range(1, 20, 2),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sorted(entry_ids(feed_path)) == [f"{FEED_ID}:key-{n:03d}" for n in range(20)]
    assert leftovers(feed_path) == []
