"""Faults injected into real loopback HTTP, for every HTTP adapter (DESIGN §9, issue 10).

Each fake (tests/fakes/server.py) can reset the connection after reading a request, answer
later than the send deadline, answer 200 with garbage, or repeat one answer (a 5xx storm, a
429 with Retry-After). The faults that can leave the post out must come back as
OutcomeUnknown, and the adapter must never have posted twice (it never retries a send on its
own). The webhook runs against a bare FakeServer receiver, as the peers' receiver has no
such modes. The clock the deadline is measured on is injected: ``monotonic`` stands still.
Threads and Instagram publish through a recorded container (several requests); their
faults are in test_channel_threads.py and test_channel_instagram.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.base import Message, OutcomeUnknown, Receipt, TransientError
from channels.registry import build
from tests.conftest import outgoing
from tests.fakes.discord import FakeDiscord
from tests.fakes.facebook import FakeFacebook
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer, Reply, Request
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.x import FakeX

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900"
WHSEC = "whsec_c2lnbnBvc3QtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="
NOW = 1000.0  # what the injected monotonic clock says throughout


class FakeReceiver(FakeServer):
    """A Standard Webhooks receiver that keeps each event once per ``webhook-id``."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, bytes] = {}
        self.route("POST HEAD", r"/hook", self._receive)

    def _receive(self, request: Request, match: Any) -> Reply:
        self.events.setdefault(request.headers.get("webhook-id", ""), request.body)
        return Reply(204)


@dataclass(frozen=True)
class Case:
    type: str
    fake: Callable[[], Any]
    options: Callable[[Any], dict[str, Any]]
    secret: Callable[[Any], str]
    posts: Callable[[Any], int]  # how many posts the service now shows
    garbage_is_success: bool = False  # the webhook reads no body: any 2xx is delivered
    garbage_says: str = "not JSON"
    #: a 5xx to the post may have made it (Facebook, LinkedIn: channels.md §15): unknown
    server_error_may_post: bool = False


CASES = [
    Case(
        "mastodon",
        FakeMastodon,
        lambda f: {"url": f.url, "token_env": ENV},
        lambda f: f.token,
        lambda f: len(f.statuses),
    ),
    Case(
        "telegram",
        FakeTelegram,
        lambda f: {"url": f.url, "chat": "@stopitnow", "token_env": ENV},
        lambda f: f.token,
        lambda f: len(f.messages),
    ),
    Case(
        "discord",
        FakeDiscord,
        lambda f: {"token_env": ENV},
        lambda f: f.webhook_url,
        lambda f: len(f.messages),
    ),
    Case(
        "slack",
        FakeSlack,
        lambda f: {"url": f.api_url, "channel": "C0123456789", "token_env": ENV},
        lambda f: f.token,
        lambda f: len(f.messages),
    ),
    Case(
        "x",
        FakeX,
        lambda f: {"url": f.url, "username": f.username, "token_env": ENV},
        lambda f: f.grant()["access_token"],
        lambda f: len(f.tweets),
    ),
    Case(
        "facebook",
        FakeFacebook,
        lambda f: {"url": f.url, "page_id": f.page_id, "token_env": ENV},
        lambda f: f.token,
        lambda f: len(f.posts),
        server_error_may_post=True,
    ),
    Case(
        "linkedin",
        FakeLinkedIn,
        lambda f: {"url": f.url, "author": f.author, "version": f.version, "token_env": ENV},
        lambda f: f.grant()["access_token"],
        lambda f: len(f.posts),
        garbage_says="without x-restli-id",
        server_error_may_post=True,
    ),
    Case(
        "webhook",
        FakeReceiver,
        lambda f: {"url": f"{f.url}/hook", "token_env": ENV},
        lambda f: WHSEC,
        lambda f: len(f.events),
        garbage_is_success=True,
    ),
]
each = pytest.mark.parametrize("case", CASES, ids=[c.type for c in CASES])


