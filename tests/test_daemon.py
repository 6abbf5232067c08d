"""The daemon as systemd runs it: a real ``signpost daemon`` process, a real database (the
test's SQLite file or PostgreSQL database), and a loopback Standard Webhooks receiver that
verifies every signature it is sent.

alice writes and schedules, bob approves, through the CLI in this process; the daemon is
another process, so everything it learns comes from the database. Posts are due a second
or two ahead and these tests wait for real time, always polling against a short deadline.
The helpers here (the workspace, its config and the daemon process) are shared with
``tests/test_crash.py``, ``tests/test_postgres.py`` and ``tests/test_clear_errors.py``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner, Result

from posts import deliveries, workflow
from posts.policy import Actor
from posts.store import Store
from scheduler.cli import app
from scheduler.clock import SystemClock
from scheduler.config import Settings, load
from scheduler.configfile import ConfigFile
from tests.database import TestDatabase
from tests.peers import free_port

SIGNPOST = Path(sys.executable).parent / "signpost"
SECRET_ENV = "SIGNPOST_TEST_HOOK_SECRET"
SECRET = "whsec_" + base64.b64encode(b"signpost daemon tests: 32 bytes!").decode()
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900."
SERVING = "health and metrics on"  # the daemon's log line once it is up

UNFINISHED = ("pending", "held", "sending", "retry_wait")  # delivery states not yet settled


def daemon_config(database_url: str, hook_url: str, **daemon: Any) -> ConfigFile:
    """alice and bob, one webhook channel ``hook`` and a daemon that syncs, leases and retries
    within a second or two, on a health port of its own (more ``[daemon]`` keys: ``daemon``)."""
    return (
        ConfigFile(database_url)
        .with_daemon(
            sync_interval=0.2, lease="2s", retry_base="200ms", health=f"127.0.0.1:{free_port()}"
        )
        .with_daemon(**daemon)
        .with_channel("hook", "webhook", url=hook_url, token_env=SECRET_ENV)
    )


# --- the receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request whose signature verified, and what the receiver answered."""

    webhook_id: str
    delivery: int
    post: int
    status: int
    duplicate: bool  # this webhook-id had already been accepted


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A daemon killed mid-request leaves a broken connection; that is the point."""


class Receiver:
    """A webhook endpoint on 127.0.0.1:0 that verifies, records and dedupes on webhook-id.

    ``answers`` are the statuses of the first requests (200 after them); each request waits
    a random ``delay`` (seconds, from a seeded RNG) after it is recorded and before it is
    answered, so a daemon killed at a random moment often dies between the two.
    """

    def __init__(
        self,
        secret: str,
        *,
        answers: tuple[int, ...] = (),
        delay: tuple[float, float] = (0.0, 0.0),
        seed: int = 0,
    ) -> None:
        self.webhook = Webhook(secret)
        self.answers = list(answers)
        self.delay = delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.hits: list[Hit] = []
        self.rejected: list[str] = []
        self.truncated = 0  # requests cut short by a killed sender, never verified
        self.accepted: set[str] = set()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            event = self.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.rejected.append(f"{exc} ({headers.get('webhook-id')}, {len(body)} bytes)")
            return 401
        key = headers["webhook-id"]
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            duplicate = key in self.accepted
            if 200 <= status < 300:
                self.accepted.add(key)
            data = event["data"]
            self.hits.append(Hit(key, data["delivery"], data["post"], status, duplicate))
            wait = self.rng.uniform(*self.delay)
        if wait:
            time.sleep(wait)
        return status

    def snapshot(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)

    def keys_by_delivery(self) -> dict[int, set[str]]:
        """Delivery id (from the signed body) -> every webhook-id it arrived under."""
        keys: dict[int, set[str]] = {}
        for hit in self.snapshot():
            keys.setdefault(hit.delivery, set()).add(hit.webhook_id)
        return keys

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing to answer
                    with receiver.lock:
                        receiver.truncated += 1
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.receive(body, headers)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


# --- the daemon process ---------------------------------------------------------------------


T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class DaemonProcess:
    """One ``signpost daemon`` subprocess, its output going to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, what: str, check: Callable[[], T], timeout: float = 10) -> T:
        """Like :func:`wait_for`, but fail at once, with the log, if the daemon has died."""

        def alive_check() -> T:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited {self.proc.returncode} while waiting for {what}:\n"
                    + self.output()
                )
            return check()

        try:
            return wait_for(what, alive_check, timeout, interval=0.02)
        except AssertionError as exc:
            if "daemon exited" in str(exc):
                raise
            raise AssertionError(f"{exc}\n--- daemon log ---\n{self.output()}") from None

    def wait_serving(self, timeout: float = 20) -> None:
        self.wait_for("the daemon to serve /healthz", lambda: SERVING in self.output(), timeout)

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit code; fails if it does not stop within ``timeout``."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"daemon ignored SIGTERM for {timeout}s:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when the power goes."""
        self.proc.kill()
        self.proc.wait()


@dataclass
class Workspace:
    """A config for one loopback receiver, its database, and the CLI run in this process."""

    file: ConfigFile  # what ``config`` holds
    config: Path
    receiver: Receiver
    runner: CliRunner = field(default_factory=CliRunner)
    started: list[DaemonProcess] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # more of the daemon's environment
    database: TestDatabase | None = None  # the test's database, which the config points at

    @classmethod
    def create(
        cls, folder: Path, receiver: Receiver, database: TestDatabase, **daemon: Any
    ) -> Workspace:
        """:func:`daemon_config` (``daemon``: more ``[daemon]`` keys), an initialised
        database and the campaign ``helpline``."""
        file = daemon_config(database.url, receiver.url, **daemon)
        config = file.write(folder / "config.toml")
        ws = cls(file=file, config=config, receiver=receiver, database=database)
        ws.ok("alice", "init")
        ws.ok("alice", "campaign", "add", "helpline", "--name", "Helpline")
        return ws

    @property
    def health(self) -> str:
        """Where the daemon started with :attr:`config` serves /healthz and /metrics."""
        return self.file.daemon["health"]

    def add_channel(self, name: str, channel_type: str, **options: Any) -> None:
        """One more channel in the config (and in every :meth:`second_config` after it)."""
        self.file = self.file.with_channel(name, channel_type, **options)
        self.file.write(self.config)

    # the CLI, as alice and bob would run it

    def cli(self, actor: str, *args: str) -> Result:
        return self.runner.invoke(
            app, ["--config", str(self.config), *args], env={"SIGNPOST_ACTOR": actor}
        )

    def ok(self, actor: str, *args: str) -> Result:
        result = self.cli(actor, *args)
        assert result.exit_code == 0, (args, result.stderr)
        return result

    def json(self, actor: str, *args: str) -> Any:
        return json.loads(self.ok(actor, *args, "--format", "json").stdout)

    def approved_post(self, text: str = TEXT) -> int:
        """A post alice wrote and bob approved."""
        post = self.json("alice", "post", "add", "--campaign", "helpline", "--text", text)
        self.ok("alice", "post", "submit", str(post["id"]))
        self.ok("bob", "post", "approve", str(post["id"]), "--revision", "1")
        return post["id"]

    def schedule(self, post_id: int, at: str = "+1s") -> dict[str, Any]:
        """Schedule to the hook; the one delivery as JSON."""
        scheduled = self.json(
            "alice", "post", "schedule", str(post_id), "--at", at, "--channels", "hook"
        )
        (delivery,) = scheduled["deliveries"]
        return delivery

    # the project's own functions, in one transaction as the CLI runs them

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, Settings]]:
        """A write transaction on the workspace's database, and the settings it was read with."""
        settings = load(self.config)
        store = Store(settings.database_url)
        try:
            with store.transaction() as session:
                yield session, settings
        finally:
            store.close()

    @staticmethod
    def actor(settings: Settings, name: str) -> Actor:
        return Actor(name, settings.roles_of(name))

    def schedule_many(
        self, post_id: int, count: int, due_in: timedelta = timedelta(milliseconds=500)
    ) -> list[int]:
        """``count`` deliveries of one post to the hook, due ``due_in`` from now, a microsecond
        apart (one transaction); their ids."""
        with self.transaction() as (session, settings):
            now = SystemClock().now()
            made = deliveries.schedule(
                session,
                self.actor(settings, "alice"),
                now,
                post=workflow.get_post(session, post_id),
                dues=[now + due_in + timedelta(microseconds=n) for n in range(count)],
                expires=None,
                channel_names=["hook"],
                channels=settings.channels,
                again=True,  # many deliveries of one post, on purpose
            )
            session.flush()
            return [d.id for d in made]

    # what is stored

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows as dicts, read on either engine; ``?`` placeholders take ``params`` in order."""
        assert self.database is not None
        names = iter(range(len(params)))
        query = re.sub(r"\?", lambda _m: f":p{next(names)}", sql)
        with self.database.engine.connect() as conn:
            result = conn.execute(sa.text(query), {f"p{i}": v for i, v in enumerate(params)})
            return [dict(row._mapping) for row in result]

    def delivery(self, delivery_id: int) -> dict[str, Any]:
        (row,) = self.rows("SELECT * FROM delivery WHERE id = ?", delivery_id)
        return row

    def post_state(self, post_id: int) -> str:
        (row,) = self.rows("SELECT state FROM post WHERE id = ?", post_id)
        return row["state"]

    def actions(self) -> list[tuple[str, str]]:
        return [
            (r["actor"], r["action"])
            for r in self.rows("SELECT actor, action FROM audit_event ORDER BY seq")
        ]

    def states(self) -> Counter[str]:
        """How many deliveries are in each state."""
        return Counter(r["state"] for r in self.rows("SELECT state FROM delivery"))

    def settled(self) -> bool:
        """No delivery is waiting, being sent or waiting to be retried."""
        states = self.states()
        return not any(states[s] for s in UNFINISHED)

    def verify_audit(self) -> str:
        """``audit verify`` as bob, which must pass; what it printed."""
        verify = self.cli("bob", "audit", "verify")
        assert verify.exit_code == 0, verify.stderr
        assert verify.stdout.startswith("audit log OK"), verify.stdout
        return verify.stdout

    # the daemon

    def env(self) -> dict[str, str]:
        """The daemon's environment: the secret, no actor override, no proxies."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SIGNPOST_") and "proxy" not in k.lower()
        }
        env[SECRET_ENV] = SECRET
        return env | self.secrets

    def start(
        self, *args: str, log: str = "daemon.log", config: Path | None = None
    ) -> DaemonProcess:
        """Start ``signpost daemon`` (more arguments after ``daemon``) in the background,
        with this workspace's config or another (:meth:`second_config`)."""
        path = self.config.parent / log
        with path.open("ab") as out:
            proc = subprocess.Popen(
                [str(SIGNPOST), "--config", str(config or self.config), "daemon", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.config.parent,
            )
        daemon = DaemonProcess(proc, path)
        self.started.append(daemon)
        return daemon

    def second_config(self, name: str = "config-2.toml") -> Path:
        """The same config with a health port of its own, for a second daemon beside it."""
        return self.file.with_daemon(health=f"127.0.0.1:{free_port()}").write(
            self.config.with_name(name)
        )

    def reap(self) -> None:
        """Kill, by pid, any daemon a failed test left running."""
        for daemon in self.started:
            if daemon.proc.poll() is None:
                daemon.kill()

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=5) as client:
            return client.get(f"http://{self.health}{path}")

    def metrics_with(self, line: str) -> str | None:
        """The daemon's /metrics text once it contains ``line``, else None."""
        text = self.get("/metrics").text
        return text if line in text else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as endpoint:
        yield endpoint


