"""Nothing but a ChannelError ever leaves an adapter (DESIGN §9.1), like httpx's own
"all exceptions mapped" test.

Every HTTP adapter is driven through ``httpx.MockTransport`` that raises each exception
class httpx has (and a few that are not httpx's), or answers every request with a body
that is not what the API promises; publish, lookup, check and prepare may only raise
ChannelError subclasses, and the kind must be right where it matters: nothing left → not
OutcomeUnknown; a send that may have left → never TransientError. Images that moved or
changed since approval are refused before any request. Email and the feed, which use no
HTTP, are provoked through their own failures.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.base import (
    ChannelError,
    Media,
    Message,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from channels.registry import build, publishing

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
HTTP = {
    "webhook": {"url": "http://hook.test/in"},
    "mastodon": {"url": "http://mastodon.test"},
    "bluesky": {"url": "http://pds.test", "handle": "sp.test"},
    "matrix": {"url": "http://matrix.test", "room": "!room:matrix.test"},
    "telegram": {"url": "http://telegram.test", "chat": "@stopitnow"},
    "discord": {},
    "slack": {"url": "http://slack.test/api", "channel": "C0123456789"},
    "x": {"url": "http://x.test", "username": "stopitnow"},
    "facebook": {"url": "http://graph.test", "page_id": "104"},
    "linkedin": {"url": "http://linkedin.test", "author": "urn:li:organization:1"},
    "threads": {
        "url": "http://threads.test",
        "user_id": "1784",
        "public_dir": "/nonexistent/signpost-media",
        "public_url": "http://media.test",
    },
    "instagram": {
        "url": "http://graph.test",
        "ig_user_id": "1784",
        "public_dir": "/nonexistent/signpost-media",
        "public_url": "http://media.test",
    },
}
SECRETS = {
    "webhook": "whsec_c2lnbnBvc3QtdGVzdC13ZWJob29rLXNlY3JldC0zMmI=",
    "discord": "http://discord.test/api/webhooks/1/tok",
}
IMAGES = (
    "mastodon",
    "bluesky",
    "matrix",
    "telegram",
    "discord",
    "x",
    "facebook",
    "linkedin",
    "threads",
    "instagram",
)


def all_httpx_exceptions() -> list[BaseException]:
    """One instance of every exception class httpx exports, plus some that are not httpx's."""
    request = httpx.Request("POST", "http://x.test/")
    found: list[BaseException] = []
    for name in sorted(dir(httpx)):
        cls = getattr(httpx, name)
        if not (inspect.isclass(cls) and issubclass(cls, Exception)):
            continue
        if cls is httpx.HTTPStatusError:
            found.append(cls("boom", request=request, response=httpx.Response(500)))
            continue
        try:
            found.append(cls("boom"))
        except TypeError:
            found.append(cls())
    return [*found, ValueError("boom"), KeyError("boom"), OSError("boom"), RuntimeError("x")]


EXCEPTIONS = all_httpx_exceptions()
NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


def make(kind: str, handler: Callable[[httpx.Request], httpx.Response], monkeypatch):
    monkeypatch.setenv(ENV, SECRETS.get(kind, "secret-token"))
    client = httpx.Client(transport=httpx.MockTransport(handler), timeout=5)
    return build(
        kind,
        kind,
        {**HTTP[kind], "token_env": ENV},
        client=client,
        now=lambda: datetime.now(UTC),
    )


def post(**extra: Any) -> Message:
    return Message(text="Confidential help: 0808 1000 900", idempotency_key="sp-err", **extra)


def test_every_adapter_is_covered():
    assert set(HTTP) | {"email", "feed"} == set(publishing())


