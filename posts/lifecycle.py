"""The delivery state machine: which moves are allowed, and the one way to make them.

Every change of a delivery's state — by the CLI, the engine, holds, notices or the review
page — goes through :func:`move`: a guarded UPDATE (``WHERE id IN ... AND state =
<an allowed source> [AND guard]``) and one audit event per delivery actually moved, in the
caller's transaction. A row that is no longer in a source state (a daemon claimed it a
moment earlier, another daemon took over its lease) is simply not moved, and the caller
learns which ids were.

The table (DESIGN §3, §9)::

    pending    → held, sending, missed, cancelled
    held       → pending, held, missed, cancelled, uncertain  (held → held: rescheduled while held)
    sending    → sent, retry_wait, failed, uncertain, sending (a dead claim taken over)
    retry_wait → sending, held, missed, failed, cancelled, uncertain
    failed     → held, pending                (retried or rescheduled on purpose)
    missed     → held, pending                (retried or rescheduled on purpose)
    uncertain  → held, pending, sent, failed  (retried, or resolved by a person)
    sent, cancelled: final

Not transitions: a delivery's *first* state. ``post schedule`` creates its deliveries
``held`` and, in the same transaction, before anyone else can see them, makes the ready
ones ``pending`` (``holds.settle_new``); a notification is created ``pending``. The
creating event (``post.schedule``, ``notice.queue``) records those states, so every later
change has a ``from`` that some earlier event explains.

A delivery waiting to retry after a send whose outcome is unknown (``unsure_since`` set: on
a channel that deduplicates, the engine resends with the same key rather than ask) may
already be out. Withdrawing it (:func:`withdraw`) or giving up on it therefore ends it
``uncertain``, for a person to check, never ``cancelled`` or ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from posts import audit
from posts.models import Delivery, DeliveryState, Post, PostState

S = DeliveryState

TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    S.pending: frozenset({S.held, S.sending, S.missed, S.cancelled}),
    S.held: frozenset({S.pending, S.held, S.missed, S.cancelled, S.uncertain}),
    S.sending: frozenset({S.sent, S.retry_wait, S.failed, S.uncertain, S.sending}),
    S.retry_wait: frozenset({S.sending, S.held, S.missed, S.failed, S.cancelled, S.uncertain}),
    S.failed: frozenset({S.held, S.pending}),
    S.missed: frozenset({S.held, S.pending}),
    S.uncertain: frozenset({S.held, S.pending, S.sent, S.failed}),
    S.sent: frozenset(),
    S.cancelled: frozenset(),
}

#: states nothing moves out of: the delivery is over for good
FINAL: frozenset[DeliveryState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)

#: details of one moved delivery's audit event, given its id
Details = Callable[[int], Mapping[str, Any]]


def allowed(source: DeliveryState, target: DeliveryState) -> bool:
    """Whether the table allows ``source → target``."""
    return target in TRANSITIONS[source]


def move(
    session: Session,
    now: datetime,
    actor: str,
    ids: Iterable[int],
    *,
    sources: Iterable[DeliveryState],
    target: DeliveryState,
    action: str,
    details: Details | Mapping[str, Any] | None = None,
    guard: sa.ColumnElement[bool] | None = None,
    values: Mapping[str, Any] | None = None,
) -> list[int]:
    """Move the deliveries ``ids`` that are in one of ``sources`` to ``target``.

    ``guard`` narrows the UPDATE further (the engine's "still our lease"); ``values`` are
    other columns to set with the state. Returns the ids moved, in id order, each with its
    audit event ``action`` (details: ``details`` plus ``from`` and ``to``, which win over
    same-named keys). A move the table does not allow is a programming error (ValueError),
    never a silent write.

    One UPDATE per source state (``WHERE id IN ... AND state = <source> [AND guard]``,
    RETURNING the ids): so ``from`` is exactly the state each row was moved out of, even
    when another transaction changes rows in between, without reading or locking first; a
    row already moved by an earlier source's UPDATE is left out of the later ones, so a
    self-loop (``held → held``) never moves a row twice. ORM objects already loaded are not
    refreshed: ``session.refresh`` them.
    """
    sources = tuple(dict.fromkeys(DeliveryState(s) for s in sources))
    wrong = [s for s in sources if not allowed(s, target)]
    if wrong:
        raise ValueError(f"delivery state machine: {wrong[0]} → {target} is not allowed")
    remaining = sorted(set(ids))
    table = Delivery.__table__  # Core: the engine moves many rows a second
    moved: dict[int, DeliveryState] = {}
    for source in sources:
        if not remaining:
            break
        condition = table.c.id.in_(remaining) & (table.c.state == source)
        if guard is not None:
            condition = condition & guard
        rows = session.execute(
            table.update()
            .where(condition)
            .values(state=target, updated=now, **dict(values or {}))
            .returning(table.c.id)
        ).all()
        moved.update((row[0], source) for row in rows)
        remaining = [i for i in remaining if i not in moved]
    _record_moves(session, now, actor, action, moved, target, details)
    return sorted(moved)


def _record_moves(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    moved: Mapping[int, DeliveryState],
    target: DeliveryState,
    details: Details | Mapping[str, Any] | None,
) -> None:
    """One audit event per moved delivery, in id order: ``details`` plus ``from`` and ``to``."""
    for delivery_id in sorted(moved):
        extra = details(delivery_id) if callable(details) else (details or {})
        audit.record(
            session,
            now=now,
            actor=actor,
            action=action,
            subject=f"delivery:{delivery_id}",
            details={**extra, "from": moved[delivery_id].value, "to": target.value},
        )


def move_each(
    session: Session,
    now: datetime,
    actor: str,
    changes: Mapping[int, Mapping[str, Any]],
    *,
    source: DeliveryState,
    target: DeliveryState,
    action: str,
    details: Details,
    leased_by: str,
) -> list[int]:
    """Move each delivery of ``changes`` from ``source`` to ``target`` with its own values.

    :func:`move` for many rows whose values differ (each outcome's receipt), in two
    prebuilt statements whatever their number: the rows still in ``source`` and leased by
    ``leased_by`` are selected (and locked, on PostgreSQL), then updated by one
    ``executemany``. Every row must carry the same columns. Returns the ids moved, each
    with its audit event.
    """
    if not allowed(source, target):
        raise ValueError(f"delivery state machine: {source} → {target} is not allowed")
    if not changes:
        return []
    columns = tuple(next(iter(changes.values())))
    still_ours, update = _each_statements(source, target, columns)
    moving = sorted(
        session.execute(still_ours, {"ids": list(changes), "owner": leased_by}).scalars()
    )
    if moving:
        session.execute(
            update,
            [
                {"moving_id": i, "new_updated": now, **{f"new_{c}": changes[i][c] for c in columns}}
                for i in moving
            ],
        )
    _record_moves(session, now, actor, action, dict.fromkeys(moving, source), target, details)
    return moving


@cache
def _each_statements(
    source: DeliveryState, target: DeliveryState, columns: tuple[str, ...]
) -> tuple[sa.Select, sa.Update]:
    """:func:`move_each`'s two statements, built once for each kind of move: building them
    cost more than running them in a burst (docs/benchmarks.md)."""
    table = Delivery.__table__
    still_ours = (
        sa.select(table.c.id)
        .where(
            table.c.id.in_(sa.bindparam("ids", expanding=True)),
            table.c.state == source,
            table.c.lease_owner == sa.bindparam("owner"),
        )
        .order_by(table.c.id)  # rows locked in one order by everyone
        .with_for_update()
    )
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("moving_id"), table.c.state == source)
        .values(
            state=target,
            updated=sa.bindparam("new_updated"),
            **{c: sa.bindparam(f"new_{c}") for c in columns},
        )
    )
    return still_ours, update


def move_post(
    session: Session,
    now: datetime,
    actor: str,
    post: Post,
    to: PostState,
    action: str,
    details: Mapping[str, Any] | None = None,
) -> Post:
    """Set a post's state and write its audit event (``from``, ``to`` and ``details``).

    The post's own rules (who may, from which state) are checked by the caller: the life
    cycle in posts/workflow.py, publishing in posts/holds.py.
    """
    before = post.state
    post.state = to
    post.updated = now
    session.add(post)
    _record_post_move(session, now, actor, post.id, before, to, action, details)
    return post


def move_posts(
    session: Session,
    now: datetime,
    actor: str,
    moves: Mapping[int, tuple[str, PostState, Mapping[str, Any]]],
    action: str,
) -> None:
    """:func:`move_post` for posts read as rows (``{id: (from, to, details)}``), in one
    prebuilt UPDATE whatever their number: the engine settles a batch of posts at once.

    A ``Post`` of these already loaded in the session has its state expired, so it is read
    again rather than shown as it was.
    """
    if not moves:
        return
    session.execute(
        _post_state_update(),
        [{"moved_id": i, "new_state": to, "new_updated": now} for i, (_, to, _) in moves.items()],
    )
    for post_id in sorted(moves):
        before, to, details = moves[post_id]
        loaded = session.identity_map.get(session.identity_key(Post, post_id))
        if loaded is not None:
            session.expire(loaded, ["state", "updated"])
        _record_post_move(session, now, actor, post_id, before, to, action, details)


@cache
def _post_state_update() -> sa.Update:
    post = Post.__table__
    return (
        post.update()
        .where(post.c.id == sa.bindparam("moved_id"))
        .values(state=sa.bindparam("new_state"), updated=sa.bindparam("new_updated"))
    )


def _record_post_move(
    session: Session,
    now: datetime,
    actor: str,
    post_id: int | None,
    before: str,
    to: PostState,
    action: str,
    details: Mapping[str, Any] | None,
) -> None:
    audit.record(
        session,
        now=now,
        actor=actor,
        action=action,
        subject=f"post:{post_id}",
        details={"from": before, "to": to.value, **(details or {})},
    )


def withdraw(
    session: Session,
    now: datetime,
    actor: str,
    ids: Iterable[int],
    *,
    sources: Iterable[DeliveryState],
    details: Mapping[str, Any],
) -> tuple[list[int], list[int]]:
    """Cancel the deliveries ``ids`` not yet claimed: ``(cancelled, uncertain)``.

    One waiting to resend after an unknown outcome may already have landed, so it is moved
    to ``uncertain`` with a reason saying so, not called cancelled.
    """
    ids = list(ids)
    unsure = Delivery.__table__.c.unsure_since.is_not(None)
    uncertain = move(
        session,
        now,
        actor,
        ids,
        sources=[s for s in sources if allowed(s, S.uncertain)],
        target=S.uncertain,
        action="delivery.uncertain",
        details={**details, "error": UNSURE_WITHDRAWN},
        guard=unsure,
        values={"next_attempt": None, "last_error": UNSURE_WITHDRAWN},
    )
    cancelled = move(
        session,
        now,
        actor,
        [i for i in ids if i not in uncertain],
        sources=sources,
        target=S.cancelled,
        action="delivery.cancel",
        details=details,
        guard=Delivery.__table__.c.unsure_since.is_(None),
        values={"next_attempt": None},
    )
    return cancelled, uncertain


#: why a withdrawn delivery is uncertain rather than cancelled
UNSURE_WITHDRAWN = (
    "cancelled, but an earlier send's outcome is unknown and it may have gone out:"
    " check the channel, then resolve it (--sent URL or --not-sent)"
)
