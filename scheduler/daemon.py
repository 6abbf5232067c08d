"""``signpost daemon``: publish approved posts on time, until told to stop.

The database is the only truth. APScheduler 3 is kept only as the in-process wake-up
calendar: one date job for each moment an upcoming delivery falls due, keyed by that moment
(deliveries due together share it), with ``misfire_grace_time=None`` (its 1 s default
silently drops a late job). A job does not send anything itself; it wakes the loop, which
claims through the engine like every other path. Every ``[daemon] sync_interval`` the loop
re-reads the database (so changes made by the CLI in other processes appear without a
restart), reconciles claims of dead daemons, marks the missed, writes its heartbeat and
refreshes the metrics.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from channels import text
from posts import audit, notices
from posts.errors import UserError
from posts.models import Delivery, DeliveryState, Heartbeat
from posts.store import DatabaseUnreachable
from scheduler.delivery import CLAIMABLE, Claim, Engine, Report
from scheduler.outcomes import retry_span

RETRY_SPAN_WARNING = timedelta(days=1)
log = logging.getLogger("signpost.daemon")

HORIZON = timedelta(hours=1)  # how far ahead deliveries are put on the wake-up calendar
MAX_OUTAGE_WAIT_S = 30.0  # back-off ceiling while the database is unreachable
VERSION = "0.1.0"


def daemon_id() -> str:
    """This process's name in heartbeats, leases and the audit log."""
    return f"daemon:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Metrics:
    """Prometheus metrics, all named ``signpost_...``, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.deliveries = Gauge(
            "signpost_deliveries", "Deliveries by state", ["state"], registry=self.registry
        )
        self.lateness = Histogram(
            "signpost_delivery_lateness_seconds",
            "Time from due to sent",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.errors = Counter(
            "signpost_publish_errors",
            "Publish errors by channel and kind",
            ["channel", "kind"],
            registry=self.registry,
        )
        self.sent = Counter(
            "signpost_deliveries_sent",
            "Deliveries sent by channel",
            ["channel"],
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "signpost_last_sync_timestamp_seconds",
            "When the daemon last re-read the database",
            registry=self.registry,
        )

    def observe_sent(self, claim: Claim, _receipt: Any, now: datetime) -> None:
        self.sent.labels(claim.channel).inc()
        self.lateness.observe(max(0.0, (now - claim.due).total_seconds()))

    def observe_error(self, claim: Claim, kind: str) -> None:
        self.errors.labels(claim.channel, kind).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


@dataclass
class Daemon:
    """The long-running loop around one :class:`Engine`."""

    engine: Engine
    sync_interval: float
    health: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    wake_event: threading.Event = field(default_factory=threading.Event)
    started: datetime | None = None
    last_sync: datetime | None = None
    http: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.stop_event = self.engine.stopping
        self.engine.on_sent = self.metrics.observe_sent
        self.engine.on_error = self.metrics.observe_error

    # --- life cycle -------------------------------------------------------------------------

    def run(self) -> Report:
        """Run until ``stop()``; returns the totals. In-flight sends finish before it returns.

        The health port is taken first: a second daemon pointed at a port that is in use
        stops there, before it records a start or a heartbeat it could not keep.
        """
        from apscheduler.schedulers.background import BackgroundScheduler

        self._bind_health()
        text.preload()  # before the first wake-up, not during it
        calendar = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        calendar.start()
        self.started = self.engine.clock.now()
        self._audit("daemon.start", {"pid": os.getpid(), "host": socket.gethostname()})
        span = retry_span(self.engine.settings)
        if span > RETRY_SPAN_WARNING:
            log.warning(
                "[daemon] max_attempts %d with retry_base %s: a failing delivery keeps"
                " retrying for %s before it is failed (give the posts an --expires, or"
                " fewer attempts)",
                self.engine.settings.max_attempts,
                self.engine.settings.retry_base,
                span,
            )
        self._serve_health()
        totals = Report()
        outage = 0.0  # seconds to wait before trying a database that went away
        try:
            while not self.stop_event.is_set():
                try:
                    totals.add(self.engine.tick())  # first: a wake-up is for a due delivery
                    if self._sync_due():
                        self._sync(calendar)
                except DatabaseUnreachable as exc:
                    # No claims while the database is away; claims in flight keep their
                    # lease and are settled as unknown outcomes once it is back.
                    outage = min(max(outage * 2, 1.0), MAX_OUTAGE_WAIT_S)
                    log.error("%s; trying again in %.0fs", exc, outage)
                    self.stop_event.wait(outage)
                    continue
                except Exception:  # the loop boundary: log it, wait, try again
                    log.exception("daemon pass failed; trying again after the sync interval")
                else:
                    if outage:
                        log.info("database reachable again")
                    outage = 0.0
                self._wait()
        finally:
            calendar.shutdown(wait=False)
            if self.http is not None:
                self.http.shutdown()
                self.http.server_close()
            try:
                self._stopped(totals)
            except DatabaseUnreachable as exc:
                log.error("could not record the stop: %s", exc)
            log.info("daemon stopped: %s", totals)
        return totals

    def stop(self, *_args: Any) -> None:
        """Stop claiming; the loop exits after the sends in flight."""
        log.info("stopping: no new claims; waiting for sends in flight")
        self.stop_event.set()
        self.wake_event.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _sync_due(self) -> bool:
        if self.last_sync is None:
            return True
        elapsed = (self.engine.clock.now() - self.last_sync).total_seconds()
        return elapsed >= self.sync_interval * 0.9

    def _wait(self) -> None:
        self.wake_event.wait(timeout=self.sync_interval)
        self.wake_event.clear()

    # --- the database as truth --------------------------------------------------------------

    def _sync(self, calendar: Any) -> None:
        """Re-read upcoming deliveries into the calendar; beat; refresh gauges."""
        now = self.engine.clock.now()
        # concurrent: it writes only this daemon's own heartbeat row (posts.store)
        with self.engine.store.transaction(concurrent=True) as session:
            upcoming = session.exec(
                select(Delivery.due, Delivery.next_attempt)
                .where(Delivery.state.in_(CLAIMABLE), Delivery.due <= now + HORIZON)
                .distinct()
            ).all()
            self._beat(session, now)
            counts = dict(
                session.exec(select(Delivery.state, sa.func.count()).group_by(Delivery.state)).all()
            )
        # One wake-up for each moment something falls due, however many fall due then: a
        # burst of 2,000 due together was 2,000 jobs to add, fire and remove, each taking
        # the interpreter lock from the sends (docs/benchmarks.md).
        wanted: dict[str, datetime] = {}
        for due, next_attempt in upcoming:
            when = max(due, next_attempt or due)
            wanted[when.isoformat()] = when
        for job in calendar.get_jobs():
            if job.id not in wanted:
                job.remove()
        for job_id, when in wanted.items():
            if when > now and calendar.get_job(job_id) is None:
                calendar.add_job(self.wake_event.set, "date", run_date=when, id=job_id)
        for state in DeliveryState:
            self.metrics.deliveries.labels(state.value).set(counts.get(state.value, 0))
        self.metrics.last_sync.set(now.timestamp())
        self.last_sync = now

    def _beat(self, session: Any, now: datetime) -> None:
        beat = session.get(Heartbeat, self.engine.owner)
        if beat is None:
            beat = Heartbeat(
                daemon_id=self.engine.owner,
                host=socket.gethostname(),
                pid=os.getpid(),
                started=self.started or now,
                last_beat=now,
                version=VERSION,
            )
        beat.last_beat = now
        session.add(beat)

    def _stopped(self, totals: Report) -> None:
        """Record the stop and tell the team (another daemon, or this one's next start,
        sends the notification)."""
        now = self.engine.clock.now()
        with self.engine.store.transaction() as session:
            audit.record(
                session,
                now=now,
                actor=self.engine.owner,
                action="daemon.stop",
                subject="daemon",
                details={"sent": totals.sent},
            )
            notices.notify(
                session,
                now,
                self.engine.notify,
                "daemon_stopped",
                f"Signpost daemon {self.engine.owner} stopped after sending {totals.sent}"
                " deliveries. If no other daemon runs, nothing will be published.",
                self.engine.owner,
            )

    def _audit(self, action: str, details: dict[str, Any]) -> None:
        with self.engine.store.transaction() as session:
            audit.record(
                session,
                now=self.engine.clock.now(),
                actor=self.engine.owner,
                action=action,
                subject="daemon",
                details=details,
            )

    # --- health -----------------------------------------------------------------------------

    def _bind_health(self) -> None:
        """Listen on ``[daemon] health``, or refuse in one line that names the key."""
        if not self.health:
            return
        host, _, port = self.health.rpartition(":")
        try:
            self.http = ThreadingHTTPServer((host, int(port)), self._health_handler())
        except OSError as exc:
            raise UserError(cannot_listen("[daemon] health", self.health, exc)) from None

    def _serve_health(self) -> None:
        if self.http is None:
            return
        threading.Thread(target=self.http.serve_forever, daemon=True, name="health").start()
        host, port = self.http.server_address[:2]
        log.info("health and metrics on http://%s:%s/healthz and /metrics", host, port)

    def _health_handler(self) -> type[BaseHTTPRequestHandler]:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    age = (
                        (daemon.engine.clock.now() - daemon.last_sync).total_seconds()
                        if (daemon.last_sync)
                        else None
                    )
                    healthy = age is not None and age < max(30.0, 5 * daemon.sync_interval)
                    body = json.dumps(
                        {"ok": healthy, "daemon": daemon.engine.owner, "last_sync_age_seconds": age}
                    ).encode()
                    self._reply(200 if healthy else 503, body, "application/json")
                elif self.path == "/metrics":
                    self._reply(
                        200, daemon.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
                    )
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


def cannot_listen(key: str, address: str, exc: OSError) -> str:
    """Why a port could not be taken, naming the config key and its value."""
    if exc.errno == errno.EADDRINUSE:
        why = "port already in use (is another Signpost process running?)"
    else:
        why = exc.strerror or str(exc)
    return f"{key} {address}: {why}"


def needs_a_person(report: Report) -> str | None:
    """The line ``daemon --once`` ends with when a delivery it handled failed or is
    uncertain (so cron mails it and the exit code is 1); None when all is well."""
    parts = [
        f"{count} {'delivery' if count == 1 else 'deliveries'} {state}: see"
        f" 'signpost deliveries list --state {state}'"
        for state, count in (("failed", report.failed), ("uncertain", report.uncertain))
        if count
    ]
    return "; ".join(parts) or None
