# ruff: noqa: F811  (the fixture client, imported from tests.shared)
"""The webhook channel against a real HTTP receiver on 127.0.0.1 (channels.md §10).

Signatures are checked with the reference ``standardwebhooks`` library, as a receiver would;
its 5-minute tolerance needs the real clock, so these tests use ``SystemClock``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from channels.base import (
    Message,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.registry import build
from scheduler.clock import SystemClock
from tests.peers import WebhookReceiver
from tests.shared import client  # noqa: F401

SECRET = "whsec_" + base64.b64encode(b"signpost-test-webhook-secret-32b").decode()
ENV = "SIGNPOST_TEST_WEBHOOK_SECRET"

MESSAGE = Message(
    text="Worried about your thoughts? Call 0808 1000 900, free and confidential.",
    idempotency_key="d42-7f3a9c",
    link="https://stopitnow.org.uk/help",
    campaign="stop-it-now",
    post_id=42,
    delivery_id=7,
)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, SECRET)
    return SECRET


def webhook(url: str, client: httpx.Client, **options: str):  # type: ignore[no-untyped-def]
    return build(
        "newsroom",
        "webhook",
        {"url": url, "token_env": ENV, **options},
        client=client,
        now=SystemClock().now,
    )


def test_publish_posts_signed_json_that_a_receiver_verifies(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    channel = webhook(f"{webhook_receiver.url}/hooks/signpost", client)

    receipt = channel.publish(MESSAGE)

    assert receipt == Receipt(remote_id=None, remote_url=None)
    [request] = webhook_receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/signpost")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == MESSAGE.idempotency_key
    assert request.headers["webhook-signature"].startswith("v1,")
    event = Webhook(secret_env).verify(request.body, request.headers)
    assert event["type"] == "post.published"
    assert event["data"]["text"] == MESSAGE.text
    assert event["data"]["link"] == MESSAGE.link
    assert (event["data"]["post"], event["data"]["delivery"]) == (42, 7)
    assert event == json.loads(request.body)


def test_a_tampered_body_does_not_verify(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    """The signature covers the body: the receiver's check is not a formality."""
    webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    [request] = webhook_receiver.requests
    tampered = request.body.replace(b"0808 1000 900", b"0800 0000 000")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_env).verify(tampered, request.headers)
    other = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-by!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_the_same_message_twice_carries_the_same_webhook_id(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    channel = webhook(f"{webhook_receiver.url}/hook", client)
    other = Message(text="Another post", idempotency_key="d43-0b1c2d")

    channel.publish(MESSAGE)
    channel.publish(MESSAGE)
    channel.publish(other)

    ids = [r.headers["webhook-id"] for r in webhook_receiver.requests]
    assert ids == [MESSAGE.idempotency_key, MESSAGE.idempotency_key, other.idempotency_key]
    for request in webhook_receiver.requests:
        Webhook(secret_env).verify(request.body, request.headers)
    assert channel.deduplicates is True


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_a_receipt(
    status: int, webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.respond(status)

    assert webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE) == Receipt()


def test_410_means_the_endpoint_is_gone(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.respond(410)

    with pytest.raises(PermanentError, match=r"gone \(410\)"):
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_permanent_and_not_followed(
    status: int, webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.respond(status, {"Location": f"{webhook_receiver.url}/elsewhere"})

    with pytest.raises(PermanentError, match=rf"redirected \({status}\)"):
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    assert [r.path for r in webhook_receiver.requests] == ["/hook"]


def test_429_is_transient_and_honours_retry_after(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.respond(429, {"Retry-After": "7"})

    with pytest.raises(TransientError) as caught:
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    assert caught.value.retry_after == 7


@pytest.mark.parametrize("status", [500, 502, 503, 504, 400, 404, 422])
def test_other_failures_are_retried(
    status: int, webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.respond(status)

    with pytest.raises(TransientError, match=rf"answered {status}") as caught:
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    assert caught.value.retry_after is None
    assert len(webhook_receiver.requests) == 1


def test_a_refused_connection_is_transient(
    closed_port: int, client: httpx.Client, secret_env: str
) -> None:
    with pytest.raises(TransientError, match="could not connect"):
        webhook(f"http://127.0.0.1:{closed_port}/hook", client).publish(MESSAGE)


def test_a_connection_dropped_after_the_request_is_an_unknown_outcome(
    webhook_receiver: WebhookReceiver, client: httpx.Client, secret_env: str
) -> None:
    webhook_receiver.drop()

    with pytest.raises(OutcomeUnknown, match="connection lost after sending"):
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    [request] = webhook_receiver.requests  # it did arrive: never "not sent"
    Webhook(secret_env).verify(request.body, request.headers)


def test_an_unset_token_env_names_the_variable_and_sends_nothing(
    webhook_receiver: WebhookReceiver, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("SIGNPOST_TEST_OTHER_SECRET", SECRET)

    with pytest.raises(PermanentError) as caught:
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    assert ENV in str(caught.value)
    assert "not set" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)
    assert webhook_receiver.requests == []


def test_a_token_file_readable_by_others_is_refused(
    webhook_receiver: WebhookReceiver, client: httpx.Client, tmp_path: Path
) -> None:
    token = tmp_path / "webhook.secret"
    token.write_text(SECRET + "\n", encoding="utf-8")
    os.chmod(token, 0o644)
    channel = build(
        "newsroom",
        "webhook",
        {"url": f"{webhook_receiver.url}/hook", "token_file": str(token)},
        client=client,
        now=SystemClock().now,
    )

    with pytest.raises(PermanentError, match="readable by group or others") as caught:
        channel.publish(MESSAGE)

    assert str(token) in str(caught.value)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)
    assert webhook_receiver.requests == []

    os.chmod(token, 0o600)
    assert channel.publish(MESSAGE) == Receipt()
    [request] = webhook_receiver.requests
    Webhook(SECRET).verify(request.body, request.headers)


@pytest.mark.parametrize(
    "bad",
    [
        "whsec_abcde",  # five base64 characters cannot encode whole bytes
        "whsec_",
        "whsec_!!!!",
        "hunter2-password",
    ],
)
def test_a_secret_that_is_not_base64_is_permanent(
    bad: str,
    webhook_receiver: WebhookReceiver,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, bad)

    with pytest.raises(PermanentError, match="the secret must be whsec_") as caught:
        webhook(f"{webhook_receiver.url}/hook", client).publish(MESSAGE)

    if bad.removeprefix("whsec_"):
        assert bad.removeprefix("whsec_") not in str(caught.value)
    assert webhook_receiver.requests == []
