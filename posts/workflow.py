"""Every rule about who may do what to a campaign or a post, in one place.

The CLI, the daemon and any later web page call these functions, so they all enforce the
same rules. Each function takes an open session (``posts.store.Store.transaction``) and
``now``, writes the state change and its audit event together, and never commits: the caller's
one transaction does, or nothing is kept.

Four-eyes: whoever wrote any revision of a post is one of its authors and can never approve
or reject it; one person's approval counts once; an approval is bound to the content hash of
the revision it approved, so any edit leaves the post with zero approvals that count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, func, select

from posts import audit, holds, notices
from posts.errors import PolicyRefused, UserError
from posts.models import Approval, Campaign, Delivery, DeliveryState, Post, PostState, Revision
from posts.notices import NotifyPolicy
from posts.rules import CampaignRules, ChannelLike, Content, Problem, check

WRITER_ROLES = ("author", "admin")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
EDITABLE = {PostState.draft, PostState.submitted, PostState.approved, PostState.rejected}


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the roles config gives them (None: a user config does not know)."""

    name: str
    roles: tuple[str, ...] | None

    def require(self, allowed: Sequence[str], doing: str) -> None:
        """Refuse unless the actor is known and holds one of ``allowed``."""
        if self.roles is None:
            raise PolicyRefused(
                f"user '{self.name}' is not in the config's [users]: unknown users can read"
                f" but not {doing}"
            )
        if not set(self.roles) & set(allowed):
            raise PolicyRefused(
                f"user '{self.name}' may not {doing}: needs the role"
                f" {' or '.join(allowed)} (has: {', '.join(self.roles) or 'none'})"
            )


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many approvals, from which roles, and whether four-eyes applies (DESIGN §3)."""

    required: int = 1
    roles: tuple[str, ...] = ("approver",)
    four_eyes: bool = True

    def for_campaign(self, campaign: Campaign) -> ApprovalPolicy:
        """This policy with the campaign's overrides applied."""
        return replace(
            self,
            required=campaign.approvals_required or self.required,
            roles=tuple(campaign.approver_roles or self.roles),
        )


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone ("Europe" is a folder of zones, not one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


# --- campaigns -------------------------------------------------------------------------------


def add_campaign(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    slug: str,
    name: str,
    tz: str,
    starts: date | None = None,
    ends: date | None = None,
    must_include: Sequence[str] = (),
    forbidden: Sequence[str] = (),
    link_domains: Sequence[str] = (),
    approvals_required: int | None = None,
    approver_roles: Sequence[str] = (),
    utm: bool = True,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
) -> Campaign:
    """Create a campaign; refuse a taken or malformed slug, a bad time zone or date range."""
    actor.require(WRITER_ROLES, "add campaigns")
    if not _SLUG.fullmatch(slug):
        raise UserError(
            f"campaign slug '{slug}': expected lower-case letters, digits and '-',"
            " starting with a letter or digit (e.g. stop-it-now)"
        )
    if not name.strip():
        raise UserError("--name: expected the campaign's name, got an empty text")
    if not is_time_zone(tz):
        raise UserError(f"--tz: unknown time zone '{tz}' (expected e.g. Europe/London)")
    if starts and ends and ends < starts:
        raise UserError(f"--end {ends} is before --start {starts}")
    if approvals_required is not None and approvals_required < 1:
        raise UserError(f"--approvals: expected 1 or more, got {approvals_required}")
    if session.exec(select(Campaign.id).where(Campaign.slug == slug)).first() is not None:
        raise UserError(f"campaign '{slug}' already exists")
    domains = [d.strip().lower().removeprefix("www.") for d in link_domains if d.strip()]
    campaign = Campaign(
        slug=slug,
        name=name.strip(),
        tz=tz,
        starts=starts,
        ends=ends,
        must_include=[m for m in must_include if m.strip()],
        forbidden=[f for f in forbidden if f.strip()],
        link_domains=domains,
        approvals_required=approvals_required,
        approver_roles=list(approver_roles) or None,
        utm=utm,
        utm_medium=utm_medium,
        utm_campaign=utm_campaign,
        created=now,
        created_by=actor.name,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="campaign.add",
        subject=f"campaign:{slug}",
        details=campaign_dict(campaign),
    )
    return campaign


def get_campaign(session: Session, slug: str) -> Campaign:
    """The campaign with ``slug``, or a UserError that says none exists."""
    campaign = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        raise UserError(f"no campaign '{slug}' (see 'signpost campaign list')")
    return campaign


def campaign_rules(campaign: Campaign) -> CampaignRules:
    """The content rules a campaign sets."""
    return CampaignRules(
        must_include=tuple(campaign.must_include),
        forbidden=tuple(campaign.forbidden),
        link_domains=tuple(campaign.link_domains),
        utm=utm_tags(campaign),
    )


def utm_tags(campaign: Campaign) -> tuple[tuple[str, str], ...]:
    """The campaign's UTM tags besides ``utm_source`` (the channel type); empty when off."""
    if not campaign.utm:
        return ()
    return (
        ("utm_medium", campaign.utm_medium or "social"),
        ("utm_campaign", campaign.utm_campaign or campaign.slug),
    )


def campaign_dict(campaign: Campaign) -> dict[str, Any]:
    """A campaign as JSON-ready data, for output and the audit log."""
    return {
        "id": campaign.id,
        "slug": campaign.slug,
        "name": campaign.name,
        "tz": campaign.tz,
        "starts": campaign.starts.isoformat() if campaign.starts else None,
        "ends": campaign.ends.isoformat() if campaign.ends else None,
        "must_include": list(campaign.must_include),
        "forbidden": list(campaign.forbidden),
        "link_domains": list(campaign.link_domains),
        "approvals_required": campaign.approvals_required,
        "approver_roles": campaign.approver_roles,
        "utm": dict(utm_tags(campaign)) or None,
        "slots": campaign.slots,
        "paused": campaign.paused,
    }


# --- posts -----------------------------------------------------------------------------------


def get_post(session: Session, post_id: int) -> Post:
    """The post with ``post_id``, or a UserError that says none exists."""
    post = session.get(Post, post_id)
    if post is None:
        raise UserError(f"no post with id {post_id} (see 'signpost post list')")
    return post


def current_revision(session: Session, post: Post) -> Revision:
    """The post's newest revision."""
    revision = session.exec(
        select(Revision).where(Revision.post_id == post.id, Revision.number == post.revision)
    ).one()
    return revision


def content_of(revision: Revision) -> Content:
    """A revision's content, as the rules and the hash see it."""
    return Content(
        text=revision.text,
        variants=dict(revision.variants),
        link=revision.link,
        media=tuple(revision.media),
    )


def _validate_content(content: Content, channels: Mapping[str, ChannelLike]) -> Content:
    content = content.normalised()
    if content.link and not re.match(r"https?://[^\s/]+\.[^\s]+$", content.link):
        raise UserError(
            f"--link '{content.link}': expected an http(s) URL such as"
            " https://www.stopitnow.org.uk/"
        )
    for name in content.variants:
        if name not in channels:
            known = ", ".join(sorted(channels)) or "none"
            raise UserError(
                f"--variant {name}=...: no channel named '{name}' is configured"
                f" (configured: {known})"
            )
    return content


def add_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    campaign: Campaign,
    content: Content,
    channels: Mapping[str, ChannelLike],
) -> Post:
    """Create a draft post with its first revision."""
    actor.require(WRITER_ROLES, "write posts")
    content = _validate_content(content, channels)
    post = Post(
        campaign_id=campaign.id,
        author=actor.name,
        revision=1,
        state=PostState.draft,
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
        details={"campaign": campaign.slug, **_revision_details(revision)},
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
) -> Post:
    """Make a new revision; an approved or submitted post goes back to ``submitted``.

    Approvals bind to the old content hash, so after an edit none of them count: a post that
    was approved needs approving again before anything goes out.
    """
    actor.require(WRITER_ROLES, "edit posts")
    if post.state not in EDITABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and can no longer be edited")
    content = _validate_content(content, channels)
    old = current_revision(session, post)
    if content.content_hash() == old.content_hash:
        raise UserError(f"post {post.id}: nothing changed (same content as revision {old.number})")
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


