"""Several daemons, concurrent writers and an outage, on PostgreSQL whatever ``--database`` says.

Every test here makes a fresh database on the session's throwaway cluster (``pg_server``, or
``pg_cluster`` itself where the test stops the server) and drops it afterwards.

1. Three ``signpost daemon`` processes share one database and 300 deliveries due at once;
   one is SIGKILLed mid-burst. No delivery is claimed by two daemons at once, none arrives
   under two keys, none is lost, and the audit chain verifies.
2. Four processes append to the audit chain as fast as they can: it stays one line.
3. The server is stopped and restarted under a running daemon: the daemon says so, keeps
   running, and sends everything exactly once when the server is back; the CLI says
   "database unreachable at host:port" in one line meanwhile.

The daemon-process and receiver helpers come from tests/test_daemon.py.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scheduler.clock import SystemClock
from tests.database import TestDatabase, drop_postgres, postgres_database
from tests.peers import PgCluster
from tests.test_daemon import SECRET, SIGNPOST, Receiver, Workspace, wait_for, wait_until


def aware(value: datetime) -> datetime:
    """PostgreSQL hands back aware datetimes; SQLite-stored naive ones are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pid_of(daemon_id: str) -> int:
    """``daemon:HOST:PID:RANDOM`` → PID."""
    return int(daemon_id.rsplit(":", 2)[1])


def one_lease_at_a_time(events: list[dict[str, Any]]) -> list[str]:
    """Walk each delivery's audit events in seq order; what broke "one holder at a time".

    A claim needs no holder; a reconcile takes over a holder's (expired) claim; an outcome
    must come from the holder and releases it.
    """
    holder: dict[str, str | None] = defaultdict(lambda: None)
    problems = []
    for e in events:
        subject, actor, action = e["subject"], e["actor"], e["action"]
        if action == "delivery.claim":
            if holder[subject] is not None:
                problems.append(
                    f"seq {e['seq']}: {actor} claimed {subject} held by {holder[subject]}"
                )
            holder[subject] = actor
        elif action == "delivery.reconcile":
            if holder[subject] is None:
                problems.append(f"seq {e['seq']}: {actor} reconciled unclaimed {subject}")
            holder[subject] = actor
        elif action in (
            "delivery.sent",
            "delivery.retry_wait",
            "delivery.failed",
            "delivery.uncertain",
        ):
            if holder[subject] != actor:
                held_by = holder[subject]
                problems.append(
                    f"seq {e['seq']}: {actor} recorded {action} for {subject} ({held_by})"
                )
            holder[subject] = None
    problems += [f"{s} still held by {a}" for s, a in holder.items() if a is not None]
    return problems


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[TestDatabase]:
    db = postgres_database(pg_server)
    try:
        yield db
    finally:
        drop_postgres(db, pg_server)


# --- 1. three daemons, one killed mid-burst -----------------------------------------------------

DELIVERIES = 300
DAEMONS = 3
#: seconds the receiver waits before answering each request, so sends overlap
RECEIVER_DELAY = (0.0, 0.05)
KILL_AFTER = 45  # requests the receiver has seen when it stops answering and one daemon dies


class Gate(Receiver):
    """Stops answering once ``close_after`` requests have arrived, until ``opened`` is set.

    Every daemon's batch in flight is then stuck between "the receiver has it" and "the
    database says so", so the daemon killed at that moment surely dies mid-send.
    """

    def __init__(self, secret: str, close_after: int, **kwargs: Any) -> None:
        super().__init__(secret, **kwargs)
        self.close_after = close_after
        self.opened = threading.Event()
        self.blocked: set[int] = set()  # deliveries whose request waits for the gate

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        status = super().receive(body, headers)
        with self.lock:
            closed = len(self.hits) >= self.close_after and not self.opened.is_set()
            if closed:
                self.blocked.add(json.loads(body)["data"]["delivery"])
        if closed:
            self.opened.wait(30)
        return status


