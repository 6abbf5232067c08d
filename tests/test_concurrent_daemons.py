# ruff: noqa: F811  (the fixtures cli, clock, store and engine, imported below)
"""Daemons side by side on PostgreSQL: their claims and outcomes run at the same time.

A person's command, or housekeeping, runs alone, as before (docs/delivery.md); the engine's
claims, lease renewals and outcomes run beside each other's and take turns only to append
to the audit chain. These tests hold one daemon's transaction open at the point that
matters and watch what another does meanwhile:

1. a second daemon's claim does not wait for the first's: it skips the rows being claimed
   (``FOR UPDATE SKIP LOCKED``) and takes the rest;
2. a person's write waits until the daemons' transactions have committed, so it never sees
   or changes a claim half made;
3. two daemons recording the last two deliveries of one post at once: the post is marked
   published (without the post's row lock each would see the other's still sending);
4. many concurrent transactions appending at once leave one chain that verifies.

SQLite has one writer at a time by design, so each test is skipped there.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from channels.base import Receipt
from posts import audit
from posts.notices import NotifyPolicy
from posts.store import Store
from scheduler import claims
from scheduler.claims import Claim
from scheduler.delivery import Engine
from scheduler.outcomes import Outcomes
from tests.shared import approved, cli, clock, post_state, schedule  # noqa: F401
from tests.test_engine import engine, feed, hook, store  # noqa: F401

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
WAIT_S = 30  # a hang guard only: each step normally takes milliseconds


@pytest.fixture(autouse=True)
def _postgres_only(store: Store) -> None:
    if not store.is_postgres:
        pytest.skip("SQLite has one writer at a time by design (posts/store.py)")


def due_deliveries(cli, clock, count: int) -> int:
    """``count`` approved deliveries of one post, all due now: the post's id."""
    post_id = approved(cli)
    for second in range(1, count // 2 + 1):
        schedule(cli, post_id, f"+{second}s", "newsroom,feed", "--again")
    clock.advance(timedelta(seconds=count))
    return post_id


def waiting_backends(store: Store) -> int:
    """How many of the database's backends are waiting for a lock right now."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        ).scalar_one()


def until(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


class Held:
    """A concurrent transaction run in a thread and held open until released."""

    def __init__(self, store: Store, work: Callable[[sa.orm.Session], object]) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(store, work))

    def _run(self, store: Store, work: Callable) -> None:
        try:
            with store.transaction(concurrent=True) as session:
                self.result = work(session)
                self.inside.set()
                self.release.wait(WAIT_S)
        except BaseException as exc:  # noqa: BLE001  (reported by __exit__, in the test's thread)
            self.error = exc
            self.inside.set()

    def __enter__(self) -> Held:
        self.thread.start()
        assert self.inside.wait(WAIT_S)
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(WAIT_S)
        assert self.error is None, self.error


def claim(engine: Engine, owner: str, limit: int) -> Callable[[sa.orm.Session], list[Claim]]:
    def work(session: sa.orm.Session) -> list[Claim]:
        return claims.claim_due(
            session, engine.clock.now(), engine.settings, owner, engine.channels, limit
        )

    return work


def test_a_second_daemon_claims_the_other_rows_without_waiting(cli, clock, store, engine):
    due_deliveries(cli, clock, 40)
    with Held(store, claim(engine, "daemon:a", 5)) as first:
        other: dict[str, list[Claim]] = {}
        second = threading.Thread(
            target=lambda: other.update(b=engine.claim_due(40)),  # engine is daemon:test
        )
        second.start()
        second.join(WAIT_S)
        # done while the first claim is still open: it did not queue behind it
        assert not second.is_alive() and first.thread.is_alive()
    a = {c.delivery_id for c in first.result}
    b = {c.delivery_id for c in other["b"]}
    assert len(a) == 5 and len(b) == 35 and not a & b


def test_a_persons_write_waits_for_the_daemons_transactions(cli, clock, store, engine):
    post_id = due_deliveries(cli, clock, 4)
    with Held(store, claim(engine, "daemon:a", 4)):
        cancelled = threading.Thread(target=cli, args=("alice", "post", "cancel", str(post_id)))
        cancelled.start()
        until("the person's transaction to wait", lambda: waiting_backends(store) > 0)
        assert cancelled.is_alive()
    cancelled.join(WAIT_S)
    # it ran after the claims were committed: the post is cancelled, its four claims stay
    # sending (a send in flight is recorded when it ends, never undone)
    assert post_state(cli, post_id) == "cancelled"
    with store.read() as session:
        states = session.execute(sa.text("SELECT state FROM delivery")).scalars().all()
    assert sorted(states) == ["sending"] * 4


def test_two_daemons_recording_a_posts_last_deliveries_at_once_publish_it(
    cli, clock, store, engine
):
    post_id = due_deliveries(cli, clock, 2)
    (first,) = engine.claim_due(1)
    other = replace(engine, owner="daemon:other")
    (second,) = other.claim_due(1)
    outcomes = Outcomes(engine.settings, engine.owner, NotifyPolicy(), random.Random(1))

    def record_first(session: sa.orm.Session) -> None:
        outcomes.sent(session, clock.now(), first, Receipt(remote_id="1"))
        outcomes.settle_posts(session, clock.now())

    with Held(store, record_first):
        recorded = threading.Thread(target=other.record, args=(second, Receipt(remote_id="2")))
        recorded.start()
        until("the second daemon to wait for the post", lambda: waiting_backends(store) > 0)
    recorded.join(WAIT_S)
    assert not recorded.is_alive()
    assert post_state(cli, post_id) == "published"


def test_concurrent_appends_leave_one_chain(cli, store):
    def append(n: int) -> None:
        for round_ in range(10):
            with store.transaction(concurrent=True) as session:
                for event in range(3):
                    audit.record(
                        session,
                        now=NOW,
                        actor=f"daemon:{n}",
                        action="test.append",
                        subject=f"round:{round_}:{event}",
                    )

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    with store.read() as session:
        verdict = audit.verify(audit.chain_rows(session))
        appended = session.execute(
            sa.text("SELECT actor FROM audit_event WHERE action = 'test.append' ORDER BY seq")
        ).scalars()
        actors = list(appended)
    assert verdict.ok, verdict
    assert len(actors) == 4 * 10 * 3
    # each transaction's three events stay together, in the order they were recorded
    assert all(len(set(actors[i : i + 3])) == 1 for i in range(0, len(actors), 3))


def test_the_chain_lock_comes_after_every_row_change(cli, store, clock):
    """Whoever holds the chain lock must never wait for a row lock: every UPDATE of the
    transaction, an ORM change flushed at commit included, is sent before the lock."""
    from posts.models import Post

    post_id = approved(cli)
    sent: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.transaction(concurrent=True) as session:
            post = session.get(Post, post_id)
            post.updated = clock.now() + timedelta(seconds=1)  # dirty: flushed at commit
            audit.record(session, now=NOW, actor="daemon:a", action="test.lock", subject="t")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)
    chain_lock = next(i for i, s in enumerate(sent) if str(audit.CHAIN_LOCK) in s)
    updates = [i for i, s in enumerate(sent) if s.lstrip().upper().startswith("UPDATE")]
    assert updates and max(updates) < chain_lock, sent
