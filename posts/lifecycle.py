"""The delivery state machine: which moves are allowed, and the one way to make them.

Every change of a delivery's state — by the CLI, the engine, holds, notices or the review
page — goes through :func:`move`: one guarded UPDATE (``WHERE id IN ... AND state IN
<allowed sources> [AND guard]``) and one audit event per delivery actually moved, in the
caller's transaction. A row that is no longer in a source state (a daemon claimed it a
moment earlier, another daemon took over its lease) is simply not moved, and the caller
learns which ids were.

The table (DESIGN §3, §9)::

    pending    → held, sending, missed, cancelled
    held       → pending, missed, cancelled
    sending    → sent, retry_wait, failed, uncertain, sending (a dead claim taken over)
    retry_wait → sending, held, missed, failed, cancelled
    failed     → held, pending                (retried or rescheduled on purpose)
    missed     → held, pending                (retried or rescheduled on purpose)
    uncertain  → held, pending, sent, failed  (retried, or resolved by a person)
    sent, cancelled: final
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from posts import audit
from posts.models import Delivery, DeliveryState

S = DeliveryState

TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    S.pending: frozenset({S.held, S.sending, S.missed, S.cancelled}),
    S.held: frozenset({S.pending, S.missed, S.cancelled}),
    S.sending: frozenset({S.sent, S.retry_wait, S.failed, S.uncertain, S.sending}),
    S.retry_wait: frozenset({S.sending, S.held, S.missed, S.failed, S.cancelled}),
    S.failed: frozenset({S.held, S.pending}),
    S.missed: frozenset({S.held, S.pending}),
    S.uncertain: frozenset({S.held, S.pending, S.sent, S.failed}),
    S.sent: frozenset(),
    S.cancelled: frozenset(),
}

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
    audit event ``action`` (details: ``from``, ``to`` and ``details``). A move the table
    does not allow is a programming error (ValueError), never a silent write.
    """
    sources = tuple(sources)
    wrong = [s for s in sources if not allowed(s, target)]
    if wrong:
        raise ValueError(f"delivery state machine: {wrong[0]} → {target} is not allowed")
    wanted = sorted(set(ids))
    if not wanted:
        return []
    table = Delivery.__table__  # Core: the engine moves many rows a second
    before = dict(
        session.execute(
            sa.select(table.c.id, table.c.state).where(
                table.c.id.in_(wanted), table.c.state.in_(sources)
            )
        ).all()
    )
    if not before:
        return []
    condition = table.c.id.in_(list(before)) & table.c.state.in_(sources)
    if guard is not None:
        condition = condition & guard
    moved = sorted(
        row[0]
        for row in session.execute(
            table.update()
            .where(condition)
            .values(state=target, updated=now, **dict(values or {}))
            .returning(table.c.id)
        ).all()
    )
    for delivery_id in moved:
        extra = details(delivery_id) if callable(details) else (details or {})
        audit.record(
            session,
            now=now,
            actor=actor,
            action=action,
            subject=f"delivery:{delivery_id}",
            details={"from": str(before[delivery_id]), "to": target.value, **extra},
        )
    return moved