@pytest.fixture
def workspace(tmp_path: Path, receiver: Receiver, database: TestDatabase) -> Iterator[Workspace]:
    ws = Workspace.create(tmp_path, receiver, database)
    try:
        yield ws
    finally:
        ws.reap()


def wait_until(instant: str, slack: float = 0.05) -> None:
    """Sleep until an ISO time (a delivery's due time) has passed."""
    left = (datetime.fromisoformat(instant) - SystemClock().now()).total_seconds()
    time.sleep(max(0.0, left + slack))


# --- the tests ------------------------------------------------------------------------------


def test_daemon_publishes_a_post_when_it_is_due(workspace: Workspace, receiver: Receiver):
    daemon = workspace.start()
    daemon.wait_serving()
    post_id = workspace.approved_post()
    delivery = workspace.schedule(post_id, "+1s")
    assert delivery["state"] == "pending"

    daemon.wait_for(
        "the delivery to be sent",
        lambda: workspace.delivery(delivery["id"])["state"] == "sent",
    )

    (hit,) = receiver.snapshot()
    stored = workspace.delivery(delivery["id"])
    assert hit.webhook_id == stored["idempotency_key"] == delivery["idempotency_key"]
    assert (hit.delivery, hit.post, hit.status) == (delivery["id"], post_id, 200)
    assert receiver.rejected == []
    assert stored["attempts"] == 1
    assert stored["last_error"] is None
    assert stored["lease_owner"] is None
    assert workspace.post_state(post_id) == "published"

    listed = workspace.json("bob", "deliveries", "list")
    assert [(d["id"], d["state"]) for d in listed] == [(delivery["id"], "sent")]
    actions = [a for _, a in workspace.actions()]
    assert actions[-3:] == ["delivery.claim", "delivery.sent", "post.publish"]
    assert daemon.terminate() == 0
    assert "Traceback" not in daemon.output()


