"""One contract every adapter keeps, run against every channel type but Instagram (whose
posts need an image: tests/test_channel_instagram.py keeps the same contract with one).

Mastodon, Telegram, Discord, Slack, X, Facebook, LinkedIn and Threads run against their
contract fakes (tests/fakes/, which follow ../shared/channels.md and were written
independently of the adapters); the webhook against the peers' receiver, email against
aiosmtpd with STARTTLS and AUTH, the feed against a temp file, Matrix and Bluesky against a
real Synapse and a real PDS (tests/peers.py).
Adding a channel means adding a ``Case`` here, not new test logic. What every adapter must
do, where the type has the notion at all (otherwise the case is skipped, saying why):

- publish the text (with the link) and return the remote id and public URL;
- send the same delivery twice: one post where the channel deduplicates or refuses an exact
  repeat (X: the refusal is recognised as the first send), else two;
- 429 → TransientError with the server's delay; bad credentials → PermanentError that names
  the channel and never the secret; a validation refusal (over-long) → PermanentError with
  the server's words;
- a connection lost after the request was read → OutcomeUnknown, never success or a retry;
- ``check`` authenticates without posting, and fails permanently on bad credentials.

Faults beyond these (resets, slow replies, garbage, storms) are in test_channel_faults.py.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import pytest

from channels.base import Message, OutcomeUnknown, PermanentError, Receipt, TransientError
from channels.registry import build
from tests.conftest import outgoing
from tests.fakes.discord import FakeDiscord
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.threads import FakeThreads
from tests.fakes.x import FakeX

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900"
LINK = "https://www.stopitnow.org.uk/"
WHSEC = "whsec_c2lnbnBvc3QtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="
FEED_URL = "https://www.example.org/feeds/signpost.atom"
_users = itertools.count()


@dataclass
class Peer:
    """A running service for one case: where it is, and what it now holds."""

    options: dict[str, Any]
    secret: str
    posts: Callable[[], list[str]]  # the texts the service now holds, oldest first
    url: Callable[[Receipt], str | None]  # the public URL the receipt must carry
    reject: Callable[[pytest.MonkeyPatch], None]  # make the credentials wrong
    rate_limit: Callable[[float], None] | None = None
    drop_processed: Callable[[], None] | None = None  # lose the answer, the post made
    has_id: bool = True


@dataclass(frozen=True)
class Case:
    """How to run one channel type against its service."""

    type: str
    start: Callable[[pytest.FixtureRequest], Any]  # a context manager yielding a Peer
    deduplicates: bool
    limit: int | None = None  # characters that are refused (one over the channel's limit)
    validation: str = ""  # words of the server's validation refusal
    skip: dict[str, str] = field(default_factory=dict)  # test name → why it does not apply
    #: the channel refuses an exact repeat (X's duplicate 403): the second send of a delivery
    #: is recognised as the first, found on the account, not posted again
    refuses_repeats: bool = False


def _wrong(secret: str) -> Callable[[pytest.MonkeyPatch], None]:
    return lambda monkeypatch: monkeypatch.setenv(ENV, secret)


@contextmanager
def _fake(factory: Callable[[], Any], peer: Callable[[Any], Peer]) -> Iterator[Peer]:
    with factory() as fake:
        yield peer(fake)


def _fake_peer(options, secret, posts, url) -> Callable[[Any], Peer]:
    def peer(fake: Any) -> Peer:
        return Peer(
            options(fake),
            secret(fake),
            lambda: posts(fake),
            lambda receipt: url(fake, receipt),
            lambda monkeypatch: fake.reject_token(),
            fake.rate_limit,
            lambda: fake.drop_next(processed=True),
        )

    return peer


def mastodon(request: pytest.FixtureRequest):
    return _fake(
        FakeMastodon,
        _fake_peer(
            lambda f: {"url": f.url},
            lambda f: f.token,
            lambda f: list(f.sources.values()),
            lambda f, r: next(s["url"] for s in f.statuses if s["id"] == r.remote_id),
        ),
    )


def _bot_fake(factory: Callable[[], Any], options, url):
    """A fake whose secret is its bot token and whose posts are its messages' ``text``:
    Telegram's and Slack's differ only in the options and the public URL."""
    return _fake(
        factory,
        _fake_peer(options, lambda f: f.token, lambda f: [m["text"] for m in f.messages], url),
    )


def telegram(request: pytest.FixtureRequest):
    return _bot_fake(
        FakeTelegram,
        lambda f: {"url": f.url, "chat": "@stopitnow"},
        lambda f, r: f"https://t.me/stopitnow/{r.remote_id.rsplit('/', 1)[1]}",
    )


def discord(request: pytest.FixtureRequest):
    return _fake(
        FakeDiscord,
        _fake_peer(
            lambda f: {},
            lambda f: f.webhook_url,
            lambda f: [m["content"] for m in f.messages],
            lambda f, r: f.message_url(next(m for m in f.messages if m["id"] == r.remote_id)),
        ),
    )


def x(request: pytest.FixtureRequest):
    return _fake(
        FakeX,
        _fake_peer(
            lambda f: {"url": f.url, "username": f.username},
            lambda f: f.grant()["access_token"],
            lambda f: [t["text"] for t in f.tweets],
            lambda f, r: f.tweet_url(r.remote_id),
        ),
    )


def threads(request: pytest.FixtureRequest):
    def peer(fake: FakeThreads) -> Peer:
        return Peer(
            {"url": fake.url, "user_id": fake.user_id},
            fake.token,
            lambda: [p["text"] for p in fake.posts],
            lambda r: next(p["permalink"] for p in fake.posts if p["id"] == r.remote_id),
            lambda monkeypatch: fake.expire_token(),
        )

    return _fake(FakeThreads, peer)


def facebook(request: pytest.FixtureRequest):
    def peer(fake: FakeFacebook) -> Peer:
        return Peer(
            {"url": fake.url, "page_id": fake.page_id},
            fake.token,
            lambda: [p["message"] for p in fake.posts],
            lambda r: next(p["permalink_url"] for p in fake.posts if p["id"] == r.remote_id),
            lambda monkeypatch: fake.expire_token(),
            drop_processed=lambda: fake.drop_next(processed=True),
        )

    return _fake(FakeFacebook, peer)


def linkedin(request: pytest.FixtureRequest):
    def peer(fake: FakeLinkedIn) -> Peer:
        return Peer(
            {"url": fake.url, "author": fake.author, "version": fake.version},
            fake.grant()["access_token"],
            lambda: [fake.rendered(p) for p in fake.posts],
            lambda r: fake.post_url(r.remote_id),
            lambda monkeypatch: fake.reject_token(),
            drop_processed=lambda: fake.drop_next(processed=True),
        )

    return _fake(FakeLinkedIn, peer)


def slack(request: pytest.FixtureRequest):
    return _bot_fake(
        FakeSlack,
        lambda f: {"url": f.api_url, "channel": "C0123456789"},
        lambda f, r: f.permalink(*r.remote_id.split("/")),
    )


@contextmanager
def webhook(request: pytest.FixtureRequest) -> Iterator[Peer]:
    receiver = request.getfixturevalue("webhook_receiver")

    refused: set[int] = set()  # indexes of requests answered 429

    def posts() -> list[str]:  # the receiver keeps each webhook-id it accepted once
        events = {
            r.headers["webhook-id"]: r.body
            for i, r in enumerate(receiver.requests)
            if r.method == "POST" and i not in refused
        }
        return [json.loads(body)["data"]["text"] for body in events.values()]

    def rate_limit(seconds: float) -> None:
        refused.add(len(receiver.requests))
        receiver.respond(429, {"Retry-After": str(int(seconds))})

    yield Peer(
        {"url": f"{receiver.url}/hook"},
        WHSEC,
        posts,
        lambda receipt: None,
        _wrong("whsec_dG9vLXNob3J0"),  # the receiver cannot say; our check refuses it
        rate_limit,
        receiver.drop,  # the receiver has read (and keeps) the request, then drops
        has_id=False,
    )


@contextmanager
def feed(request: pytest.FixtureRequest) -> Iterator[Peer]:
    folder: Path = request.getfixturevalue("tmp_path")
    path = folder / "signpost.atom"

    def posts() -> list[str]:
        if not path.exists():
            return []
        root = ElementTree.parse(path).getroot()
        entries = root.findall("{http://www.w3.org/2005/Atom}entry")
        return [e.findtext("{http://www.w3.org/2005/Atom}content") or "" for e in entries]

    def reject(monkeypatch: pytest.MonkeyPatch) -> None:
        peer.options["path"] = str(folder / "gone" / "signpost.atom")

    peer = Peer(
        {"path": str(path), "feed_id": "tag:example.org,2026:signpost", "self_url": FEED_URL},
        "unused",
        posts,
        lambda receipt: FEED_URL,
        reject,
    )
    yield peer


@contextmanager
def smtp(request: pytest.FixtureRequest) -> Iterator[Peer]:
    server = request.getfixturevalue("smtp_server")

    def posts() -> list[str]:
        texts = []
        for _, _, content in server.sink.messages:
            mail = email.message_from_bytes(content, policy=email.policy.default)
            texts.append(mail.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n"))
        return texts

    yield Peer(
        {
            "host": server.host,
            "port": server.port,
            "mode": server.mode,
            "username": "signpost",
            "from": "Signpost <signpost@example.org>",
            "to": "team@example.org",
            "ca_file": str(server.ca_file),
        },
        "s3cret",
        posts,
        lambda receipt: None,
        _wrong("not-the-password"),
    )


@contextmanager
def matrix(request: pytest.FixtureRequest) -> Iterator[Peer]:
    synapse = request.getfixturevalue("synapse")
    user = synapse.register(f"contract{next(_users)}", "pw-signpost")
    room = synapse.create_room(user["access_token"], "Contract")

    def posts() -> list[str]:
        events = synapse.messages(user["access_token"], room)
        return [e["content"]["body"] for e in reversed(events) if e["type"] == "m.room.message"]

    yield Peer(
        {"url": synapse.url, "room": room},
        user["access_token"],
        posts,
        lambda r: f"https://matrix.to/#/{quote(room)}/{quote(r.remote_id)}?via=localhost",
        _wrong("not-a-token"),
    )


@contextmanager
def bluesky(request: pytest.FixtureRequest) -> Iterator[Peer]:
    pds = request.getfixturevalue("bluesky_pds")
    account = pds.create_account(f"contract{next(_users)}.test", "app-password")

    def url(receipt: Receipt) -> str:
        rkey = receipt.remote_id.rsplit("/", 1)[-1]
        return f"https://bsky.app/profile/{account['handle']}/post/{rkey}"

    yield Peer(
        {"url": pds.url, "handle": account["handle"]},
        "app-password",
        lambda: [r["value"]["text"] for r in reversed(pds.list_records(account["did"]))],
        url,
        _wrong("wrong-password"),
    )


REAL = "a real server cannot be scripted; the mapping is proven in test_channel_errors.py"
NO_LIMIT = "the type has no text limit (channels.md)"
CASES = [
    Case("mastodon", mastodon, True, 501, "Text character limit of 500 exceeded"),
    Case("telegram", telegram, False, 4097, "message is too long"),
    Case("discord", discord, False, 2001, "Invalid Form Body"),
    Case("slack", slack, False, 40_001, "msg_too_long"),
    Case("x", x, False, 281, "longer than 280 weighted characters", refuses_repeats=True),
    Case(
        "facebook",
        facebook,
        False,
        63_207,
        "63206",
        refuses_repeats=True,
        skip={"rate": "Graph's code 4 names no delay; the wait is ours (test_channel_facebook.py)"},
    ),
    Case(
        "linkedin",
        linkedin,
        False,
        3_001,
        "longer than 3000 characters",
        refuses_repeats=True,
        skip={"rate": "LinkedIn's 429 names no delay (channels.md §9)"},
    ),
    Case(
        "threads",
        threads,
        False,
        501,
        "at most 500 characters",
        skip={
            "rate": "Meta's code 4 names no delay; the wait is ours (test_channel_threads.py)",
            "dropped": "the container settles a lost publish (test_channel_threads.py)",
        },
    ),
    Case(
        "webhook",
        webhook,
        True,
        skip={
            "validation": NO_LIMIT,
            "credentials": "only the receiver can verify the signature; it answers 4xx, retried"
            " per Standard Webhooks (the secret's shape is checked by check)",
        },
    ),
    Case(
        "feed",
        feed,
        True,
        skip={
            "rate": "a file has no rate limit",
            "credentials": "a file has no credentials (a missing folder is checked by check)",
            "validation": NO_LIMIT,
            "dropped": "a local atomic rename has no answer to lose",
        },
    ),
    Case(
        "email",
        smtp,
        False,
        skip={
            "rate": "aiosmtpd cannot be scripted to answer 4yz; SMTP codes in"
            " test_channel_email.py",
            "validation": NO_LIMIT,
            "dropped": "aiosmtpd cannot drop after DATA; covered in test_channel_email.py",
        },
    ),
    Case(
        "matrix",
        matrix,
        True,
        skip={"rate": REAL, "validation": NO_LIMIT, "dropped": REAL},
    ),
    Case(
        "bluesky",
        bluesky,
        False,
        301,
        "refused with 400",
        skip={"rate": REAL, "dropped": REAL},
    ),
]


@pytest.fixture(params=CASES, ids=[c.type for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture
def running(case: Case, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """``(peer, make)``: the service, and a function building a fresh adapter for it."""
    test = request.node.originalname.removeprefix("test_").split("_")[0]
    if test in case.skip:
        pytest.skip(case.skip[test])
    with case.start(request) as peer, httpx.Client(timeout=10) as client:
        monkeypatch.setenv(ENV, peer.secret)

        def make() -> Any:
            options = {**peer.options, "token_env": ENV}
            return build(case.type, case.type, options, client=client, now=_now)

        yield peer, make


def _now() -> datetime:
    return datetime.now(UTC)


def message(case: Case, key: str = "sp-contract-1", text: str = TEXT) -> Message:
    return outgoing(case.type, text, key, link=LINK)


def test_publish_returns_the_remote_id_and_public_url(case: Case, running):
    peer, make = running
    sent = message(case)
    receipt = make().publish(sent)
    assert peer.posts() == [sent.text]
    assert bool(receipt.remote_id) is peer.has_id
    assert receipt.remote_url == peer.url(receipt)


def test_twice_the_same_delivery(case: Case, running):
    peer, make = running
    channel = make()
    first = channel.publish(message(case, "sp-contract-twice"))
    second = channel.publish(message(case, "sp-contract-twice"))
    assert channel.deduplicates is case.deduplicates
    if case.deduplicates or case.refuses_repeats:
        assert second == first
        assert len(peer.posts()) == 1
    else:  # the engine must never resend these blindly (tests/test_engine.py)
        assert len(peer.posts()) == 2


def test_rate_limit_is_transient_with_the_servers_delay(case: Case, running):
    peer, make = running
    channel = make()
    peer.rate_limit(30)
    with pytest.raises(TransientError) as caught:
        channel.publish(message(case))
    assert caught.value.retry_after == pytest.approx(30, abs=1.5)
    assert peer.posts() == []
    channel.publish(message(case))  # and the next attempt goes through
    assert len(peer.posts()) == 1


def test_credentials_rejected_are_permanent_and_never_echoed(
    case: Case, running, monkeypatch: pytest.MonkeyPatch
):
    peer, make = running
    peer.reject(monkeypatch)
    with pytest.raises(PermanentError) as caught:
        make().publish(message(case))
    said = str(caught.value)
    assert case.type in said
    assert "credentials rejected" in said or "unknown webhook" in said
    assert peer.secret not in said
    assert peer.posts() == []


def test_validation_refusal_is_permanent_with_the_servers_words(case: Case, running):
    peer, make = running
    with pytest.raises(PermanentError, match=case.validation):
        make().publish(message(case, text="x" * (case.limit or 0)))
    assert peer.posts() == []


def test_dropped_answer_is_an_unknown_outcome(case: Case, running):
    peer, make = running
    peer.drop_processed()
    with pytest.raises(OutcomeUnknown):
        make().publish(message(case))
    assert len(peer.posts()) == 1  # it did land: only the channel can say so


def test_check_authenticates_without_posting(case: Case, running, monkeypatch):
    peer, make = running
    assert make().check()
    assert peer.posts() == []
    peer.reject(monkeypatch)
    with pytest.raises(PermanentError):
        make().check()
