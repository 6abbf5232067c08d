"""When a delivery may go out: the one condition shared by holds, claims and the daemon.

A delivery is *ready* when its post's approved content hash is the hash of the post's
current revision (an edit after approval clears it) and no active pause covers everything,
its campaign or its channel. ``refresh`` keeps the stored ``pending``/``held`` states in step
with that condition after anything that changes it (approve, edit, pause, resume); the
engine's claim checks the same condition again, so a stale state can never send anything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, select

from posts import lifecycle
from posts.errors import UserError
from posts.models import Campaign, Delivery, DeliveryState, Pause, Post, PostState, Revision

SENDABLE_POST_STATES = (PostState.approved, PostState.published, PostState.partly_published)
ENDED = (DeliveryState.sent, DeliveryState.failed, DeliveryState.missed, DeliveryState.cancelled)
WAITING = (DeliveryState.pending, DeliveryState.held, DeliveryState.retry_wait)
#: a post in one of these states is never published afterwards, whatever went out
FINAL_POST_STATES = (PostState.cancelled,)


def approved_clause() -> sa.ColumnElement[bool]:
    """True for a delivery whose post's current revision is the approved one."""
    return sa.exists(
        sa.select(Post.id)
        .join(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .where(
            Post.id == Delivery.post_id,
            Post.state.in_(SENDABLE_POST_STATES),
            Post.approved_hash == Revision.content_hash,
        )
    )


def paused_clause() -> sa.ColumnElement[bool]:
    """True for a delivery covered by an active pause (all, its campaign or its channel).

    Each EXISTS refers to the outer delivery row directly, so it is correlated per row (a
    nested scalar subquery would not be, and would compare every delivery with one campaign).
    """
    everything_or_channel = sa.exists(
        sa.select(Pause.id).where(
            Pause.lifted.is_(None),
            sa.or_(
                Pause.scope == "all",
                (Pause.scope == "channel") & (Pause.target == Delivery.channel),
            ),
        )
    )
    its_campaign = sa.exists(
        sa.select(Pause.id)
        .join(Campaign, Campaign.slug == Pause.target)
        .join(Post, Post.campaign_id == Campaign.id)
        .where(Pause.lifted.is_(None), Pause.scope == "campaign", Post.id == Delivery.post_id)
    )
    return everything_or_channel | its_campaign


def pause_scope(
    campaign: str | None, channel: str | None, configured: Collection[str]
) -> tuple[str, str | None]:
    """What a pause (or resume) covers: ``("all", None)``, a campaign or a configured channel.

    One scope at a time: a pause of a campaign on one channel is not a thing a claim checks.
    """
    if campaign and channel:
        raise UserError("give --campaign or --channel, not both (or neither, for everything)")
    if channel and channel not in configured:
        raise UserError(
            f"--channel: no channel named '{channel}'"
            f" (configured: {', '.join(sorted(configured)) or 'none'})"
        )
    if campaign:
        return "campaign", campaign
    if channel:
        return "channel", channel
    return "all", None


def ready_clause() -> sa.ColumnElement[bool]:
    """True for a delivery that may be sent when due.

    A notification to the team (``notice``) is always ready: it is Signpost's own message
    to its own channel, not a post, and a pause of public posting must not silence it.
    """
    return Delivery.notice.is_not(None) | (approved_clause() & ~paused_clause())


def refresh(
    session: Session,
    now: datetime,
    actor: str,
    post_ids: Iterable[int] | None = None,
    *,
    delivery_ids: Iterable[int] | None = None,
) -> None:
    """Hold pending deliveries that are no longer ready, release held ones that are.

    Everything, or only the deliveries of ``post_ids`` and/or the deliveries ``delivery_ids``
    (a notification has no post, so a retried one is named by its own id). The readiness
    condition is the UPDATE's guard too, so a row that changed in between is left alone.
    """
    scope = []
    if post_ids is not None:
        scope.append(Delivery.post_id.in_(list(post_ids)))
    if delivery_ids is not None:
        scope.append(Delivery.id.in_(list(delivery_ids)))
    for source, target, condition, action in (
        (DeliveryState.pending, DeliveryState.held, ~ready_clause(), "delivery.hold"),
        (DeliveryState.held, DeliveryState.pending, ready_clause(), "delivery.release"),
    ):
        ids = session.exec(
            select(Delivery.id).where(Delivery.state == source, condition, *scope)
        ).all()
        lifecycle.move(
            session,
            now,
            actor,
            ids,
            sources=[source],
            target=target,
            action=action,
            guard=condition,
        )


def settle_new(session: Session, ids: list[int]) -> None:
    """Give just-created deliveries their first state, ``pending`` if ready else ``held``.

    Creation, not a transition (posts/lifecycle.py): the rows were inserted ``held`` in
    this transaction and nobody else has seen them yet, so this is not a ``lifecycle.move``
    and has no audit event of its own; the scheduling event that created them records the
    states they start in.
    """
    ready = set(session.exec(select(Delivery.id).where(Delivery.id.in_(ids), ready_clause())).all())
    for state, chosen in ((DeliveryState.pending, ready), (DeliveryState.held, set(ids) - ready)):
        if chosen:
            session.exec(sa.update(Delivery).where(Delivery.id.in_(chosen)).values(state=state))


def cancel_waiting(session: Session, now: datetime, actor: str, post_id: int) -> list[int]:
    """Cancel every delivery of a post that has not been claimed yet; the ids cancelled.

    One being sent right now is left to finish: a send in flight cannot be called back, and
    its outcome is recorded honestly (``settle_post`` keeps the post cancelled, and cancels
    the delivery if it comes back to wait for a retry). One waiting to resend after an
    unknown outcome ends ``uncertain`` instead (``lifecycle.withdraw``).
    """
    ids = session.exec(
        select(Delivery.id).where(Delivery.post_id == post_id, Delivery.state.in_(WAITING))
    ).all()
    cancelled, _ = lifecycle.withdraw(
        session, now, actor, ids, sources=WAITING, details={"reason": "post cancelled"}
    )
    return cancelled


def settle_post(session: Session, now: datetime, actor: str, post_id: int | None) -> None:
    """Mark one post published (or partly) once every one of its deliveries has ended."""
    settle_posts(session, now, actor, [post_id])


def settle_posts(
    session: Session, now: datetime, actor: str, post_ids: Iterable[int | None]
) -> None:
    """Mark each post published (or partly) once every one of its deliveries has ended.

    A cancelled post stays cancelled whatever its deliveries did: a person withdrew it, and
    a send already in flight then (recorded ``sent`` with its receipt, as it did go out)
    does not undo that. A delivery of a cancelled post that came back to wait for a retry is
    cancelled here, the next time the engine records anything for the post. ``None`` (a
    notification's post) is skipped. Two queries for all the posts, whatever their number:
    the engine settles a batch of outcomes at once.
    """
    wanted = sorted({p for p in post_ids if p is not None})
    if not wanted:
        return
    posts, by_post = _settling()
    locked = session.execute(posts, {"ids": wanted}).all()  # first: see _settling
    states: dict[int, list[DeliveryState]] = {p: [] for p in wanted}
    for post_id, state in session.execute(by_post, {"ids": wanted}):
        states[post_id].append(state)
    moves: dict[int, tuple[str, PostState, dict[str, int]]] = {}
    for post_id, post_state in locked:
        if post_state in FINAL_POST_STATES:
            cancel_waiting(session, now, actor, post_id)
            continue
        ended = states[post_id]
        if not ended or any(s not in ENDED for s in ended):
            continue
        live = [s for s in ended if s != DeliveryState.cancelled]
        sent = [s for s in live if s == DeliveryState.sent]
        if not sent:
            continue
        target = PostState.published if len(sent) == len(live) else PostState.partly_published
        if post_state != target:
            moves[post_id] = (post_state, target, {"sent": len(sent), "deliveries": len(live)})
    lifecycle.move_posts(session, now, actor, moves, "post.publish")


@cache
def _settling() -> tuple[sa.Select, sa.Select]:
    """Settling's two reads, built once (bound with ``ids``): the posts, locked in id order,
    then their deliveries' states, read only once the locks are held (PostgreSQL: two
    daemons recording the last two deliveries of one post at once would each see the
    other's still sending, and neither would settle)."""
    post, delivery = Post.__table__, Delivery.__table__
    ids = sa.bindparam("ids", expanding=True)
    return (
        sa.select(post.c.id, post.c.state)
        .where(post.c.id.in_(ids))
        .order_by(post.c.id)
        .with_for_update(of=post),
        sa.select(delivery.c.post_id, delivery.c.state).where(delivery.c.post_id.in_(ids)),
    )