def problems(session: Session, post: Post, channels: Mapping[str, ChannelLike]) -> list[Problem]:
    """Every content-rule problem of the post's current revision.

    Lengths are measured for the channels the post is scheduled to, or, before it is
    scheduled anywhere, for every configured channel: a post meant for Mastodon only is not
    held back because it would be too long for X.
    """
    campaign = session.get(Campaign, post.campaign_id)
    scheduled = set(
        session.exec(
            select(Delivery.channel).where(
                Delivery.post_id == post.id, Delivery.state != DeliveryState.cancelled
            )
        ).all()
    )
    return check(
        content_of(current_revision(session, post)),
        campaign_rules(campaign),
        channels,
        measure=scheduled or None,
    )


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
    notices.notify(
        session,
        now,
        notify,
        "approval_requested",
        f"Post {post.id} ({campaign.slug}) by {actor.name} awaits approval:"
        f' "{words[:100]}". Approve with: signpost post approve {post.id}',
        actor.name,
    )
    return post


def post_authors(session: Session, post: Post) -> set[str]:
    """Everyone who wrote any revision of the post: none of them may approve it."""
    return set(session.exec(select(Revision.author).where(Revision.post_id == post.id)).all())


def approvers_of(session: Session, post: Post, content_hash: str) -> list[str]:
    """Distinct people whose approval of exactly ``content_hash`` is on record."""
    rows = session.exec(
        select(Approval.approver)
        .where(
            Approval.post_id == post.id,
            Approval.content_hash == content_hash,
            Approval.decision == "approve",
        )
        .distinct()
        .order_by(Approval.approver)
    ).all()
    return list(rows)


def _check_reviewer(
    session: Session, actor: Actor, post: Post, policy: ApprovalPolicy, doing: str
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
    return current_revision(session, post)


def approve_post(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    policy: ApprovalPolicy,
    channels: Mapping[str, ChannelLike],
    comment: str | None = None,
) -> Post:
    """Sign off the post's current content; it is ``approved`` once enough people have."""
    campaign = session.get(Campaign, post.campaign_id)
    policy = policy.for_campaign(campaign)
    revision = _check_reviewer(session, actor, post, policy, "approve")
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
    comment: str,
) -> Post:
    """Send a submitted post back to its authors with a reason."""
    if not comment.strip():
        raise UserError("--comment: a rejection needs a reason the author can act on")
    campaign = session.get(Campaign, post.campaign_id)
    revision = _check_reviewer(session, actor, post, policy.for_campaign(campaign), "reject")
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
    """Withdraw a post that has not gone out; it can never be published afterwards."""
    actor.require(WRITER_ROLES, "cancel posts")
    if post.state not in EDITABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and cannot be cancelled")
    _transition(session, actor, now, post, PostState.cancelled, "post.cancel")
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
    before = post.state
    post.state = to
    post.updated = now
    session.add(post)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action=action,
        subject=f"post:{post.id}",
        details={"from": before, "to": to.value, **(details or {})},
    )
    return post


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