def test_three_daemons_one_killed_mid_burst_no_duplicate_nothing_lost(
    tmp_path: Path, pg_database: TestDatabase, record_property: pytest.RecordProperty
):
    with Gate(SECRET, KILL_AFTER, delay=RECEIVER_DELAY, seed=300) as receiver:
        ws = Workspace.create(tmp_path, receiver, pg_database, grace="15m")
        try:
            configs = [ws.config] + [
                ws.second_config(f"config-{n}.toml") for n in range(1, DAEMONS)
            ]
            daemons = [
                ws.start(log=f"daemon-{n}.log", config=config) for n, config in enumerate(configs)
            ]
            for daemon in daemons:
                daemon.wait_serving(timeout=30)
            ids = ws.schedule_many(ws.approved_post(), DELIVERIES, timedelta(milliseconds=300))
            assert ws.states() == {"pending": DELIVERIES}

            def holders(only: set[int] | None = None) -> Counter[int]:
                """Claims in flight by daemon pid (only those in ``only``, if given)."""
                rows = ws.rows("SELECT id, lease_owner FROM delivery WHERE state = 'sending'")
                return Counter(
                    pid_of(r["lease_owner"]) for r in rows if only is None or r["id"] in only
                )

            def stuck() -> Counter[int]:
                """Claims whose request the closed gate holds: none can be recorded yet."""
                with receiver.lock:
                    blocked = set(receiver.blocked)
                held = holders(blocked)
                return held if len(held) == DAEMONS else Counter()

            held = daemons[0].wait_for(
                f"{KILL_AFTER} requests at the receiver, then every daemon stuck mid-send",
                stuck,
                timeout=30,
            )
            # the daemon holding the most claims dies while the receiver holds its requests
            victim = max(daemons, key=lambda d: held[d.proc.pid])
            victim.kill()
            in_flight_at_kill = holders()[victim.proc.pid]
            requests_at_kill = len(receiver.snapshot())
            receiver.opened.set()
            survivors = [d for d in daemons if d is not victim]

            survivors[0].wait_for("every delivery to settle", ws.settled, timeout=45)
            status = ws.json("bob", "status")
            for daemon in survivors:
                assert daemon.proc.poll() is None, daemon.output()
        finally:
            receiver.opened.set()
            for daemon in ws.started:
                if daemon.proc.poll() is None:
                    daemon.terminate()
            ws.reap()

    for daemon in survivors:
        assert daemon.proc.returncode == 0, daemon.output()
        assert "Traceback" not in daemon.output()

    rows = ws.rows("SELECT id, state, idempotency_key, attempts, last_error FROM delivery")
    events = ws.rows("SELECT seq, actor, action, subject FROM audit_event ORDER BY seq")
    hits = receiver.snapshot()
    keys = receiver.keys_by_delivery()
    sent_by = Counter(pid_of(e["actor"]) for e in events if e["action"] == "delivery.sent")
    reconciled = [e for e in events if e["action"] == "delivery.reconcile"]
    figures = {
        "deliveries": len(rows),
        "daemons": DAEMONS,
        "requests_at_kill": requests_at_kill,
        "claims_in_flight_at_kill": in_flight_at_kill,
        "reconciled_after_lease_expiry": len(reconciled),
        "raw_requests": len(hits),
        "requests_cut_short_by_the_kill": receiver.truncated,
        "distinct_webhook_ids": len({h.webhook_id for h in hits}),
        "duplicates_resent_with_same_key": sum(1 for h in hits if h.duplicate),
        "sent_by_daemon": {
            ("killed" if pid == victim.proc.pid else "survivor") + f" pid {pid}": n
            for pid, n in sorted(sent_by.items())
        },
        "max_attempts": max(r["attempts"] for r in rows),
    }
    for name, value in figures.items():
        record_property(name, value)
    sys.stdout.write(f"three-daemon figures: {figures}\n")

    # zero lost: every delivery sent (the webhook dedupes, so reconciled ones were resent)
    assert len(rows) == DELIVERIES
    assert Counter(r["state"] for r in rows) == {"sent": DELIVERIES}
    assert receiver.rejected == []
    # zero duplicates: each delivery arrived under exactly one key, the one stored for it
    assert set(keys) == set(ids)
    assert [d for d, k in keys.items() if len(k) != 1] == []
    stored_key = {r["id"]: r["idempotency_key"] for r in rows}
    assert {d: next(iter(k)) for d, k in keys.items()} == stored_key
    assert receiver.accepted == set(stored_key.values())
    # one delivery.sent per delivery, and never two daemons holding one claim
    assert Counter(e["subject"] for e in events if e["action"] == "delivery.sent") == {
        f"delivery:{i}": 1 for i in ids
    }
    deliveries_events = [e for e in events if e["subject"].startswith("delivery:")]
    assert one_lease_at_a_time(deliveries_events) == []
    # the kill landed mid-send, and a survivor took over the dead daemon's claims
    assert in_flight_at_kill > 0
    assert reconciled
    assert {pid_of(e["actor"]) for e in reconciled} <= {d.proc.pid for d in survivors}
    assert sum(sent_by.values()) == DELIVERIES
    assert len(sent_by) >= 2, sent_by

    ws.verify_audit()
    # every daemon wrote its heartbeat; status lists all three with their age
    listed = {d["pid"]: d for d in status["daemons"]}
    assert sorted(listed) == sorted(d.proc.pid for d in daemons)
    for daemon in daemons:
        assert listed[daemon.proc.pid]["heartbeat_age_seconds"] >= 0
    for daemon in survivors:
        assert listed[daemon.proc.pid]["heartbeat_age_seconds"] < 10
    assert listed[victim.proc.pid]["heartbeat_age_seconds"] >= max(
        listed[d.proc.pid]["heartbeat_age_seconds"] for d in survivors
    )


