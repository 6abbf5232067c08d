"""When a delivery may go out: the one condition shared by holds, claims and the daemon.

A delivery is *ready* when its post's approved content hash is the hash of the post's
current revision (an edit after approval clears it) and no active pause covers everything,
its campaign or its channel. ``refresh`` keeps the stored ``pending``/``held`` states in step
with that condition after anything that changes it (approve, edit, pause, resume); the
engine's claim checks the same condition again, so a stale state can never send anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from posts import audit
from posts.models import Campaign, Delivery, DeliveryState, Pause, Post, PostState, Revision

SENDABLE_POST_STATES = (PostState.approved, PostState.published, PostState.partly_published)
ENDED = (DeliveryState.sent, DeliveryState.failed, DeliveryState.missed, DeliveryState.cancelled)
WAITING = (DeliveryState.pending, DeliveryState.held, DeliveryState.retry_wait)


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


def ready_clause() -> sa.ColumnElement[bool]:
    """True for a delivery that may be sent when due.

    A notification to the team (``notice``) is always ready: it is Signpost's own message
    to its own channel, not a post, and a pause of public posting must not silence it.
    """
    return Delivery.notice.is_not(None) | (approved_clause() & ~paused_clause())


def refresh(
    session: Session, now: datetime, actor: str, post_ids: Iterable[int] | None = None
) -> None:
    """Hold pending deliveries that are no longer ready, release held ones that are."""
    scope = [] if post_ids is None else [Delivery.post_id.in_(list(post_ids))]
    for source, target, condition, action in (
        (DeliveryState.pending, DeliveryState.held, ~ready_clause(), "delivery.hold"),
        (DeliveryState.held, DeliveryState.pending, ready_clause(), "delivery.release"),
    ):
        ids = session.exec(
            select(Delivery.id).where(Delivery.state == source, condition, *scope)
        ).all()
        if not ids:
            continue
        session.exec(
            sa.update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == source)
            .values(state=target, updated=now)
        )
        for delivery_id in ids:
            audit.record(
                session,
                now=now,
                actor=actor,
                action=action,
                subject=f"delivery:{delivery_id}",
                details={"from": source.value, "to": target.value},
            )


def settle_new(session: Session, ids: list[int]) -> None:
    """Give just-created deliveries their first state, ``pending`` if ready else ``held``.

    No audit event of its own: the scheduling event that created them records the states.
    """
    ready = set(session.exec(select(Delivery.id).where(Delivery.id.in_(ids), ready_clause())).all())
    for state, chosen in ((DeliveryState.pending, ready), (DeliveryState.held, set(ids) - ready)):
        if chosen:
            session.exec(sa.update(Delivery).where(Delivery.id.in_(chosen)).values(state=state))


def cancel_waiting(session: Session, now: datetime, actor: str, post_id: int) -> list[int]:
    """Cancel every delivery of a post that has not been claimed yet."""
    ids = session.exec(
        select(Delivery.id).where(Delivery.post_id == post_id, Delivery.state.in_(WAITING))
    ).all()
    if ids:
        session.exec(
            sa.update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(state=DeliveryState.cancelled, updated=now)
        )
    for delivery_id in ids:
        audit.record(
            session,
            now=now,
            actor=actor,
            action="delivery.cancel",
            subject=f"delivery:{delivery_id}",
            details={"reason": "post cancelled"},
        )
    return list(ids)


def settle_post(session: Session, now: datetime, actor: str, post_id: int | None) -> None:
    """Mark a post published (or partly) once every one of its deliveries has ended."""
    if post_id is None:  # a notification: no post to settle
        return
    states = session.exec(select(Delivery.state).where(Delivery.post_id == post_id)).all()
    if not states or any(s not in ENDED for s in states):
        return
    live = [s for s in states if s != DeliveryState.cancelled]
    sent = [s for s in live if s == DeliveryState.sent]
    if not sent:
        return
    post = session.get(Post, post_id)
    target = PostState.published if len(sent) == len(live) else PostState.partly_published
    if post.state == target:
        return
    before = post.state
    post.state = target
    post.updated = now
    session.add(post)
    audit.record(
        session,
        now=now,
        actor=actor,
        action="post.publish",
        subject=f"post:{post_id}",
        details={"from": before, "to": target.value, "sent": len(sent), "deliveries": len(live)},
    )
