"""One contract every adapter keeps, run against each channel's contract fake.

The fakes (tests/fakes/) follow ../shared/channels.md and are written independently of the
adapters; they serve real HTTP on 127.0.0.1. Adding a channel means adding a fake and a
``Case`` here, not new test logic. What every adapter must do:

- publish the text (with the link) and return the remote id and public URL;
- send the same delivery twice: one post where the channel deduplicates, else two;
- 429 → TransientError with the server's delay; bad credentials → PermanentError that names
  the channel and never the token; a validation refusal (over-long) → PermanentError with
  the server's words;
- a connection lost after the request was read → OutcomeUnknown, never success or a retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.base import Message, OutcomeUnknown, PermanentError, Receipt, TransientError
from channels.registry import build
from tests.conftest import outgoing
from tests.fakes.discord import FakeDiscord
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900"
LINK = "https://www.stopitnow.org.uk/"


@dataclass(frozen=True)
class Case:
    """How to run one channel type against its fake."""

    type: str
    fake: Callable[[], Any]
    options: Callable[[Any], dict[str, Any]]
    secret: Callable[[Any], str]
    posts: Callable[[Any], list[str]]  # the texts the service now holds
    url: Callable[[Any, Receipt], str | None]  # the public URL the receipt must carry
    deduplicates: bool
    limit: int  # characters that are refused (one over the channel's limit)
    validation: str  # words of the server's validation refusal


def _mastodon_url(fake: FakeMastodon, receipt: Receipt) -> str:
    return next(s["url"] for s in fake.statuses if s["id"] == receipt.remote_id)


CASES = [
    Case(
        "mastodon",
        FakeMastodon,
        lambda f: {"url": f.url, "token_env": ENV},
        lambda f: f.token,
        lambda f: list(f.sources.values()),
        _mastodon_url,
        deduplicates=True,
        limit=501,
        validation="Text character limit of 500 exceeded",
    ),
    Case(
        "telegram",
        FakeTelegram,
        lambda f: {"url": f.url, "chat": "@stopitnow", "token_env": ENV},
        lambda f: f.token,
        lambda f: [m["text"] for m in f.messages],
        lambda f, r: f"https://t.me/stopitnow/{r.remote_id.rsplit('/', 1)[1]}",
        deduplicates=False,
        limit=4097,
        validation="message is too long",
    ),
    Case(
        "discord",
        FakeDiscord,
        lambda f: {"token_env": ENV},
        lambda f: f.webhook_url,
        lambda f: [m["content"] for m in f.messages],
        lambda f, r: f.message_url(next(m for m in f.messages if m["id"] == r.remote_id)),
        deduplicates=False,
        limit=2001,
        validation="Invalid Form Body",
    ),
    Case(
        "slack",
        FakeSlack,
        lambda f: {"url": f.api_url, "channel": "C0123456789", "token_env": ENV},
        lambda f: f.token,
        lambda f: [m["text"] for m in f.messages],
        lambda f, r: f.permalink(*r.remote_id.split("/")),
        deduplicates=False,
        limit=40_001,
        validation="msg_too_long",
    ),
]


@contextmanager
def adapter(case: Case, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    with case.fake() as fake, httpx.Client(timeout=5) as client:
        monkeypatch.setenv(ENV, case.secret(fake))
        yield (
            fake,
            build(
                case.type,
                case.type,
                case.options(fake),
                client=client,
                now=lambda: datetime.now(UTC),
            ),
        )


def message(case: Case, key: str = "sp-contract-1", text: str = TEXT) -> Message:
    return outgoing(case.type, text, key, link=LINK)


contract = pytest.mark.parametrize("case", CASES, ids=[c.type for c in CASES])


@contract
def test_publish_returns_the_remote_id_and_public_url(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        receipt = channel.publish(message(case))
        assert case.posts(fake) == [f"{TEXT}\n\n{LINK}"]
        assert receipt.remote_id
        assert receipt.remote_url == case.url(fake, receipt)


@contract
def test_the_same_delivery_twice(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        first = channel.publish(message(case, "sp-contract-twice"))
        second = channel.publish(message(case, "sp-contract-twice"))
        assert channel.deduplicates is case.deduplicates
        if case.deduplicates:
            assert second == first
            assert len(case.posts(fake)) == 1
        else:  # the engine must never resend these blindly (tests/test_engine.py)
            assert len(case.posts(fake)) == 2


@contract
def test_rate_limit_is_transient_with_the_servers_delay(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        fake.rate_limit(30)
        with pytest.raises(TransientError, match="rate limited") as caught:
            channel.publish(message(case))
        assert caught.value.retry_after == pytest.approx(30, abs=1.5)
        assert case.posts(fake) == []
        channel.publish(message(case))  # and the next attempt goes through
        assert len(case.posts(fake)) == 1


@contract
def test_bad_credentials_are_permanent_and_never_echoed(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        fake.reject_token()
        with pytest.raises(PermanentError) as caught:
            channel.publish(message(case))
        said = str(caught.value)
        assert case.type in said
        assert "credentials rejected" in said or "unknown webhook" in said
        assert case.secret(fake) not in said
        assert case.posts(fake) == []


@contract
def test_validation_refusal_is_permanent_with_the_servers_words(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        with pytest.raises(PermanentError, match=case.validation):
            channel.publish(message(case, text="x" * case.limit))
        assert case.posts(fake) == []


@contract
def test_a_dropped_answer_is_an_unknown_outcome(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        fake.drop_next(processed=True)
        with pytest.raises(OutcomeUnknown):
            channel.publish(message(case))
        assert len(case.posts(fake)) == 1  # it did land: only the channel can say so


@contract
def test_check_authenticates_without_posting(case: Case, monkeypatch):
    with adapter(case, monkeypatch) as (fake, channel):
        assert channel.check()
        assert case.posts(fake) == []
        fake.reject_token()
        with pytest.raises(PermanentError):
            channel.check()
