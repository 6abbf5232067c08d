"""Read views of posts for output: one post as data, a page of posts, its last rejection."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from posts.errors import UserError
from posts.models import Approval, Campaign, Post, PostState, Revision
from posts.policy import ApprovalPolicy
from posts.revisions import approvers_of, current_revision


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
    """One page of posts, newest first, as rows for a listing, and the total that match."""
    filters = []
    if state:
        if state not in PostState.__members__:
            raise UserError(
                f"--state '{state}': expected one of {', '.join(PostState.__members__)}"
            )
        filters.append(Post.state == state)
    if campaign:
        filters.append(Post.campaign_id == campaign.id)
    total = session.exec(select(func.count()).select_from(Post).where(*filters)).one()
    query = (
        select(Post, Campaign.slug, Revision.text, Revision.content_hash)
        .join(Campaign, Campaign.id == Post.campaign_id)
        .join(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .where(*filters)
        .order_by(col(Post.id).desc())
        .limit(limit)
        .offset(offset)
    )
    rows = [
        {
            "id": post.id,
            "campaign": slug,
            "state": post.state,
            "author": post.author,
            "revision": post.revision,
            "content_hash": content_hash,
            "text": text,
            "updated": post.updated.isoformat(),
        }
        for post, slug, text, content_hash in session.exec(query)
    ]
    return rows, total