# --- 2. concurrent audit appends ------------------------------------------------------------

WRITERS = 4
ROUNDS = 8  # each round: post add, submit, approve, pause, resume (5 audited writes)

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from typer.testing import CliRunner
    from scheduler.cli import app

    config, name, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    runner = CliRunner()

    def run(actor, *args):
        result = runner.invoke(app, ["--config", config, *args], env={"SIGNPOST_ACTOR": actor})
        if result.exit_code != 0:
            why = result.stderr or repr(result.exception)
            sys.exit(f"{name}: {args} exited {result.exit_code}: {why}")
        return result

    Path(f"{go}.{name}").touch()  # ready
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:  # start all writers together
        time.sleep(0.01)
    for n in range(rounds):
        text = f"Confidential help: 0808 1000 900 ({name} {n})"
        post = json.loads(
            run("alice", "post", "add", "--campaign", name, "--text", text, "--format", "json")
            .stdout
        )
        run("alice", "post", "submit", str(post["id"]))
        run("bob", "post", "approve", str(post["id"]), "--revision", "1")
        run("bob", "pause", "--campaign", name, "--reason", f"round {n}")
        run("bob", "resume", "--campaign", name)
    """
)


def test_concurrent_writers_keep_one_audit_chain(
    tmp_path: Path, pg_database: TestDatabase, record_property: pytest.RecordProperty
):
    with Receiver(SECRET) as receiver:
        ws = Workspace.create(tmp_path, receiver, pg_database, grace="15m")
    names = [f"writer-{n}" for n in range(WRITERS)]
    for name in names:
        ws.ok("alice", "campaign", "add", name, "--name", name)
    before = ws.rows("SELECT count(*) AS n FROM audit_event")[0]["n"]

    go = tmp_path / "go"
    env = ws.env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ws.config), name, str(ROUNDS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for name in names
    ]
    try:
        wait_for(
            "every writer to be ready",
            lambda: all(Path(f"{go}.{name}").exists() for name in names),
            timeout=30,
        )
        go.touch()  # release them at once
        started = time.monotonic()
        outputs = [p.communicate(timeout=60) for p in procs]
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode(errors="replace")

    events = ws.rows("SELECT seq, action, subject, prev_hash, hash FROM audit_event ORDER BY seq")
    # one line: seq 1..n without a gap, each event chained to the one before it
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert len({e["hash"] for e in events}) == len(events)
    written = WRITERS * ROUNDS * 5
    assert len(events) - before >= written
    actions = Counter(e["action"] for e in events[before:])
    for action in ("post.add", "post.submit", "post.approve", "pause", "resume"):
        assert actions[action] == WRITERS * ROUNDS, actions
    # the writers really did interleave: the pauses do not come one writer's block at a time
    owners = [e["subject"] for e in events[before:] if e["action"] == "pause"]
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    figures = {
        "writers": WRITERS,
        "audited_writes": len(events) - before,
        "seconds": round(elapsed, 1),
        "writes_per_second": round((len(events) - before) / elapsed, 1),
        "writer_switches_between_pauses": switches,
    }
    for name, value in figures.items():
        record_property(name, value)
    sys.stdout.write(f"concurrent writer figures: {figures}\n")
    assert switches > WRITERS - 1, owners
    verified = ws.verify_audit()
    assert f"{len(events)}" in verified


# --- 3. the database goes away under a running daemon -------------------------------------


def accepts_connections(cluster: PgCluster) -> bool:
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres",
            connect_timeout=2,
        ):
            return True
    except psycopg.OperationalError:
        return False


class Hold(Receiver):
    """Accepts the first request for each delivery in ``hold`` but answers only once
    ``released`` is set: the sender's outcome stays unrecorded until then."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.hold: set[int] = set()
        self.held: set[int] = set()
        self.released = threading.Event()

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        status = super().receive(body, headers)
        delivery = json.loads(body)["data"]["delivery"]
        with self.lock:
            wait = delivery in self.hold and delivery not in self.held
            self.held.add(delivery)
        if wait:
            self.released.wait(30)
        return status


