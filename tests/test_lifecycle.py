"""The delivery state machine's one guarded move: the table decides, the row's state guards.

Deliveries here are bare notification rows (no post needed), inserted straight into a real
database, so each test shows exactly what ``lifecycle.move`` writes and what it leaves alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from posts import audit, lifecycle
from posts.models import AuditEvent, Delivery, DeliveryState, new_key
from posts.store import Store
from scheduler.config import load
from tests.database import TestDatabase

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = DeliveryState


@pytest.fixture
def store(config_file: Path, initialised) -> Iterator[Store]:
    store = Store(load(config_file).database_url)
    yield store
    store.close()


def add(store: Store, *states: DeliveryState, channel: str = "newsroom") -> list[int]:
    """One delivery per state (committed), ids in the order given."""
    with store.transaction() as session:
        rows = [
            Delivery(
                notice=f"notice {i}",
                channel=channel,
                due=NOW,
                state=state,
                idempotency_key=new_key(),
                created=NOW,
                updated=NOW,
            )
            for i, state in enumerate(states)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def states(store: Store) -> dict[int, str]:
    with store.read() as session:
        return dict(session.exec(select(Delivery.id, Delivery.state)).all())


def moves(store: Store) -> list[tuple[str, str, dict]]:
    """(action, subject, details) of every audit event, oldest first."""
    with store.read() as session:
        return [
            (e.action, e.subject, json.loads(e.details))
            for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))
            if e.subject.startswith("delivery:")
        ]


def from_waiting(
    session: Session, ids: list[int], target: DeliveryState, action: str, actor: str = "tester"
) -> list[int]:
    """``lifecycle.move`` out of either waiting state (pending or held) at NOW, as a cancel,
    a reschedule or a missed delivery moves: the tests below vary only the rows and the move."""
    return lifecycle.move(
        session, NOW, actor, ids, sources=[S.pending, S.held], target=target, action=action
    )


def chain_ok(store: Store) -> bool:
    with store.read() as session:
        return audit.verify(audit.chain_rows(session)).ok


def test_the_table_covers_every_state_and_only_sent_and_cancelled_are_final():
    assert set(lifecycle.TRANSITIONS) == set(DeliveryState)
    assert lifecycle.FINAL == {S.sent, S.cancelled}
    assert all(lifecycle.allowed(s, S.cancelled) for s in (S.pending, S.held, S.retry_wait))
    assert not lifecycle.allowed(S.sending, S.cancelled)  # a send in flight is not called back
    assert not lifecycle.allowed(S.uncertain, S.sending)  # never a blind resend


def test_a_disallowed_move_raises_and_writes_nothing(store: Store, database: TestDatabase):
    ids = dict(zip(DeliveryState, add(store, *DeliveryState), strict=True))
    before = database.dump()
    for source in DeliveryState:
        for target in DeliveryState:
            if lifecycle.allowed(source, target):
                continue
            # also when only one of several sources is wrong
            for sources in ([source], [S.pending, source] if source != S.pending else [source]):
                with pytest.raises(ValueError, match="is not allowed"):
                    with store.transaction() as session:
                        lifecycle.move(
                            session,
                            NOW,
                            "tester",
                            ids.values(),
                            sources=sources,
                            target=target,
                            action="delivery.test",
                        )
    assert database.dump() == before


def test_a_guarded_move_moves_only_rows_that_pass_and_audits_only_those(store: Store):
    news = add(store, S.pending, S.pending, channel="newsroom")
    feed = add(store, S.pending, S.held, channel="feed")
    with store.transaction() as session:
        moved = lifecycle.move(
            session,
            NOW,
            "tester",
            [*news, *feed],
            sources=[S.pending],
            target=S.held,
            action="delivery.hold",
            details=lambda i: {"why": f"row {i}"},
            guard=Delivery.__table__.c.channel == "feed",
            values={"next_attempt": NOW},
        )
    assert moved == [feed[0]]  # not newsroom (guard), not the held one (source)
    assert states(store) == {
        news[0]: "pending",
        news[1]: "pending",
        feed[0]: "held",
        feed[1]: "held",
    }
    assert moves(store) == [
        (
            "delivery.hold",
            f"delivery:{feed[0]}",
            {"from": "pending", "to": "held", "why": f"row {feed[0]}"},
        )
    ]
    with store.read() as session:
        assert session.get(Delivery, feed[0]).next_attempt == NOW
        assert session.get(Delivery, news[0]).next_attempt is None
    assert chain_ok(store)


def test_a_row_moved_by_someone_else_in_between_is_not_moved(store: Store):
    [mine] = add(store, S.pending)
    with store.read() as session:  # a person reads it pending ...
        seen = session.get(Delivery, mine).state
    assert seen == S.pending
    with store.transaction() as session:  # ... a daemon claims it meanwhile ...
        assert lifecycle.move(
            session, NOW, "daemon:a", [mine], sources=[S.pending], target=S.sending, action="c"
        ) == [mine]
    with store.transaction() as session:  # ... and the person's cancel finds nothing to move
        assert from_waiting(session, [mine], S.cancelled, "delivery.cancel", actor="bob") == []
    assert states(store) == {mine: "sending"}
    assert [a for a, _, _ in moves(store)] == ["c"]


def test_a_change_between_two_source_updates_is_seen_with_its_true_from(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    """Another writer moves a row from one source state to another while move runs."""
    first, second = add(store, S.held, S.pending)
    with store.transaction() as session:
        real = session.execute
        calls = []

        def execute(statement, *args, **kwargs):
            calls.append(statement)
            if len(calls) == 1:  # just before the pending UPDATE: it no longer finds it
                real(
                    Delivery.__table__.update()
                    .where(Delivery.__table__.c.id == second)
                    .values(state=S.held)
                )
            return real(statement, *args, **kwargs)

        monkeypatch.setattr(session, "execute", execute)
        moved = from_waiting(session, [first, second], S.missed, "delivery.missed")
        monkeypatch.undo()
    assert moved == [first, second]
    assert [(s, d["from"]) for _, s, d in moves(store)] == [
        (f"delivery:{first}", "held"),
        (f"delivery:{second}", "held"),  # not "pending": it was held when it was moved
    ]


def test_a_self_loop_never_moves_a_row_twice(store: Store):
    held, pending = add(store, S.held, S.pending)
    with store.transaction() as session:
        moved = from_waiting(session, [held, pending], S.held, "delivery.reschedule")
    assert moved == [held, pending]
    assert sorted((s, d["from"], d["to"]) for _, s, d in moves(store)) == [
        (f"delivery:{held}", "held", "held"),
        (f"delivery:{pending}", "pending", "held"),
    ]


def test_nothing_to_move_writes_nothing(store: Store, database: TestDatabase):
    [sent] = add(store, S.sent)
    before = database.dump()
    with store.transaction() as session:
        assert (
            lifecycle.move(session, NOW, "t", [], sources=[S.pending], target=S.held, action="x")
            == []
        )
        assert (
            lifecycle.move(
                session, NOW, "t", [sent, 999], sources=[S.pending], target=S.held, action="x"
            )
            == []
        )
    assert database.dump() == before