@pytest.fixture
def running(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    case: Case = request.param
    with case.fake() as fake, httpx.Client(timeout=5) as client:
        monkeypatch.setenv(ENV, case.secret(fake))
        channel = build(
            case.type, case.type, case.options(fake), client=client, now=lambda: datetime.now(UTC)
        )
        channel.monotonic = lambda: NOW
        yield case, fake, channel


def message(case: Case, deadline: float | None = NOW + 3) -> Message:
    return replace(outgoing(case.type, TEXT, f"sp-fault-{case.type}"), deadline=deadline)


faults = pytest.mark.parametrize("running", CASES, ids=[c.type for c in CASES], indirect=True)


@faults
def test_a_reset_after_the_request_was_read_is_an_unknown_outcome(running):
    case, fake, channel = running
    fake.drop_next(processed=True, reset=True)
    with pytest.raises(OutcomeUnknown, match="connection lost after sending"):
        channel.publish(message(case))
    assert case.posts(fake) == 1  # it landed, and the adapter did not send it again


@faults
def test_a_reply_slower_than_the_deadline_is_an_unknown_outcome(running):
    case, fake, channel = running
    fake.delay_next(2.0)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        channel.publish(message(case, deadline=NOW + 0.3))  # 0.3 s left, client timeout 5 s
    assert time.monotonic() - started < 1.5  # cut at the deadline, not the client's timeout
    assert case.posts(fake) == 1


@faults
def test_a_200_with_garbage_is_an_unknown_outcome(running):
    case, fake, channel = running
    fake.garble_next("<html><body>502 Bad Gateway</body></html>")
    if case.garbage_is_success:
        assert channel.publish(message(case)) == Receipt()
    else:
        with pytest.raises(OutcomeUnknown, match=case.garbage_says):
            channel.publish(message(case))
    assert case.posts(fake) == 1


@faults
def test_a_5xx_storm_is_transient_and_posts_nothing(running):
    case, fake, channel = running
    fake.fail_next(503, "<html>Service Unavailable</html>", times=3)
    for _ in range(3):
        # where a 5xx may come with the post made, it is an unknown outcome (looked up)
        expected = OutcomeUnknown if case.server_error_may_post else TransientError
        with pytest.raises(expected):
            channel.publish(message(case))
    assert case.posts(fake) == 0
    channel.publish(message(case))  # the storm is over
    assert case.posts(fake) == 1


@faults
def test_429_with_retry_after_is_transient_with_that_delay(running):
    case, fake, channel = running
    fake.fail_next(429, {"error": "slow down"}, {"Retry-After": "7"})
    with pytest.raises(TransientError) as caught:
        channel.publish(message(case))
    assert caught.value.retry_after == pytest.approx(7)
    assert case.posts(fake) == 0


@faults
def test_past_the_deadline_nothing_is_sent(running):
    case, fake, channel = running
    with pytest.raises(TransientError, match="deadline passed before sending"):
        channel.publish(message(case, deadline=NOW - 0.001))
    assert fake.requests == []


@pytest.mark.parametrize("polls", [3])
def test_mastodon_media_polling_stops_at_the_deadline_without_waiting(polls, tmp_path, monkeypatch):
    """Polls sleep through the injected ``sleep``; the deadline ends them, not the count."""
    import hashlib

    from channels.base import Media

    image = tmp_path / "card.png"
    image.write_bytes(b"\x89PNG fake")
    media = Media(str(image), hashlib.sha256(image.read_bytes()).hexdigest(), "A card")
    with FakeMastodon(async_media_polls=polls) as fake, httpx.Client(timeout=5) as client:
        monkeypatch.setenv(ENV, fake.token)
        channel = build(
            "mastodon",
            "mastodon",
            {"url": fake.url, "token_env": ENV},
            client=client,
            now=lambda: datetime.now(UTC),
        )
        clock = [NOW]
        slept: list[float] = []
        channel.monotonic = lambda: clock[0]
        channel.sleep = lambda s: (slept.append(s), clock.__setitem__(0, clock[0] + s))
        post = Message(text=TEXT, idempotency_key="sp-poll", media=(media,), deadline=NOW + 1.2)
        with pytest.raises(TransientError, match="deadline passed while waiting"):
            channel.publish(post)
        assert slept == [0.5, 0.5]  # a third poll would have ended past the deadline
        assert fake.statuses == []
        # With time enough, the same polls end in a post.
        receipt = channel.publish(replace(post, deadline=clock[0] + 60))
        assert receipt.remote_id == fake.statuses[0]["id"]