def test_database_stopped_and_restarted_under_a_running_daemon(
    tmp_path: Path, pg_cluster: PgCluster, record_property: pytest.RecordProperty
):
    """Deliveries sent before the outage, in flight when it starts, due during and after it."""
    db = postgres_database(pg_cluster.url)
    port = pg_cluster.port
    try:
        with Hold(SECRET) as receiver:
            ws = Workspace.create(tmp_path, receiver, db, grace="10m")
            daemon = ws.start()
            try:
                daemon.wait_serving(timeout=30)
                post_id = ws.approved_post()
                before = ws.schedule_many(post_id, 10, timedelta(milliseconds=200))
                daemon.wait_for(
                    "the first deliveries to be sent", lambda: ws.states()["sent"] == len(before)
                )
                # one claim batch (8 workers), answered only once the server has gone
                in_flight = ws.schedule_many(post_id, 8, timedelta(milliseconds=300))
                receiver.hold.update(in_flight)
                during = ws.schedule_many(post_id, 10, timedelta(seconds=3))
                after = ws.schedule_many(post_id, 10, timedelta(seconds=8))
                due = {r["id"]: r["due"] for r in ws.rows("SELECT id, due FROM delivery")}
                daemon.wait_for(
                    "the next deliveries to be at the receiver, unanswered",
                    lambda: set(receiver.keys_by_delivery()) >= set(in_flight),
                )

                stopped = time.monotonic()
                down_at = SystemClock().now()
                try:
                    pg_cluster.stop("fast")
                    receiver.released.set()  # the daemon now has outcomes it cannot record
                    daemon.wait_for(
                        "the daemon to log the outage",
                        lambda: f"database unreachable at 127.0.0.1:{port}" in daemon.output(),
                        timeout=15,
                    )
                    cli = subprocess.run(
                        [str(SIGNPOST), "--config", str(ws.config), "status"],
                        capture_output=True,
                        text=True,
                        env={**ws.env(), "SIGNPOST_ACTOR": "bob"},
                        timeout=30,
                    )
                    # the "during" deliveries fall due while the server is down
                    wait_until(max(aware(due[i]) for i in during).isoformat(), slack=0.5)
                    assert daemon.proc.poll() is None, daemon.output()
                finally:
                    pg_cluster.start()
                    wait_for(
                        "PostgreSQL to accept connections",
                        lambda: accepts_connections(pg_cluster),
                        30,
                    )
                up_at = SystemClock().now()
                outage = time.monotonic() - stopped

                daemon.wait_for(
                    "every delivery to settle after the restart",
                    ws.settled,
                    timeout=60,
                )
                status = ws.json("bob", "status")
            finally:
                receiver.released.set()
                if daemon.proc.poll() is None:
                    assert daemon.terminate() == 0, daemon.output()
                ws.reap()

        output = daemon.output()
        rows = ws.rows("SELECT id, state, idempotency_key FROM delivery")
        hits = receiver.snapshot()
        keys = receiver.keys_by_delivery()
        events = ws.rows("SELECT seq, actor, action, subject FROM audit_event ORDER BY seq")
        reconciled = [e["subject"] for e in events if e["action"] == "delivery.reconcile"]
        figures = {
            "outage_seconds": round(outage, 1),
            "in_flight_when_the_server_stopped": len(in_flight),
            "reconciled_after_the_restart": len(reconciled),
            "unreachable_log_lines": output.count("database unreachable at"),
            "raw_requests": len(hits),
            "duplicates_resent_with_same_key": sum(1 for h in hits if h.duplicate),
            "due_during_outage_sent_late_by_max_seconds": max(
                json.loads(e["details"])["late_seconds"]
                for e in ws.rows(
                    "SELECT subject, details FROM audit_event WHERE action = 'delivery.sent'"
                )
                if int(e["subject"].split(":")[1]) in during
            ),
        }
        for name, value in figures.items():
            record_property(name, value)
        sys.stdout.write(f"outage figures: {figures}\n")

        # the outage really came between the first and last deliveries
        assert all(down_at < aware(due[i]) < up_at for i in during)
        assert all(up_at < aware(due[i]) for i in after)
        # the CLI: exit 1, one line on stderr naming where the database is
        assert cli.returncode == 1, (cli.stdout, cli.stderr)
        assert cli.stdout == ""
        assert cli.stderr.count("\n") == 1, cli.stderr
        assert cli.stderr.startswith(f"error: database unreachable at 127.0.0.1:{port}")
        # the daemon: logged it, did not crash, carried on
        assert f"database unreachable at 127.0.0.1:{port}" in output
        assert "database reachable again" in output
        assert "Traceback" not in output, output
        assert daemon.proc.returncode == 0
        # nothing lost, nothing twice: the daemon kept what the receiver answered while the
        # database was away and recorded it on its return, before its own expired leases
        # could look like a dead daemon's: no reconcile, no resend
        all_ids = before + in_flight + during + after
        assert reconciled == []
        assert [h.delivery for h in hits if h.duplicate] == []
        assert Counter(e["subject"] for e in events if e["action"] == "delivery.sent") == {
            f"delivery:{i}": 1 for i in all_ids
        }
        assert one_lease_at_a_time(events) == []
        assert Counter(r["state"] for r in rows) == {"sent": len(all_ids)}
        assert set(keys) == set(all_ids)
        assert [d for d, k in keys.items() if len(k) != 1] == []
        assert receiver.accepted == {r["idempotency_key"] for r in rows}
        assert receiver.rejected == []
        ws.verify_audit()
        (listed,) = status["daemons"]
        assert listed["pid"] == daemon.proc.pid
        assert listed["heartbeat_age_seconds"] < 10
    finally:
        if not accepts_connections(pg_cluster):
            pg_cluster.start()
        drop_postgres(db, pg_cluster.url)
