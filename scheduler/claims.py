"""Claims: taking the lease on due deliveries, keeping it while they send, taking over the dead.

A claim is a guarded move ``pending|retry_wait → sending`` (posts/lifecycle.py) that sets a
lease, so two daemons or two ticks never both hold one. Its lease is renewed while the send
runs (:func:`renew`); a send has a hard deadline shorter than half the lease (config refuses
less), so a lease only expires when its daemon stopped renewing: died or lost the database.
Only then may another daemon take the claim over (:func:`take_over`), and it settles it as
an unknown outcome, never by a blind resend.

Grace applies to a *first* attempt only: a delivery that has started (``attempts > 0``)
retries until ``max_attempts`` or its expiry, whatever the hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, select

from channels.base import Channel, Message
from channels.outgoing import compose_message
from posts import holds, lifecycle, workflow
from posts.models import Campaign, Delivery, DeliveryState, Post, Revision
from scheduler.config import DaemonSettings

CLAIMABLE = (DeliveryState.pending, DeliveryState.retry_wait)
#: how far another host's clock may be behind ours when a lookup bounds by the claim time
CLOCK_ALLOWANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class Claim:
    """A delivery this engine holds the lease on, with the message to send."""

    delivery_id: int
    post_id: int | None
    channel: str
    attempts: int
    due: datetime
    message: Message
    content_hash: str
    claimed_at: datetime  # when the earliest send that may have landed began: this one's,
    # or, after an unknown outcome, that earlier one's (lookups and dedup windows reach it)
    unsure_since: datetime | None = None  # set while an earlier outcome is still unknown


def due_clause(
    now: datetime | sa.BindParameter[datetime], oldest: datetime | sa.BindParameter[datetime]
) -> sa.ColumnElement[bool]:
    """Claimable ``now``: due, not expired, past its back-off, and, if not started, due
    since ``oldest`` (now less the grace)."""
    return sa.and_(
        Delivery.state.in_(CLAIMABLE),
        Delivery.due <= now,  # lets the (state, due) index bound the scan
        sa.or_(Delivery.attempts > 0, Delivery.due >= oldest),
        sa.func.coalesce(Delivery.next_attempt, Delivery.due) <= now,
        sa.or_(Delivery.expires.is_(None), Delivery.expires > now),
        holds.ready_clause(),
    )


@cache
def _due_ids() -> sa.Select:
    """The claim's query, built once and bound for each batch (``now``, ``oldest``,
    ``limit``): building its ``WHERE`` with the readiness subqueries took about 2.5 ms of
    every claim in a burst (docs/benchmarks.md).

    SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): rows another daemon is claiming
    this moment are left to it, so claims of several daemons never queue.
    """
    moment = Delivery.__table__.c.due.type
    return (
        select(Delivery.id)
        .where(due_clause(sa.bindparam("now", type_=moment), sa.bindparam("oldest", type_=moment)))
        .order_by(Delivery.due, Delivery.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .with_for_update(skip_locked=True, of=Delivery)
    )


def claim_due(
    session: Session,
    now: datetime,
    settings: DaemonSettings,
    owner: str,
    channels: Mapping[str, Channel],
    limit: int,
) -> list[Claim]:
    """Take the lease on up to ``limit`` due, ready deliveries (in the caller's transaction)."""
    bound = {"now": now, "oldest": now - settings.grace, "limit": limit}
    ids = list(session.exec(_due_ids(), params=bound).all())
    if not ids:
        return []
    current_hash = (
        sa.select(Revision.content_hash)
        .join(Post, (Post.id == Revision.post_id) & (Post.revision == Revision.number))
        .where(Post.id == Delivery.post_id)
        .scalar_subquery()
    )
    seen = {
        row.id: row
        for row in session.exec(
            select(
                Delivery.id, Delivery.channel, Delivery.attempts, current_hash.label("hash")
            ).where(Delivery.id.in_(ids))
        ).all()
    }
    taken = lifecycle.move(
        session,
        now,
        owner,
        ids,
        sources=CLAIMABLE,
        target=DeliveryState.sending,
        action="delivery.claim",
        details=lambda i: {
            "channel": seen[i].channel,
            "attempt": seen[i].attempts + 1,
            "content_hash": seen[i].hash or "",
        },
        values={
            "sent_hash": current_hash,
            "lease_owner": owner,
            "lease_expires": now + settings.lease,
            "claimed": now,
            "attempts": Delivery.__table__.c.attempts + 1,
        },
    )
    return build(session, taken, channels)


def renew(
    session: Session, now: datetime, settings: DaemonSettings, owner: str, ids: Iterable[int]
) -> int:
    """Extend the lease of our claims still in flight; how many are still ours."""
    wanted = list(ids)
    if not wanted:
        return 0
    table = Delivery.__table__
    return session.execute(
        table.update()
        .where(
            table.c.id.in_(wanted),
            table.c.state == DeliveryState.sending,
            table.c.lease_owner == owner,
        )
        .values(lease_expires=now + settings.lease)
    ).rowcount


def take_over(
    session: Session,
    now: datetime,
    settings: DaemonSettings,
    owner: str,
    channels: Mapping[str, Channel],
) -> list[Claim]:
    """Claims whose daemon stopped renewing their lease, now ours to settle as unknown."""
    dead = list(
        session.exec(
            select(Delivery.id).where(
                Delivery.state == DeliveryState.sending, Delivery.lease_expires < now
            )
        ).all()
    )
    taken = lifecycle.move(
        session,
        now,
        owner,
        dead,
        sources=(DeliveryState.sending,),
        target=DeliveryState.sending,
        action="delivery.reconcile",
        details={"reason": "lease expired mid-send: its daemon stopped renewing it"},
        guard=Delivery.__table__.c.lease_expires < now,
        values={"lease_owner": owner, "lease_expires": now + settings.lease},
    )
    return build(session, taken, channels)


def record_prepared(session: Session, owner: str, delivery_id: int, prepared: str) -> bool:
    """Store a prepared object's id on our claim before the irreversible call (DESIGN §9.4)."""
    table = Delivery.__table__
    return (
        session.execute(
            table.update()
            .where(
                table.c.id == delivery_id,
                table.c.state == DeliveryState.sending,
                table.c.lease_owner == owner,
            )
            .values(prepared=prepared)
        ).rowcount
        == 1
    )


def build(session: Session, ids: Iterable[int], channels: Mapping[str, Channel]) -> list[Claim]:
    """The claims of deliveries we hold, each with the message the composer makes for it."""
    ids = list(ids)
    if not ids:
        return []
    rows = session.exec(
        select(Delivery, Revision, Campaign)  # outer: a notification has no post
        .outerjoin(Post, Post.id == Delivery.post_id)
        .outerjoin(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .outerjoin(Campaign, Campaign.id == Post.campaign_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.due, Delivery.id)
        .execution_options(populate_existing=True)  # the claim's UPDATE went around the ORM
    ).all()
    claims = []
    for d, rev, campaign in rows:
        claimed = d.unsure_since or d.claimed or d.updated
        claims.append(
            Claim(
                delivery_id=d.id,
                post_id=d.post_id,
                channel=d.channel,
                attempts=d.attempts,
                due=d.due,
                content_hash=rev.content_hash if rev is not None else "",
                claimed_at=claimed,
                unsure_since=d.unsure_since,
                message=message(d, rev, campaign, channels.get(d.channel), claimed),
            )
        )
    return claims


def message(
    delivery: Delivery,
    revision: Revision | None,
    campaign: Campaign | None,
    channel: Channel | None,
    claimed: datetime,
) -> Message:
    """What goes out, made by the one composer that ``post preview`` shows too."""
    bound = {"prepared": delivery.prepared, "not_before": claimed - CLOCK_ALLOWANCE}
    if delivery.notice is not None:
        return Message(
            text=delivery.notice,
            idempotency_key=delivery.idempotency_key,
            title=f"Signpost: {(delivery.event or 'notice').replace('_', ' ')}",
            delivery_id=delivery.id,
            **bound,
        )
    utm = (
        workflow.campaign_rules(campaign).utm_for(channel.type)
        if channel is not None and delivery.utm
        else {}
    )
    composed = compose_message(
        delivery.channel,
        channel.type if channel is not None else "",
        text=revision.text,
        variants=revision.variants,
        link=revision.link,
        media=revision.media,
        utm=utm,
        idempotency_key=delivery.idempotency_key,
        campaign=campaign.slug,
        post_id=delivery.post_id,
        delivery_id=delivery.id,
    )
    return replace(composed, **bound)
