"""Read views for output: one post as data, a page of posts, its last rejection, the posts
awaiting one reviewer, and deliveries with their campaign (a listing, a calendar).

A delivery is shown in its campaign's zone; a notification to the team has no post and no
campaign, so it is shown in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from posts.deliveries import delivery_dict, list_deliveries, texts_of
from posts.errors import UserError
from posts.models import (
    Approval,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostState,
    Revision,
)
from posts.policy import Actor, ApprovalPolicy
from posts.revisions import approvers_of, current_revision, post_authors
from posts.times import wall_clock

#: a delivery with its campaign's slug and time zone (None for a notification)
WithCampaign = tuple[Delivery, str | None, str | None]


def latest_rejection(session: Session, post: Post) -> dict[str, Any] | None:
    """The post's newest rejection as JSON-ready data, or None if it was never rejected.

    Kept after the author edits the post (it is then a draft again), because the comment is
    what the author is acting on. ``revision`` is the revision that was rejected: the newest
    one with the rejected content hash written by then (an edit can restore older words).
    """
    rejection = session.exec(
        select(Approval)
        .where(Approval.post_id == post.id, Approval.decision == "reject")
        .order_by(col(Approval.time).desc(), col(Approval.id).desc())
        .limit(1)
    ).first()
    if rejection is None:
        return None
    revision = session.exec(
        select(func.max(Revision.number)).where(
            Revision.post_id == post.id,
            Revision.content_hash == rejection.content_hash,
            Revision.created <= rejection.time,
        )
    ).one()
    return {
        "by": rejection.approver,
        "at": rejection.time.isoformat(),
        "comment": rejection.comment,
        "revision": revision,
    }


def post_dict(session: Session, post: Post, policy: ApprovalPolicy | None = None) -> dict[str, Any]:
    """A post with its current content as JSON-ready data (DESIGN §8 keys)."""
    campaign = session.get(Campaign, post.campaign_id)
    revision = current_revision(session, post)
    out: dict[str, Any] = {
        "id": post.id,
        "campaign": campaign.slug,
        "state": post.state,
        "author": post.author,
        "revision": post.revision,
        "content_hash": revision.content_hash,
        "text": revision.text,
        "variants": dict(revision.variants),
        "link": revision.link,
        "media": [dict(m) for m in revision.media],
        "channels": list(post.channels or []),
        "approvals": approvers_of(session, post, revision.content_hash),
        "created": post.created.isoformat(),
        "updated": post.updated.isoformat(),
    }
    if policy is not None:
        out["required"] = policy.for_campaign(campaign).required
    return out


def list_posts(
    session: Session, *, state: str | None, campaign: Campaign | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of posts, newest first, as rows for a listing, and the total that match.

    Written on the tables (SQLAlchemy Core), not the mapped classes: the rows are plain
    values, and in the fresh process of each ``signpost post list`` the ORM's statement
    compilation took 18 ms against 5 ms for the same two statements (issue 14).
    """
    post, revision = Post.__table__.c, Revision.__table__.c
    filters = []
    if state:
        if state not in PostState.__members__:
            raise UserError(
                f"--state '{state}': expected one of {', '.join(PostState.__members__)}"
            )
        filters.append(post.state == state)
    if campaign:
        filters.append(post.campaign_id == campaign.id)
    total = session.execute(
        sa.select(sa.func.count()).select_from(Post.__table__).where(*filters)
    ).scalar_one()
    query = (
        sa.select(
            post.id,
            Campaign.__table__.c.slug.label("campaign"),
            post.state,
            post.author,
            post.revision,
            revision.content_hash,
            revision.text,
            post.updated,
        )
        .join_from(Post.__table__, Campaign.__table__, Campaign.__table__.c.id == post.campaign_id)
        .join(
            Revision.__table__, (revision.post_id == post.id) & (revision.number == post.revision)
        )
        .where(*filters)
        .order_by(post.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = [
        {**row, "updated": row["updated"].isoformat()} for row in session.execute(query).mappings()
    ]
    return rows, total


def campaign_zone(session: Session, post: Post) -> str:
    """The time zone the post's campaign is shown in."""
    return session.get(Campaign, post.campaign_id).tz


def review_roles(session: Session, post: Post, policy: ApprovalPolicy) -> tuple[str, ...]:
    """The roles that may approve this post (its campaign may override the config's)."""
    return policy.for_campaign(session.get(Campaign, post.campaign_id)).roles


def decisions(session: Session, post: Post) -> list[dict[str, Any]]:
    """Every approval and rejection of the post, newest first, with the revision it was for.

    An approval names a content hash; its revision is the newest one with that hash written
    by then (an edit can bring older words back).
    """
    rows = session.exec(
        select(Approval)
        .where(Approval.post_id == post.id)
        .order_by(col(Approval.time).desc(), col(Approval.id).desc())
    ).all()
    revisions = session.exec(
        select(Revision.number, Revision.content_hash, Revision.created).where(
            Revision.post_id == post.id
        )
    ).all()
    return [
        {
            "by": row.approver,
            "decision": row.decision,
            "comment": row.comment,
            "at": row.time,
            "revision": max(
                (n for n, h, made in revisions if h == row.content_hash and made <= row.time),
                default=None,
            ),
        }
        for row in rows
    ]


def awaiting(session: Session, actor: Actor, policy: ApprovalPolicy) -> list[dict[str, Any]]:
    """The submitted posts ``actor`` could approve now, soonest due first, never-due last.

    Left out: campaigns whose approver roles the actor lacks, posts the actor wrote (when
    four-eyes applies) and posts the actor already approved in this revision. This only
    chooses what to list; ``posts.workflow.approve_post`` still decides.
    """
    rows = session.exec(
        select(Post, Campaign, Revision)
        .join(Campaign, Campaign.id == Post.campaign_id)
        .join(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .where(Post.state == PostState.submitted)
    ).all()
    dues = dict(
        session.exec(
            select(Delivery.post_id, func.min(Delivery.due))
            .where(
                col(Delivery.post_id).in_([post.id for post, _, _ in rows]),
                Delivery.state != DeliveryState.cancelled,
            )
            .group_by(Delivery.post_id)
        ).all()
    )
    out = []
    for post, campaign, revision in rows:
        rule = policy.for_campaign(campaign)
        if not set(actor.roles or ()) & set(rule.roles):
            continue
        if rule.four_eyes and actor.name in post_authors(session, post):
            continue
        approvals = approvers_of(session, post, revision.content_hash)
        if actor.name in approvals:
            continue
        due = dues.get(post.id)
        out.append(
            {
                "id": post.id,
                "campaign": campaign.slug,
                "author": revision.author,
                "revision": revision.number,
                "text": revision.text,
                "due": due.isoformat() if due else None,
                "due_local": wall_clock(due, campaign.tz),
                "approvals": len(approvals),
                "required": rule.required,
            }
        )
    out.sort(key=lambda row: (row["due"] is None, row["due"] or "", row["id"]))
    return out


def with_campaign(session: Session, delivery: Delivery) -> tuple[Delivery, str | None, str]:
    """A delivery with its campaign's slug and zone (a notification has neither: UTC)."""
    if delivery.post_id is None:
        return delivery, None, "UTC"
    campaign = session.get(Campaign, session.get(Post, delivery.post_id).campaign_id)
    return delivery, campaign.slug, campaign.tz


def delivery_zone(session: Session, delivery: Delivery) -> str:
    """The zone a time typed for this delivery is read in: its campaign's, else UTC."""
    return with_campaign(session, delivery)[2]


def delivery_rows(rows: Iterable[WithCampaign]) -> list[dict[str, Any]]:
    """Deliveries as dicts; ``due_local`` shows the campaign's wall time for people."""
    out = []
    for delivery, slug, tz in rows:
        data = delivery_dict(delivery, slug)
        data["due_local"] = wall_clock(delivery.due, tz or "UTC")
        out.append(data)
    return out


def shown(session: Session, deliveries: Iterable[Delivery]) -> list[dict[str, Any]]:
    """The rows of deliveries a command just created or changed (:func:`delivery_rows`)."""
    return delivery_rows(with_campaign(session, d) for d in deliveries)


def list_delivery_rows(
    session: Session, *, state: str | None, post_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Deliveries newest due first, notifications included (:func:`delivery_rows`)."""
    return delivery_rows(list_deliveries(session, state=state, post_id=post_id, limit=limit))


def calendar(session: Session, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every post's delivery due from ``start`` up to ``end``, in time order, with its text.

    Notifications to the team are left out: they are not part of the campaign's plan.
    """
    if end <= start:
        raise UserError("--to must be after --from")
    rows = delivery_rows(
        list_deliveries(session, start=start, end=end, newest_first=False, notices=False)
    )
    texts = texts_of(session, [r["post"] for r in rows])
    for row in rows:
        row["text"] = texts.get(row["post"], "")
    return rows
