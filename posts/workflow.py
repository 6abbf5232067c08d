"""The post life cycle: add, edit, submit, approve, reject, cancel (DESIGN §3).

Campaign rules live in posts/campaigns.py, the actor and policy in posts/policy.py, the
checks before a step in posts/checks.py and read views in posts/views.py. The CLI, the
daemon and any later web page call these functions, so they all enforce the
same rules. Each function takes an open session (``posts.store.Store.transaction``) and
``now``, writes the state change and its audit event together, and never commits: the caller's
one transaction does, or nothing is kept.

Four-eyes: whoever wrote any revision of a post is one of its authors and can never approve
or reject it; one person's approval counts once; an approval is bound to the content hash of
the revision it approved, so any edit leaves the post with zero approvals that count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from posts import audit, holds, lifecycle, notices
from posts.campaigns import (
    CAMPAIGN_EDITABLE,
    add_campaign,
    campaign_dict,
    campaign_rules,
    edit_campaign,
    get_campaign,
    utm_tags,
)
from posts.checks import (
    campaign_warnings,
    problems,
    require_publishing,
    targets,
    validate_content,
    validate_intended,
)
from posts.errors import PolicyRefused, UserError
from posts.models import Approval, Campaign, Delivery, DeliveryState, Post, PostState, Revision
from posts.notices import NotifyPolicy
from posts.policy import WRITER_ROLES, Actor, ApprovalPolicy, is_time_zone
from posts.revisions import (
    SeenRevision,
    approvers_of,
    content_of,
    current_revision,
    get_post,
    post_authors,
)
from posts.rules import ChannelLike, Content, Problem
from posts.views import latest_rejection, list_posts, post_dict

#: The rule API the CLI and the daemon call as ``workflow.NAME``; each name lives in the
#: module that holds its kind of rule (see the module docstring).
__all__ = [
    "CAMPAIGN_EDITABLE",
    "EDITABLE",
    "WRITER_ROLES",
    "Actor",
    "ApprovalPolicy",
    "Campaign",
    "SeenRevision",
    "add_campaign",
    "add_post",
    "approve_post",
    "approvers_of",
    "campaign_dict",
    "campaign_rules",
    "campaign_warnings",
    "cancel_post",
    "content_of",
    "current_revision",
    "edit_campaign",
    "edit_post",
    "get_campaign",
    "get_post",
    "is_time_zone",
    "latest_rejection",
    "list_posts",
    "post_authors",
    "post_dict",
    "problems",
    "reject_post",
    "require_publishing",
    "submit_post",
    "targets",
    "utm_tags",
]

EDITABLE = {PostState.draft, PostState.submitted, PostState.approved, PostState.rejected}


def add_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    campaign: Campaign,
    content: Content,
    channels: Mapping[str, ChannelLike],
    intended: Sequence[str] = (),
) -> Post:
    """Create a draft post with its first revision (and where it is meant to go)."""
    actor.require(WRITER_ROLES, "write posts")
    content = validate_content(content, channels)
    post = Post(
        campaign_id=campaign.id,
        author=actor.name,
        revision=1,
        state=PostState.draft,
        channels=validate_intended(intended, channels) or None,
        created=now,
        updated=now,
    )
    session.add(post)
    session.flush()
    revision = _add_revision(session, post, 1, actor, now, content)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="post.add",
        subject=f"post:{post.id}",
        details={
            "campaign": campaign.slug,
            "channels": post.channels,
            **_revision_details(revision),
        },
    )
    return post


def edit_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    content: Content,
    channels: Mapping[str, ChannelLike],
    intended: Sequence[str] | None = None,
) -> Post:
    """Make a new revision; an approved or submitted post goes back to ``submitted``.

    Approvals bind to the old content hash, so after an edit none of them count: a post that
    was approved needs approving again before anything goes out. ``intended`` (None: as it
    was) changes where the post is meant to go; that alone is no new revision, since the
    words approved stay the same and every channel is measured again when scheduled.
    """
    actor.require(WRITER_ROLES, "edit posts")
    if post.state not in EDITABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and can no longer be edited")
    content = validate_content(content, channels)
    old = current_revision(session, post)
    new_channels = (
        post.channels if intended is None else (validate_intended(intended, channels) or None)
    )
    same_words = content.content_hash() == old.content_hash
    if same_words and new_channels == post.channels:
        raise UserError(f"post {post.id}: nothing changed (same content as revision {old.number})")
    if new_channels != post.channels:
        audit.record(
            session,
            now=now,
            actor=actor.name,
            action="post.channels",
            subject=f"post:{post.id}",
            details={"from": post.channels, "to": new_channels},
        )
        post.channels = new_channels
        post.updated = now
        session.add(post)
    if same_words:
        return post
    before = post.state
    post.state = (
        PostState.submitted
        if post.state in (PostState.submitted, PostState.approved)
        else PostState.draft
    )
    post.revision = old.number + 1
    post.approved_hash = None
    post.updated = now
    session.add(post)
    revision = _add_revision(session, post, post.revision, actor, now, content)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="post.edit",
        subject=f"post:{post.id}",
        details={"from": before, "to": post.state, **_revision_details(revision)},
    )
    holds.refresh(session, now, actor.name, [post.id])
    return post


def _add_revision(
    session: Session, post: Post, number: int, actor: Actor, now: datetime, content: Content
) -> Revision:
    revision = Revision(
        post_id=post.id,
        number=number,
        author=actor.name,
        text=content.text,
        variants=dict(content.variants),
        link=content.link,
        media=[dict(m) for m in content.media],
        content_hash=content.content_hash(),
        created=now,
    )
    session.add(revision)
    session.flush()
    return revision


def _revision_details(revision: Revision) -> dict[str, Any]:
    return {
        "revision": revision.number,
        "content_hash": revision.content_hash,
        "text": revision.text,
        "variants": dict(revision.variants),
        "link": revision.link,
        "media": [{"sha256": m["sha256"], "alt": m.get("alt", "")} for m in revision.media],
    }


def _refuse_problems(post: Post, found: list[Problem], doing: str) -> None:
    if found:
        listed = "; ".join(str(p) for p in found)
        raise PolicyRefused(
            f"post {post.id} cannot be {doing}: {len(found)} problem(s): {listed}"
            f" (see 'signpost post check {post.id}')"
        )


def submit_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    channels: Mapping[str, ChannelLike],
    notify: NotifyPolicy | None = None,
) -> Post:
    """Send a draft for approval, if it passes every content rule (and tell the approvers)."""
    actor.require(WRITER_ROLES, "submit posts")
    if post.state != PostState.draft:
        hint = " (edit it first)" if post.state == PostState.rejected else ""
        raise PolicyRefused(f"post {post.id} is {post.state}, only a draft can be submitted{hint}")
    _refuse_problems(post, problems(session, post, channels), "submitted")
    _transition(session, actor, now, post, PostState.submitted, "post.submit")
    campaign = session.get(Campaign, post.campaign_id)
    words = " ".join(current_revision(session, post).text.split())
    where = (notify or NotifyPolicy()).where(
        f"/posts/{post.id}",
        f"signpost post preview {post.id}; then"
        f" signpost post approve {post.id} --revision {post.revision}",
    )
    notices.approval_requested(
        session,
        now,
        notify,
        f"Post {post.id} ({campaign.slug}) by {actor.name} awaits approval:"
        f' "{words[:100]}". See what goes out: {where}',
        actor.name,
    )
    return post


def _check_reviewer(
    session: Session,
    actor: Actor,
    now: datetime,
    post: Post,
    policy: ApprovalPolicy,
    doing: str,
    seen: SeenRevision,
) -> Revision:
    actor.require(policy.roles, f"{doing} posts")
    if post.state != PostState.submitted:
        raise PolicyRefused(
            f"post {post.id} is {post.state}; only a submitted post can be {doing}d"
            + (" (submit it first)" if post.state == PostState.draft else "")
        )
    if policy.four_eyes and actor.name in post_authors(session, post):
        raise PolicyRefused(
            f"four-eyes: {actor.name} wrote post {post.id} and cannot {doing} it;"
            " another approver must"
        )
    revision = current_revision(session, post)
    seen.require(session, now, post, revision)
    return revision


def approve_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    policy: ApprovalPolicy,
    channels: Mapping[str, ChannelLike],
    seen: SeenRevision,
    comment: str | None = None,
) -> Post:
    """Sign off the revision the approver saw (``seen``), if it is still the current one;
    the post is ``approved`` once enough people have."""
    campaign = session.get(Campaign, post.campaign_id)
    policy = policy.for_campaign(campaign)
    revision = _check_reviewer(session, actor, now, post, policy, "approve", seen)
    already = approvers_of(session, post, revision.content_hash)
    if actor.name in already:
        raise PolicyRefused(
            f"{actor.name} has already approved revision {revision.number} of post {post.id};"
            " one person's approval counts once"
        )
    _refuse_problems(post, problems(session, post, channels), "approved")
    session.add(
        Approval(
            post_id=post.id,
            content_hash=revision.content_hash,
            approver=actor.name,
            decision="approve",
            comment=comment,
            time=now,
        )
    )
    count = len(already) + 1
    details = {
        "revision": revision.number,
        "content_hash": revision.content_hash,
        "approvals": count,
        "required": policy.required,
        "comment": comment,
    }
    if count >= policy.required:
        post.approved_hash = revision.content_hash
        _transition(session, actor, now, post, PostState.approved, "post.approve", details)
        holds.refresh(session, now, actor.name, [post.id])
        return post
    post.updated = now
    session.add(post)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="post.approve",
        subject=f"post:{post.id}",
        details={"from": post.state, "to": post.state, **details},
    )
    return post


def reject_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    policy: ApprovalPolicy,
    seen: SeenRevision,
    comment: str,
) -> Post:
    """Send the revision the reviewer saw (``seen``) back to its authors with a reason."""
    if not comment.strip():
        raise UserError("--comment: a rejection needs a reason the author can act on")
    campaign = session.get(Campaign, post.campaign_id)
    revision = _check_reviewer(
        session, actor, now, post, policy.for_campaign(campaign), "reject", seen
    )
    session.add(
        Approval(
            post_id=post.id,
            content_hash=revision.content_hash,
            approver=actor.name,
            decision="reject",
            comment=comment,
            time=now,
        )
    )
    return _transition(
        session,
        actor,
        now,
        post,
        PostState.rejected,
        "post.reject",
        {"revision": revision.number, "content_hash": revision.content_hash, "comment": comment},
    )


def cancel_post(session: Session, actor: Actor, now: datetime, *, post: Post) -> Post:
    """Withdraw a post that has not gone out; it can never be published afterwards.

    Its waiting deliveries are cancelled. One being sent right now cannot be called back:
    the audit event names it (``in_flight``), its outcome is recorded as it comes, and the
    post stays cancelled even if it went out (docs/decisions.md).
    """
    actor.require(WRITER_ROLES, "cancel posts")
    if post.state not in EDITABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and cannot be cancelled")
    in_flight = session.exec(
        select(Delivery.id)
        .where(Delivery.post_id == post.id, Delivery.state == DeliveryState.sending)
        .order_by(Delivery.id)
    ).all()
    details = {"in_flight": list(in_flight)} if in_flight else None
    _transition(session, actor, now, post, PostState.cancelled, "post.cancel", details)
    holds.cancel_waiting(session, now, actor.name, post.id)
    return post


def _transition(
    session: Session,
    actor: Actor,
    now: datetime,
    post: Post,
    to: PostState,
    action: str,
    details: dict[str, Any] | None = None,
) -> Post:
    return lifecycle.move_post(session, now, actor.name, post, to, action, details)
