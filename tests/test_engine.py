# ruff: noqa: F811  (the fixtures cli and clock, imported from tests.shared)
"""The delivery engine step by step with a frozen clock: exactly once, nothing lost, never late.

The channels here are fakes that implement the Channel protocol (STYLE §4): they record every
publish with its idempotency key and answer with a scripted outcome. Everything else is real:
the database (SQLite or PostgreSQL), the claims, the audit chain.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from channels.base import (
    Message,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    TransientError,
)
from posts.store import Store
from scheduler import claims
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine, backoff
from tests.conftest import add_post
from tests.database import TestDatabase
from tests.shared import TEXT, approved, cli, clock, deliveries, post_state, schedule  # noqa: F401


@dataclass
class FakeChannel:
    """A channel that records what it was sent and answers from a script."""

    name: str
    deduplicates: bool = False
    type: str = "fake"
    script: list[Callable[[Message], Receipt]] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)
    landed: set[str] = field(default_factory=set)  # keys that really arrived
    can_look_up: bool = False

    def publish(self, message: Message) -> Receipt:
        self.sent.append(message)
        if self.script:
            return self.script.pop(0)(message)
        self.landed.add(message.idempotency_key)
        return Receipt(
            remote_id=f"r-{message.delivery_id}",
            remote_url=f"https://example.test/{message.delivery_id}",
        )

    def lookup(self, message: Message) -> Receipt | None:
        if not self.can_look_up:
            raise OutcomeUnknown(f"{self.name}: cannot be asked")
        if message.idempotency_key in self.landed:
            return Receipt(remote_id="found", remote_url="https://example.test/found")
        return None

    def check(self) -> str:
        return "ok"


def raises(exc: Exception) -> Callable[[Message], Receipt]:
    def answer(_message: Message) -> Receipt:
        raise exc

    return answer


def lands_then_drops(channel: FakeChannel) -> Callable[[Message], Receipt]:
    def answer(message: Message) -> Receipt:
        channel.landed.add(message.idempotency_key)
        raise OutcomeUnknown("connection lost after sending")

    return answer


@pytest.fixture
def store(config_file: Path, campaign: str):
    store = Store(load(config_file).database_url)
    yield store
    store.close()


@pytest.fixture
def hook() -> FakeChannel:
    return FakeChannel("newsroom")


@pytest.fixture
def feed() -> FakeChannel:
    return FakeChannel("feed", deduplicates=True)


@pytest.fixture
def engine(store: Store, clock: FrozenClock, hook: FakeChannel, feed: FakeChannel) -> Engine:
    settings = DaemonSettings(
        grace=timedelta(minutes=15),
        lease=timedelta(seconds=60),
        max_attempts=3,
        retry_base=timedelta(seconds=30),
    )
    return Engine(
        store=store,
        settings=settings,
        clock=clock,
        channels={"newsroom": hook, "feed": feed},
        owner="daemon:test",
        rng=random.Random(7),
        workers=2,
    )


def actions(db: TestDatabase, subject: str) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT action FROM audit_event WHERE subject = :subject ORDER BY seq",
            {"subject": subject},
        )
    ]


def test_sends_on_time_once_and_records_the_receipt(cli, engine, clock, hook, db_path):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+10m")
    assert engine.tick().sent == 0  # not due yet
    clock.advance(timedelta(minutes=10))
    report = engine.tick()
    assert report.sent == 1
    assert engine.tick().sent == 0  # nothing goes out twice
    assert [m.idempotency_key for m in hook.sent] == [d["idempotency_key"]]
    assert hook.sent[0].text == TEXT
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "sent"
    assert row["remote_url"] == f"https://example.test/{d['id']}"
    assert post_state(cli, post_id) == "published"
    assert actions(db_path, f"delivery:{d['id']}") == ["delivery.claim", "delivery.sent"]
    assert cli("bob", "audit", "verify").exit_code == 0


def test_unapproved_post_never_goes_out(cli, engine, clock, hook):
    post = add_post(cli, TEXT)
    schedule(cli, post["id"], "+1m")
    clock.advance(timedelta(minutes=2))
    assert engine.tick().sent == 0
    assert hook.sent == []


def test_edit_after_approval_stops_it_even_if_the_state_says_pending(
    cli, engine, clock, hook, db_path
):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    cli("alice", "post", "edit", str(post_id), "--text", TEXT + " New words.")
    # Someone forces the delivery back to pending behind Signpost's back: the claim still
    # checks the approved hash against the current revision.
    db_path.execute("UPDATE delivery SET state = 'pending' WHERE id = :id", {"id": d["id"]})
    clock.advance(timedelta(minutes=2))
    assert engine.tick().sent == 0
    assert hook.sent == []
    cli("dave", "post", "approve", str(post_id), "--revision", "2")
    assert engine.tick().sent == 1
    assert hook.sent[0].text == TEXT + " New words."


def test_pause_stops_the_next_claim(cli, engine, clock, hook):
    post_id = approved(cli)
    schedule(cli, post_id, "+1m")
    cli("carol", "pause", "--campaign", "stop-it-now", "--reason", "incident")
    clock.advance(timedelta(minutes=2))
    assert engine.tick().sent == 0
    cli("carol", "resume", "--campaign", "stop-it-now")
    assert engine.tick().sent == 1


def test_transient_error_waits_as_the_server_asks(cli, engine, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    hook.script.append(raises(TransientError("newsroom: rate limited (429)", retry_after=120)))
    clock.advance(timedelta(minutes=1))
    assert engine.tick().retrying == 1
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "retry_wait"
    wait = datetime.fromisoformat(row["next_attempt"]) - clock.now()
    assert timedelta(seconds=120) <= wait <= timedelta(seconds=132)  # at most 10 % jitter
    assert row["last_error"] == "newsroom: rate limited (429)"
    assert engine.tick().sent == 0
    clock.advance(wait)
    assert engine.tick().sent == 1
    assert len({m.idempotency_key for m in hook.sent}) == 1


def test_gives_up_after_max_attempts(cli, engine, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    hook.script += [raises(TransientError("newsroom: server error 503")) for _ in range(3)]
    clock.advance(timedelta(minutes=1))
    for _ in range(3):
        engine.tick()
        clock.advance(timedelta(minutes=3))
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "failed"
    assert row["attempts"] == 3
    assert "gave up after 3 attempts" in row["last_error"]
    assert post_state(cli, post_id) == "approved"  # nothing went out


def test_permanent_error_fails_with_the_servers_message(cli, engine, clock, hook, feed):
    post_id = approved(cli)
    schedule(cli, post_id, "+1m", "newsroom,feed")
    hook.script.append(raises(PermanentError("credentials rejected by newsroom (401)")))
    clock.advance(timedelta(minutes=1))
    report = engine.tick()
    assert (report.sent, report.failed) == (1, 1)
    states = {r["channel"]: (r["state"], r["last_error"]) for r in deliveries(cli).values()}
    assert states == {
        "newsroom": ("failed", "credentials rejected by newsroom (401)"),
        "feed": ("sent", None),
    }
    assert post_state(cli, post_id) == "partly_published"


def test_unknown_outcome_is_never_blindly_resent(cli, engine, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    hook.script.append(lands_then_drops(hook))
    clock.advance(timedelta(minutes=1))
    assert engine.tick().uncertain == 1
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        engine.tick()
    assert len(hook.sent) == 1
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "uncertain"
    assert "connection lost after sending" in row["last_error"]
    status = json.loads(cli("bob", "status", "--format", "json").stdout)
    assert status["deliveries"]["uncertain"] == 1
    # A person checks the channel and settles it.
    resolved = cli(
        "bob", "deliveries", "resolve", str(d["id"]), "--sent", "https://example.test/by-hand"
    )
    assert resolved.exit_code == 0, resolved.stderr
    assert deliveries(cli)[d["id"]]["state"] == "sent"
    assert post_state(cli, post_id) == "published"


def test_unknown_outcome_on_a_deduplicating_channel_is_resent_with_the_same_key(
    cli, engine, clock, feed
):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m", "feed")
    feed.script.append(lands_then_drops(feed))
    clock.advance(timedelta(minutes=1))
    report = engine.tick()
    assert report.sent == 1  # retried at once, same key, channel dedupes
    assert [m.idempotency_key for m in feed.sent] == [d["idempotency_key"]] * 2


def test_unknown_outcome_asks_the_channel_when_it_can(cli, engine, clock, hook):
    hook.can_look_up = True
    post_id = approved(cli)
    [found, not_found] = [
        schedule(cli, post_id, at, "newsroom", "--again")[0] for at in ("+1m", "+2m")
    ]
    hook.script += [lands_then_drops(hook), raises(OutcomeUnknown("dropped before sending"))]
    clock.advance(timedelta(minutes=2))
    engine.tick()
    rows = deliveries(cli)
    assert rows[found["id"]]["state"] == "sent"
    assert rows[found["id"]]["remote_url"] == "https://example.test/found"
    # The channel said it never arrived: sending again cannot duplicate it.
    assert rows[not_found["id"]]["state"] == "sent"
    assert [m.delivery_id for m in hook.sent].count(not_found["id"]) == 2
    assert [m.delivery_id for m in hook.sent].count(found["id"]) == 1


def test_late_beyond_grace_is_missed_never_sent(cli, engine, clock, hook, db_path):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    clock.advance(timedelta(minutes=17))  # 16 min late, grace 15 min
    report = engine.tick()
    assert (report.sent, report.missed) == (0, 1)
    assert hook.sent == []
    assert deliveries(cli)[d["id"]]["state"] == "missed"
    assert actions(db_path, f"delivery:{d['id']}") == ["delivery.missed"]
    # Sending it late is a person's decision.
    retried = cli("alice", "deliveries", "retry", str(d["id"]))
    assert retried.exit_code == 0, retried.stderr
    assert engine.tick().sent == 1
    assert hook.sent[0].idempotency_key == d["idempotency_key"]


def test_past_expiry_after_it_started_is_failed_saying_why(cli, engine, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m", "newsroom", "--expires", "+5m")
    hook.script.append(raises(TransientError("newsroom: server error 503", retry_after=600)))
    clock.advance(timedelta(minutes=1))
    engine.tick()
    clock.advance(timedelta(minutes=10))  # the retry would be after the web chat is over
    engine.tick()
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "failed"
    assert row["last_error"].startswith("failed: past its expiry ")
    assert row["last_error"].endswith("; last error: newsroom: server error 503")
    assert len(hook.sent) == 1


def test_past_expiry_before_it_started_is_missed(cli, engine, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m", "newsroom", "--expires", "+5m")
    clock.advance(timedelta(minutes=6))  # the daemon was away until after the expiry
    engine.tick()
    assert deliveries(cli)[d["id"]]["state"] == "missed"
    assert hook.sent == []


def test_a_daemon_dying_mid_send_is_reconciled(cli, engine, store, clock, hook, feed):
    post_id = approved(cli)
    schedule(cli, post_id, "+1m", "newsroom,feed")
    clock.advance(timedelta(minutes=1))
    claims = engine.claim_due(10)  # a daemon claims both, then dies before recording
    assert len(claims) == 2
    assert engine.tick().sent == 0  # leases still held: nobody else touches them
    clock.advance(timedelta(seconds=61))
    report = engine.tick()
    assert report.reconciled == 2
    states = {r["channel"]: r["state"] for r in deliveries(cli).values()}
    assert states == {"feed": "sent", "newsroom": "uncertain"}  # feed dedupes; webhook here not
    assert hook.sent == []


def test_a_receipt_after_another_daemon_took_the_lease_over_is_not_recorded(
    cli, engine, store, clock, db_path
):
    """A daemon that stalled past its lease and then hears back must not record over the
    daemon that took the claim over (still sending it, under its own lease): its receipt
    counts as a lost lease, and the other daemon settles the delivery."""
    post_id = approved(cli)
    schedule(cli, post_id, "+1m", "newsroom,feed")
    clock.advance(timedelta(minutes=1))
    stalled = engine.claim_due(10)
    clock.advance(timedelta(seconds=61))
    with store.transaction() as session:
        taken = claims.take_over(session, clock.now(), engine.settings, "daemon:other", {})
    assert len(taken) == 2
    before = deliveries(cli)
    assert {r["state"] for r in before.values()} == {"sending"}
    late = Receipt(remote_id="late", remote_url="https://late.test/1")
    reports = [engine.record(c, late) for c in stalled]
    assert [(r.lost_lease, r.sent) for r in reports] == [(1, 0), (1, 0)]
    assert deliveries(cli) == before  # still the other daemon's to settle
    for claim in stalled:
        assert "delivery.sent" not in actions(db_path, f"delivery:{claim.delivery_id}")
    assert cli("bob", "audit", "verify").exit_code == 0


def test_two_engines_never_claim_the_same_delivery(cli, engine, store, clock):
    post_id = approved(cli)
    for second in range(1, 21):
        schedule(cli, post_id, f"+{second}s", "newsroom,feed", "--again")
    clock.advance(timedelta(seconds=21))
    claimed: list[int] = []
    lock = threading.Lock()
    other = replace(engine, owner="daemon:other")

    def grab(e: Engine) -> None:
        while batch := e.claim_due(3):
            with lock:
                claimed.extend(c.delivery_id for c in batch)

    threads = [threading.Thread(target=grab, args=(e,)) for e in (engine, other, engine, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 40
    assert len(set(claimed)) == 40


@pytest.mark.parametrize(
    ("attempts", "retry_after", "low", "high"),
    [
        (1, None, 30, 33),
        (2, None, 60, 66),
        (3, None, 120, 132),
        (5, None, 480, 528),
        (1, 7.0, 7, 7.7),
        (4, 0.0, 0, 0),
    ],
)
def test_backoff(attempts, retry_after, low, high):
    rng = random.Random(1)
    for _ in range(50):
        wait = backoff(attempts, timedelta(seconds=30), retry_after, rng).total_seconds()
        assert low <= wait <= high


def test_with_the_default_config_a_persistent_503_ends_failed_after_8_attempts(
    cli, store, clock, hook
):
    """Grace bounds when each attempt may start, not how long retrying may take."""
    engine = Engine(
        store=store,
        settings=DaemonSettings(),  # 30 s base, 15 min grace, 8 attempts: 64 min of back-off
        clock=clock,
        channels={"newsroom": hook},
        owner="daemon:test",
        rng=random.Random(8),
    )
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    hook.script += [raises(TransientError("newsroom: server error 503"))] * 20
    clock.advance(timedelta(minutes=1))
    for _ in range(20):
        engine.tick()
        row = deliveries(cli)[d["id"]]
        if row["state"] != "retry_wait":
            break
        clock.advance(datetime.fromisoformat(row["next_attempt"]) - clock.now())
    assert row["state"] == "failed"
    assert row["attempts"] == 8
    assert row["last_error"] == "newsroom: server error 503 (gave up after 8 attempts)"
    assert len(hook.sent) == 8
