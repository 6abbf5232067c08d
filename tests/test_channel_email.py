# ruff: noqa: F811  (the fixture client, imported from tests.shared)
"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1 (channels.md §11).

The server requires STARTTLS and AUTH (signpost / s3cret); its certificate comes from a
throwaway CA, passed to the channel as ``ca_file``.
"""

from __future__ import annotations

import gc
import hashlib
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError, Receipt, TransientError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.conftest import outgoing
from tests.peers import SMTP_PASSWORD, Certificates, SmtpServer
from tests.shared import client  # noqa: F401

ENV = "SIGNPOST_TEST_SMTP_PASSWORD"
FROM = "Stop It Now <news@stopitnow.example>"
TO = ["supporters@lists.example", "press@lists.example"]
NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

WORDS = "Worried about your thoughts? Call 0808 1000 900, free and confidential."
MESSAGE = outgoing(
    "email",
    WORDS,
    "d42-7f3a9c",
    link="https://stopitnow.org.uk/help",
    title="Confidential help is one call away",
    campaign="stop-it-now",
    post_id=42,
    delivery_id=7,
)


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG (RGB, all white)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, SMTP_PASSWORD)
    return SMTP_PASSWORD


def email_channel(server: SmtpServer, client: httpx.Client, **overrides: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "mode": server.mode,
        "username": "signpost",
        "token_env": ENV,
        "from": FROM,
        "to": TO,
        "ca_file": str(server.ca_file),
    }
    options.update(overrides)
    options = {k: v for k, v in options.items() if v is not None}
    return build("supporters", "email", options, client=client, now=FrozenClock(NOW).now)


def received(server: SmtpServer) -> EmailMessage:
    [(_, _, content)] = server.sink.messages
    return message_from_bytes(content, policy=policy.default)  # type: ignore[return-value]


def fails(
    kind: type[Exception], call: Callable[[], object], server: SmtpServer
) -> tuple[str, list[str]]:
    """``call()`` must raise ``kind``: its message, and the connections it left open.

    The error and its traceback are dropped and garbage is collected while ResourceWarnings
    are recorded, so a socket to ``server`` that the adapter forgot to close is reported
    here, not as an "unraisable exception" in whichever test happens to run next.
    """
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(kind) as caught:
            call()
        message = str(caught.value)
        del caught
        gc.collect()
    peer = f"raddr=('{server.host}', {server.port})"
    return message, [
        str(w.message)
        for w in seen
        if issubclass(w.category, ResourceWarning) and peer in str(w.message)
    ]


def test_publish_delivers_one_email(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    receipt = email_channel(smtp_server, client).publish(MESSAGE)

    [(mail_from, rcpt_tos, _)] = smtp_server.sink.messages
    assert mail_from == "news@stopitnow.example"
    assert rcpt_tos == TO
    mail = received(smtp_server)
    assert mail["From"] == FROM
    assert [a.addr_spec for a in mail["To"].addresses] == TO
    assert mail["Subject"] == MESSAGE.title
    assert mail["Date"] == "Sat, 31 Jan 2026 12:00:00 +0000"
    assert mail["Message-ID"] == "<sp.d42-7f3a9c@stopitnow.example>"
    body = mail.get_body(("plain",)).get_content()
    assert WORDS in body
    assert MESSAGE.link in body
    assert receipt == Receipt(remote_id="<sp.d42-7f3a9c@stopitnow.example>", remote_url=None)
    assert smtp_server.sink.logins == [("signpost", True)]


def test_the_same_message_twice_has_the_same_message_id(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    """SMTP cannot deduplicate, but a duplicate is recognisable by its Message-ID."""
    channel = email_channel(smtp_server, client)
    channel.publish(MESSAGE)
    channel.publish(MESSAGE)
    channel.publish(Message(text="Another post", idempotency_key="d43-0b1c2d"))

    ids = [
        message_from_bytes(content, policy=policy.default)["Message-ID"]
        for _, _, content in smtp_server.sink.messages
    ]
    assert ids == [
        "<sp.d42-7f3a9c@stopitnow.example>",
        "<sp.d42-7f3a9c@stopitnow.example>",
        "<sp.d43-0b1c2d@stopitnow.example>",
    ]
    assert channel.deduplicates is False


def test_without_a_title_the_subject_is_the_text(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    message = Message(text="Help is   free.\nCall us.", idempotency_key="d44-aa")

    email_channel(smtp_server, client).publish(message)

    assert received(smtp_server)["Subject"] == "Help is free. Call us."


def test_an_image_is_attached(
    smtp_server: SmtpServer, client: httpx.Client, password: str, tmp_path: Path
) -> None:
    image = tmp_path / "helpline-card.png"
    data = png()
    image.write_bytes(data)
    media = Media(str(image), hashlib.sha256(data).hexdigest(), "A card with the helpline")
    message = replace(MESSAGE, idempotency_key="d45-bb", media=(media,))

    email_channel(smtp_server, client).publish(message)

    mail = received(smtp_server)
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "image/png"
    assert attachment.get_filename() == "helpline-card.png"
    assert attachment.get_content() == data
    assert MESSAGE.link in mail.get_body(("plain",)).get_content()


def test_a_wrong_password_is_permanent_and_never_shown(
    smtp_server: SmtpServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "hunter2-not-the-password"
    monkeypatch.setenv(ENV, wrong)
    channel = email_channel(smtp_server, client)

    said, _ = fails(PermanentError, lambda: channel.publish(MESSAGE), smtp_server)

    assert said == "credentials rejected by supporters (127.0.0.1)"
    assert wrong not in said
    assert smtp_server.sink.messages == []
    assert smtp_server.sink.logins[-1] == ("signpost", False)


def test_an_unset_password_variable_is_permanent(
    smtp_server: SmtpServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    channel = email_channel(smtp_server, client)

    said, _ = fails(PermanentError, lambda: channel.publish(MESSAGE), smtp_server)

    assert said == f"supporters: environment variable {ENV} (token_env) is not set"
    assert smtp_server.sink.logins == []
    assert smtp_server.sink.messages == []


@pytest.mark.parametrize(
    ("case", "password", "call"),
    [
        ("wrong password", "wrong", "publish"),
        ("wrong password", "wrong", "check"),
        ("no password", None, "publish"),
        ("refused recipient", SMTP_PASSWORD, "publish"),
        ("untrusted certificate", SMTP_PASSWORD, "publish"),
    ],
)
def test_a_failure_leaves_no_connection_open(
    case: str,
    password: str | None,
    call: str,
    smtp_server: SmtpServer,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if password is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, password)
    overrides: dict[str, object] = {
        "refused recipient": {"to": ["nobody@reject.test"]},
        "untrusted certificate": {"ca_file": None},
    }.get(case, {})
    channel = email_channel(smtp_server, client, **overrides)

    action = channel.check if call == "check" else (lambda: channel.publish(MESSAGE))

    _, left_open = fails(PermanentError, action, smtp_server)

    assert left_open == []


def test_a_refused_recipient_is_permanent(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    channel = email_channel(smtp_server, client, to=["nobody@reject.test"])

    said, _ = fails(PermanentError, lambda: channel.publish(MESSAGE), smtp_server)

    assert said == "supporters: recipients refused (nobody@reject.test: 550)"
    assert smtp_server.sink.messages == []


def test_an_unreachable_server_is_transient(
    smtp_server: SmtpServer, closed_port: int, client: httpx.Client, password: str
) -> None:
    with pytest.raises(TransientError, match=rf"cannot reach 127\.0\.0\.1:{closed_port}\b"):
        email_channel(smtp_server, client, port=closed_port).publish(MESSAGE)


@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
def test_an_untrusted_certificate_is_permanent(
    trust: str,
    smtp_server: SmtpServer,
    smtp_certificates: Certificates,
    client: httpx.Client,
    password: str,
) -> None:
    ca_file = None if trust == "system CAs" else str(smtp_certificates.other_ca_file)

    with pytest.raises(PermanentError, match=r"certificate of 127\.0\.0\.1 not trusted"):
        email_channel(smtp_server, client, ca_file=ca_file).publish(MESSAGE)

    assert smtp_server.sink.logins == []  # the password was never sent
    assert smtp_server.sink.messages == []


def test_check_logs_in_without_sending(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    said = email_channel(smtp_server, client).check()

    assert said == "connected to 127.0.0.1 with TLS as signpost"
    assert smtp_server.sink.logins == [("signpost", True)]
    assert smtp_server.sink.messages == []


def test_check_reports_a_wrong_password(
    smtp_server: SmtpServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "wrong")
    channel = email_channel(smtp_server, client)

    said, _ = fails(PermanentError, channel.check, smtp_server)

    assert said.startswith("credentials rejected by supporters")
    assert smtp_server.sink.messages == []


def test_lookup_cannot_tell(smtp_server: SmtpServer, client: httpx.Client, password: str) -> None:
    channel = email_channel(smtp_server, client)
    channel.publish(MESSAGE)

    with pytest.raises(OutcomeUnknown, match="cannot be asked"):
        channel.lookup(MESSAGE)


def test_implicit_tls_delivers(
    smtps_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    receipt = email_channel(smtps_server, client).publish(MESSAGE)

    assert received(smtps_server)["Message-ID"] == receipt.remote_id
    assert smtps_server.sink.logins == [("signpost", True)]


def test_implicit_tls_refuses_an_untrusted_certificate(
    smtps_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    with pytest.raises(PermanentError, match=r"certificate of 127\.0\.0\.1 not trusted"):
        email_channel(smtps_server, client, ca_file=None).publish(MESSAGE)

    assert smtps_server.sink.messages == []


def test_implicit_tls_against_a_starttls_port_fails_without_sending(
    smtp_server: SmtpServer, client: httpx.Client, password: str
) -> None:
    """A wrong mode fails the TLS handshake; it never ends in a cleartext login."""
    with pytest.raises((TransientError, PermanentError)):
        email_channel(smtp_server, client, mode="tls").publish(MESSAGE)

    assert smtp_server.sink.logins == []
    assert smtp_server.sink.messages == []