def test_pause_and_resume_from_another_process_reach_the_running_daemon(
    workspace: Workspace, receiver: Receiver
):
    daemon = workspace.start()
    daemon.wait_serving()
    post_id = workspace.approved_post()
    delivery = workspace.schedule(post_id, "+1500ms")
    daemon.wait_for(
        "the daemon to have read the pending delivery",
        lambda: workspace.metrics_with('signpost_deliveries{state="pending"} 1.0'),
    )

    paused = workspace.cli("bob", "pause", "--channel", "hook", "--reason", "x")
    assert paused.exit_code == 0, paused.stderr
    assert "paused channel hook: x" in paused.stderr
    assert workspace.delivery(delivery["id"])["state"] == "held"

    wait_until(delivery["due"], slack=1.0)  # five syncs past due: it would have gone by now
    assert daemon.proc.poll() is None
    assert receiver.snapshot() == []
    assert workspace.delivery(delivery["id"])["state"] == "held"
    assert workspace.post_state(post_id) == "approved"

    resumed = workspace.cli("bob", "resume", "--channel", "hook")
    assert resumed.exit_code == 0, resumed.stderr
    daemon.wait_for(
        "the resumed delivery to be sent",
        lambda: workspace.delivery(delivery["id"])["state"] == "sent",
    )
    assert [h.delivery for h in receiver.snapshot()] == [delivery["id"]]
    actions = [a for _, a in workspace.actions()]
    after_pause = actions[actions.index("pause") :]
    assert after_pause[:2] == ["pause", "delivery.hold"]
    assert after_pause[2:5] == ["resume", "delivery.release", "delivery.claim"]
    assert "delivery.sent" in after_pause[5:]
    assert daemon.terminate() == 0


