"""Real peers on loopback for the channel tests: a webhook receiver and an SMTP server.

Loaded as a pytest plugin (``pytest_plugins = ["tests.peers"]`` in conftest, or
``pytest -p tests.peers``). Everything binds 127.0.0.1, starts in milliseconds and is
stopped when the test ends (see docs in /work/shared/peers.md).

- ``webhook_receiver``: a stdlib ``ThreadingHTTPServer`` that records every request as
  ``(path, headers, body)`` and answers from a queue of scripted responses (200 when the
  queue is empty), or drops the connection after reading a request, as a receiver that
  crashed mid-request would.
- ``smtp_server``: aiosmtpd with STARTTLS required and AUTH (``signpost`` / ``s3cret``), its
  certificate issued by a throwaway CA made with ``trustme``; ``ca_file`` is that CA's PEM.
  Recipients ending in ``@reject.test`` are refused with 550.
- ``smtps_server``: the same on implicit TLS (SMTPS, port-465 style).
- ``closed_port``: a port on 127.0.0.1 that refuses connections.
"""

from __future__ import annotations

import collections
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "signpost"
SMTP_PASSWORD = "s3cret"


def free_port() -> int:
    """A port that was free a moment ago (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that is bound but not listening, so a connection is refused (no race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# --- webhook receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the receiver read it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Scripted:
    """How to answer one request: a status and headers, or drop the connection unanswered."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False


class WebhookReceiver:
    """What the receiver saw, and how it answers the next requests."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200  # the answer once the script is used up
        self._script: collections.deque[Scripted] = collections.deque()
        self._lock = threading.Lock()
        self.url = ""

    def respond(
        self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        """Answer the next unscripted request with ``status`` (and ``headers``)."""
        self._script.append(Scripted(status, dict(headers or {}), body))

    def drop(self) -> None:
        """Read the next request in full, then close the connection without answering."""
        self._script.append(Scripted(drop=True))

    def _next(self, received: Received) -> Scripted:
        with self._lock:
            self.requests.append(received)
            return self._script.popleft() if self._script else Scripted(self.status)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver._next(Received(self.command, self.path, headers, body))
            if answer.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_POST = do_PUT = do_GET = do_HEAD = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver on 127.0.0.1; ``.url`` is its base URL."""
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    # A short poll interval: shutdown() waits for the loop to notice (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- SMTP ------------------------------------------------------------------------------


class Sink:
    """An aiosmtpd handler that keeps what it accepted and refuses ``@reject.test``."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.endswith("@reject.test"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        login = data.login.decode("utf-8", "replace") if isinstance(data, LoginPassword) else ""
        self.logins.append((login, ok))
        # handled=False: aiosmtpd then answers 235 or 535 itself; with handled=True a
        # failure sends no reply at all and the client waits for its timeout (peers.md).
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    """A running SMTP server and what it received."""

    host: str
    port: int
    ca_file: Path
    sink: Sink
    mode: str  # "starttls" or "tls", as the email channel's ``mode`` option


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate it issued for 127.0.0.1 and localhost."""

    ca_file: Path
    server: ssl.SSLContext
    other_ca_file: Path  # a CA that did not issue the server's certificate


@pytest.fixture(scope="session")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("smtp-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    other_ca_file = folder / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca_file))
    return Certificates(ca_file=ca_file, server=server, other_ca_file=other_ca_file)


@pytest.fixture
def smtp_server(smtp_certificates: Certificates) -> Iterator[SmtpServer]:
    """SMTP submission with STARTTLS required and AUTH required (signpost / s3cret)."""
    sink = Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=smtp_certificates.server,
        require_starttls=True,
        authenticator=sink.authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, smtp_certificates.ca_file, sink, "starttls")
    finally:
        controller.stop()


@pytest.fixture
def smtps_server(smtp_certificates: Certificates) -> Iterator[SmtpServer]:
    """SMTP on implicit TLS (SMTPS); AUTH offered and checked (signpost / s3cret).

    aiosmtpd only counts STARTTLS as "TLS" for ``auth_require_tls``, so that is off here
    (the whole connection is TLS anyway); AUTH is not *required* because aiosmtpd warns
    about requiring AUTH without requiring TLS, and warnings are errors in this suite.
    """
    sink = Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=smtp_certificates.server,
        authenticator=sink.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, smtp_certificates.ca_file, sink, "tls")
    finally:
        controller.stop()
