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
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from channels.base import Channel, Message
from channels.outgoing import compose_message
from posts import holds, lifecycle
from posts.campaigns import UtmSettings, utm_tags
from posts.models import Campaign, Delivery, DeliveryState, Post, Revision
from posts.rules import CampaignRules
from scheduler.config import DaemonSettings

CLAIMABLE = (DeliveryState.pending, DeliveryState.retry_wait)
_DELIVERY, _POST, _REVISION, _CAMPAIGN = (
    model.__table__ for model in (Delivery, Post, Revision, Campaign)
)
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


@cache
def _current_hash() -> sa.ScalarSelect[str]:
    """The content hash of the revision a delivery's post is at (correlated to ``delivery``)."""
    return (
        sa.select(_REVISION.c.content_hash)
        .join(_POST, (_POST.c.id == _REVISION.c.post_id) & (_POST.c.revision == _REVISION.c.number))
        .where(_POST.c.id == _DELIVERY.c.post_id)
        .scalar_subquery()
    )


@cache
def _seen() -> sa.Select:
    """What a claim's audit events say of each delivery taken (bound with ``ids``)."""
    return sa.select(
        _DELIVERY.c.id, _DELIVERY.c.channel, _DELIVERY.c.attempts, _current_hash().label("hash")
    ).where(_DELIVERY.c.id.in_(sa.bindparam("ids", expanding=True)))


@cache
def _claimed() -> sa.Select:
    """The claimed deliveries with what the composer needs (bound with ``ids``), as plain
    rows: loading them as three ORM entities a row was the largest part of a claim in a
    burst (docs/benchmarks.md). Outer joins: a notification has no post."""
    d, r = _DELIVERY, _REVISION
    return (
        sa.select(
            d,
            r.c.text.label("r_text"),
            r.c.variants.label("r_variants"),
            r.c.link.label("r_link"),
            r.c.media.label("r_media"),
            r.c.content_hash.label("r_content_hash"),
            _POST.c.campaign_id,
        )
        .outerjoin(_POST, _POST.c.id == d.c.post_id)
        .outerjoin(r, (r.c.post_id == _POST.c.id) & (r.c.number == _POST.c.revision))
        .where(d.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(d.c.due, d.c.id)
    )


@cache
def _campaigns() -> sa.Select:
    """What UTM tagging reads of the claimed posts' campaigns (bound with ``ids``)."""
    c = _CAMPAIGN
    return sa.select(c.c.id, c.c.slug, c.c.utm, c.c.utm_medium, c.c.utm_campaign).where(
        c.c.id.in_(sa.bindparam("ids", expanding=True))
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
    seen = {row.id: row for row in session.execute(_seen(), {"ids": ids})}
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
            "sent_hash": _current_hash(),
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
    rows = session.execute(_claimed(), {"ids": ids}).all()
    wanted = sorted({row.campaign_id for row in rows if row.campaign_id is not None})
    campaigns = {c.id: c for c in session.execute(_campaigns(), {"ids": wanted})} if wanted else {}
    claims = []
    for row in rows:
        claimed = row.unsure_since or row.claimed or row.updated
        claims.append(
            Claim(
                delivery_id=row.id,
                post_id=row.post_id,
                channel=row.channel,
                attempts=row.attempts,
                due=row.due,
                content_hash=row.r_content_hash or "",
                claimed_at=claimed,
                unsure_since=row.unsure_since,
                message=message(
                    row, campaigns.get(row.campaign_id), channels.get(row.channel), claimed
                ),
            )
        )
    return claims


def message(
    row: sa.Row[Any], campaign: UtmSettings | None, channel: Channel | None, claimed: datetime
) -> Message:
    """What goes out, made by the one composer that ``post preview`` shows too.

    ``row`` is a delivery with its revision's columns (``r_*``), as :func:`_claimed` reads it.
    """
    bound = {"prepared": row.prepared, "not_before": claimed - CLOCK_ALLOWANCE}
    if row.notice is not None:
        return Message(
            text=row.notice,
            idempotency_key=row.idempotency_key,
            title=f"Signpost: {(row.event or 'notice').replace('_', ' ')}",
            delivery_id=row.id,
            **bound,
        )
    utm = (
        CampaignRules(utm=utm_tags(campaign)).utm_for(channel.type)
        if channel is not None and campaign is not None and row.utm
        else {}
    )
    composed = compose_message(
        row.channel,
        channel.type if channel is not None else "",
        text=row.r_text,
        variants=row.r_variants,
        link=row.r_link,
        media=row.r_media,
        utm=utm,
        idempotency_key=row.idempotency_key,
        campaign=campaign.slug if campaign is not None else "",
        post_id=row.post_id,
        delivery_id=row.id,
    )
    return replace(composed, **bound)