def test_health_and_metrics_after_a_server_error(tmp_path: Path, database: TestDatabase):
    with Receiver(SECRET, answers=(500,)) as receiver:
        workspace = Workspace.create(tmp_path, receiver, database)
        try:
            daemon = workspace.start()
            daemon.wait_serving()
            # /healthz is ok once the daemon has synced with the database, which may come
            # just after the log line (PostgreSQL's first connection is slower than SQLite's).
            daemon.wait_for(
                "/healthz to be ok after the first sync",
                lambda: workspace.get("/healthz").status_code == 200,
            )
            health = workspace.get("/healthz")
            assert health.status_code == 200
            assert health.headers["content-type"] == "application/json"
            assert health.json()["ok"] is True
            assert health.json()["daemon"].startswith("daemon:")

            delivery = workspace.schedule(workspace.approved_post(), "+1s")
            metrics = daemon.wait_for(
                "the sent delivery in /metrics",
                lambda: workspace.metrics_with('signpost_deliveries{state="sent"} 1.0'),
            )
            assert workspace.get("/metrics").headers["content-type"].startswith("text/plain")
            assert "# TYPE signpost_delivery_lateness_seconds histogram" in metrics
            assert 'signpost_delivery_lateness_seconds_bucket{le="+Inf"} 1.0' in metrics
            assert "signpost_delivery_lateness_seconds_count 1.0" in metrics
            assert 'signpost_publish_errors_total{channel="hook",kind="transient"} 1.0' in metrics
            assert 'signpost_deliveries_sent_total{channel="hook"} 1.0' in metrics
            assert workspace.get("/nowhere").status_code == 404

            assert [h.status for h in receiver.snapshot()] == [500, 200]
            stored = workspace.delivery(delivery["id"])
            assert (stored["state"], stored["attempts"]) == ("sent", 2)
            assert daemon.terminate() == 0
        finally:
            workspace.reap()