@pytest.mark.parametrize("kind", sorted(HTTP))
@pytest.mark.parametrize("error", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_a_transport_that_raises_anything_gives_only_channel_errors(kind, error, monkeypatch):
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    channel = make(kind, handler, monkeypatch)
    for name, action in (
        ("publish", lambda: channel.publish(post())),
        ("lookup", lambda: channel.lookup(post())),  # may say "cannot tell": OutcomeUnknown
        ("check", channel.check),
        ("prepare", lambda: channel.prepare(post())),
    ):
        try:
            action()
        except ChannelError as exc:
            if isinstance(error, NEVER_LEFT) and name != "lookup":
                assert not isinstance(exc, OutcomeUnknown), exc
            assert "secret-token" not in str(exc) and "/tok" not in str(exc)
    with pytest.raises(ChannelError) as caught:
        channel.publish(post())
    # (Instagram refuses a text-only post before any request, whatever the transport does.)
    if isinstance(error, NEVER_LEFT) and kind != "instagram":
        assert isinstance(caught.value, TransientError)


def test_a_send_that_may_have_left_is_never_called_transient(monkeypatch):
    """The first request of these publishes is the post itself: a read error means maybe."""
    for kind in (
        "webhook",
        "mastodon",
        "telegram",
        "discord",
        "slack",
        "x",
        "facebook",
        "linkedin",
    ):

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("slow", request=request)

        with pytest.raises(OutcomeUnknown):
            make(kind, handler, monkeypatch).publish(post())


BODIES = [
    (200, b"<html>oops</html>", {}),
    (200, b"", {}),
    (200, b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
    (200, b"null", {"content-type": "application/json"}),
    (200, b"[]", {"content-type": "application/json"}),
    (200, b'"text"', {"content-type": "application/json"}),
    (200, b'{"unexpected": 1}', {"content-type": "application/json"}),
    (
        200,
        b'{"ok": true, "id": {"x": 1}, "uri": 5, "result": "r", "records": "no",'
        b' "messages": 5, "event_id": [], "accessJwt": 1, "did": 2, "channel": 3, "ts": 4,'
        b' "blob": "b", "content_uri": 6, "channel_id": 7, "user_id": 8, "guild_id": 9}',
        {"content-type": "application/json"},
    ),
    (202, b'{"id": null}', {"content-type": "application/json"}),
    (500, b"<html>down</html>", {}),
    (404, b"[]", {"content-type": "application/json"}),
    (401, b"null", {"content-type": "application/json"}),
    (400, b'{"error": 5, "errcode": [], "description": {}, "parameters": 3}', {}),
    (429, b"{}", {"retry-after": "soon"}),
    (429, b"{}", {"x-ratelimit-reset": "2026-01-01T00:00:00"}),  # no zone
    (302, b"", {"location": "http://elsewhere.test/"}),
]


@pytest.mark.parametrize("kind", sorted(HTTP))
@pytest.mark.parametrize(
    "status, body, headers", BODIES, ids=[f"{s}-{b[:12]!r}" for s, b, _ in BODIES]
)
def test_any_answer_gives_a_receipt_or_a_channel_error(kind, status, body, headers, monkeypatch):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    channel = make(kind, handler, monkeypatch)
    for action in (
        lambda: channel.publish(post()),
        lambda: channel.lookup(post(not_before=datetime.now(UTC))),
        channel.check,
        lambda: channel.prepare(post()),
    ):
        try:
            action()
        except ChannelError:
            pass


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "card.png"
    path.write_bytes(b"\x89PNG approved bytes")
    return path


def approved(path: Path) -> Media:
    return Media(str(path), hashlib.sha256(path.read_bytes()).hexdigest(), "A helpline card")


@pytest.mark.parametrize("kind", IMAGES)
def test_a_moved_image_is_refused_before_any_request(kind, image, monkeypatch):
    seen: list[httpx.Request] = []
    channel = make(kind, lambda r: seen.append(r) or httpx.Response(500), monkeypatch)
    media = approved(image)
    image.rename(image.with_name("moved.png"))
    with pytest.raises(PermanentError, match=f"image not found: {image}"):
        channel.publish(post(media=(media,)))
    if kind == "mastodon":  # the one adapter that prepares (uploads) before publishing
        with pytest.raises(PermanentError, match=f"image not found: {image}"):
            channel.prepare(post(media=(media,)))
    assert seen == []


@pytest.mark.parametrize("kind", IMAGES)
def test_a_changed_image_is_refused_before_any_request(kind, image, monkeypatch):
    seen: list[httpx.Request] = []
    channel = make(kind, lambda r: seen.append(r) or httpx.Response(500), monkeypatch)
    media = approved(image)
    image.write_bytes(b"\x89PNG swapped after approval")
    with pytest.raises(PermanentError, match=f"image changed since approval: {image}"):
        channel.publish(post(media=(media,)))
    assert seen == []


def test_email_image_checks_and_unreachable_server(image, closed_port, monkeypatch):
    monkeypatch.setenv(ENV, "pw")
    options = {
        "host": "127.0.0.1",
        "port": closed_port,
        "mode": "starttls",
        "from": "Signpost <sp@example.org>",
        "to": "team@example.org",
        "token_env": ENV,
    }
    channel = build("email", "email", options, client=None, now=lambda: datetime.now(UTC))
    media = approved(image)
    with pytest.raises(TransientError, match="cannot reach"):
        channel.publish(post(media=(media,)))
    image.write_bytes(b"changed")
    with pytest.raises(PermanentError, match="image changed since approval"):
        channel.publish(post(media=(media,)))
    with pytest.raises(TransientError, match="deadline passed before sending"):
        replace(channel, monotonic=lambda: 10.0).publish(post(deadline=5.0))


def test_feed_with_an_unreadable_entry_is_a_permanent_error(tmp_path):
    path = tmp_path / "feed.atom"
    path.write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id>'
        "<updated>yesterday</updated></entry></feed>"
    )
    channel = build("feed", "feed", {"path": str(path)}, client=None, now=lambda: datetime.now(UTC))
    for action in (channel.publish, channel.lookup):
        with pytest.raises(PermanentError, match="cannot read"):
            action(post())