def test_sigterm_lets_the_send_in_flight_finish_then_exits_0(
    tmp_path: Path, database: TestDatabase
):
    # Slow enough to be in flight at SIGTERM, within the send deadline (40 % of the 2 s lease).
    with Receiver(SECRET, delay=(0.5, 0.5)) as receiver:
        workspace = Workspace.create(tmp_path, receiver, database)
        try:
            daemon = workspace.start()
            daemon.wait_serving()
            delivery = workspace.schedule(workspace.approved_post(), "+1s")
            daemon.wait_for("the request to reach the receiver", receiver.snapshot)

            started = time.monotonic()
            assert daemon.terminate(timeout=10) == 0
            assert time.monotonic() - started < 5
            assert workspace.delivery(delivery["id"])["state"] == "sent"
            assert len(receiver.snapshot()) == 1
        finally:
            workspace.reap()

    events = workspace.rows(
        "SELECT actor, action, details FROM audit_event WHERE subject = 'daemon' ORDER BY seq"
    )
    assert [e["action"] for e in events] == ["daemon.start", "daemon.stop"]
    assert events[0]["actor"] == events[1]["actor"]
    assert json.loads(events[0]["details"])["pid"] == daemon.proc.pid
    assert json.loads(events[1]["details"]) == {"sent": 1}
    assert "stopping: no new claims" in daemon.output()

    (beat,) = workspace.rows("SELECT * FROM heartbeat")
    assert (beat["daemon_id"], beat["pid"]) == (events[0]["actor"], daemon.proc.pid)
    assert beat["version"]
    status = workspace.json("bob", "status")
    (listed,) = status["daemons"]
    assert (listed["id"], listed["pid"], listed["host"]) == (
        beat["daemon_id"],
        daemon.proc.pid,
        socket.gethostname(),
    )
    assert listed["heartbeat_age_seconds"] >= 0
    assert status["deliveries"] == {"sent": 1}
    workspace.verify_audit()


def test_daemon_once_sends_what_is_due_and_exits(workspace: Workspace, receiver: Receiver):
    post_id = workspace.approved_post()
    due = workspace.schedule(post_id, "+1s")
    later = workspace.schedule(workspace.approved_post(TEXT + " Later."), "+1h")
    wait_until(due["due"])

    once = workspace.start("--once")
    assert once.proc.wait(timeout=30) == 0, once.output()
    assert "sent 1, retrying 0, failed 0, uncertain 0, missed 0" in once.output()
    assert [h.delivery for h in receiver.snapshot()] == [due["id"]]
    assert workspace.delivery(due["id"])["state"] == "sent"
    assert workspace.delivery(later["id"])["state"] == "pending"
    assert workspace.post_state(post_id) == "published"
