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

CAMPAIGN_EDITABLE = ("name", "tz", "starts", "ends", "must_include", "forbidden", "link_domains")


def _campaign_fields(
    *,
    name: str,
    tz: str,
    starts: date | None,
    ends: date | None,
    must_include: Sequence[str],
    forbidden: Sequence[str],
    link_domains: Sequence[str],
) -> dict[str, Any]:
    """The fields 'campaign add' and 'campaign edit' share, checked and normalised one way,
    so an edit can never store what adding would refuse."""
    if not name.strip():
        raise UserError("--name: expected the campaign's name, got an empty text")
    if not is_time_zone(tz):
        raise UserError(f"--tz: unknown time zone '{tz}' (expected e.g. Europe/London)")
    if starts and ends and ends < starts:
        raise UserError(f"--end {ends} is before --start {starts}")
    return {
        "name": name.strip(),
        "tz": tz,
        "starts": starts,
        "ends": ends,
        "must_include": [m for m in must_include if m.strip()],
        "forbidden": [f for f in forbidden if f.strip()],
        "link_domains": [d.strip().lower().removeprefix("www.") for d in link_domains if d.strip()],
    }


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
    fields = _campaign_fields(
        name=name,
        tz=tz,
        starts=starts,
        ends=ends,
        must_include=must_include,
        forbidden=forbidden,
        link_domains=link_domains,
    )
    if approvals_required is not None and approvals_required < 1:
        raise UserError(f"--approvals: expected 1 or more, got {approvals_required}")
    if session.exec(select(Campaign.id).where(Campaign.slug == slug)).first() is not None:
        raise UserError(f"campaign '{slug}' already exists")
    campaign = Campaign(
        slug=slug,
        **fields,
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


def edit_campaign(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    campaign: Campaign,
    changes: Mapping[str, Any],
) -> list[str]:
    """Change a campaign's name, zone, days or content rules; return the fields that changed.

    ``changes`` maps fields of :data:`CAMPAIGN_EDITABLE` to their new values (None clears a
    day, an empty list a rule); what it leaves out stays. The whole campaign is checked as
    'campaign add' checks it, so a new end before the old start is refused too. Approvals
    are left alone: they bind to a post's words, and a post meets the new rules when it is
    next approved or scheduled (docs/decisions.md); :func:`campaign_warnings` names what
    breaks them meanwhile.
    """
    actor.require(WRITER_ROLES, "edit campaigns")
    unknown = sorted(set(changes) - set(CAMPAIGN_EDITABLE))
    if unknown:
        raise ValueError(f"campaign fields that cannot be edited: {', '.join(unknown)}")
    current = {field: getattr(campaign, field) for field in CAMPAIGN_EDITABLE}
    fields = _campaign_fields(**{**current, **changes})
    changed = [field for field in CAMPAIGN_EDITABLE if fields[field] != current[field]]
    if not changed:
        raise UserError(
            f"campaign {campaign.slug}: nothing to change"
            + (
                " (the values given are the ones it has)"
                if changes
                else " (give --name, --tz, --start, --end or a content rule)"
            )
        )
    before = campaign_dict(campaign)
    for field in changed:
        setattr(campaign, field, fields[field])
    session.add(campaign)
    session.flush()
    after = campaign_dict(campaign)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="campaign.edit",
        subject=f"campaign:{campaign.slug}",
        details={
            "before": {field: before[field] for field in changed},
            "after": {field: after[field] for field in changed},
        },
    )
    return changed


def campaign_warnings(
    session: Session, campaign: Campaign, channels: Mapping[str, ChannelLike]
) -> list[str]:
    """What the campaign's rules and days leave standing that a person should look at.

    Submitted and approved posts that break the rules now, and deliveries still waiting
    outside the campaign's days: an edit of the campaign changes none of them (approved
    posts keep their approvals and deliveries), so saying so is the only way it is not silent.
    """
    live = session.exec(
        select(Post)
        .where(
            Post.campaign_id == campaign.id,
            col(Post.state).in_([PostState.submitted, PostState.approved]),
        )
        .order_by(Post.id)
    ).all()
    warnings = []
    breaking = [str(post.id) for post in live if problems(session, post, channels)]
    if breaking:
        warnings.append(
            f"{len(breaking)} submitted or approved post(s) break the campaign's rules now"
            f" and keep their approvals and deliveries: {', '.join(breaking)}"
            " (see 'signpost post check ID'; edit or cancel them)"
        )
    zone = ZoneInfo(campaign.tz)
    waiting = session.exec(
        select(Delivery.id, Delivery.due)
        .join(Post, Post.id == Delivery.post_id)
        .where(Post.campaign_id == campaign.id, col(Delivery.state).in_(holds.WAITING))
        .order_by(Delivery.id)
    ).all()
    outside = [
        str(delivery_id)
        for delivery_id, due in waiting
        if (campaign.starts and due.astimezone(zone).date() < campaign.starts)
        or (campaign.ends and due.astimezone(zone).date() > campaign.ends)
    ]
    if outside:
        warnings.append(
            f"{len(outside)} waiting delivery(ies) fall outside the campaign's days and will"
            f" still go out: {', '.join(outside)} (see 'signpost deliveries list')"
        )
    return warnings


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
    intended: Sequence[str] = (),
) -> Post:
    """Create a draft post with its first revision (and where it is meant to go)."""
    actor.require(WRITER_ROLES, "write posts")
    content = _validate_content(content, channels)
    post = Post(
        campaign_id=campaign.id,
        author=actor.name,
        revision=1,
        state=PostState.draft,
        channels=_validate_intended(intended, channels) or None,
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
    content = _validate_content(content, channels)
    old = current_revision(session, post)
    new_channels = (
        post.channels if intended is None else (_validate_intended(intended, channels) or None)
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


def _validate_intended(names: Sequence[str], channels: Mapping[str, ChannelLike]) -> list[str]:
    """Intended channel names, deduplicated in order; each configured and able to publish."""
    chosen = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    require_publishing(chosen, channels)
    return chosen


def require_publishing(names: Sequence[str], channels: Mapping[str, ChannelLike]) -> None:
    """Refuse a channel name that is not configured, or whose type cannot publish yet."""
    from channels.registry import ADAPTERS

    unknown = [n for n in names if n not in channels]
    if unknown:
        raise UserError(
            f"--channels: no channel named {', '.join(repr(n) for n in unknown)}"
            f" (configured: {', '.join(sorted(channels)) or 'none'})"
        )
    for name in names:
        if channels[name].type not in ADAPTERS:
            raise UserError(
                f"--channels: {name} is a {channels[name].type} channel, which cannot publish"
                f" yet (publishing types: {', '.join(sorted(ADAPTERS))})"
            )


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


def targets(session: Session, post: Post, channels: Mapping[str, ChannelLike]) -> list[str]:
    """Where a post is measured and previewed, in name order.

    The channels it is scheduled to (not cancelled) together with the ones it is meant for
    (``post add|edit --channels``); with neither, every configured channel, so nothing is
    approved unmeasured. A post meant for the feed is not held back by X's 280.
    """
    scheduled = set(
        session.exec(
            select(Delivery.channel).where(
                Delivery.post_id == post.id, Delivery.state != DeliveryState.cancelled
            )
        ).all()
    )
    chosen = (scheduled | set(post.channels or ())) & set(channels)
    return sorted(chosen or channels)


def problems(session: Session, post: Post, channels: Mapping[str, ChannelLike]) -> list[Problem]:
    """Every content-rule problem of the post's current revision, lengths measured for its
    targets (:func:`targets`)."""
    campaign = session.get(Campaign, post.campaign_id)
    return check(
        content_of(current_revision(session, post)),
        campaign_rules(campaign),
        channels,
        measure=targets(session, post, channels),
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
        f' "{words[:100]}". See what goes out: signpost post preview {post.id}; then'
        f" signpost post approve {post.id} --revision {post.revision}",
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


@dataclass(frozen=True)
class SeenRevision:
    """The revision a reviewer looked at, and its content hash when the page showed it.

    An approval or rejection names what the person saw; if the post changed since, the
    decision is refused rather than applied to words they never read.
    """

    number: int
    content_hash: str | None = None

    def require(self, session: Session, now: datetime, post: Post, current: Revision) -> None:
        """Refuse unless ``current`` is the revision (and hash) that was seen."""
        if self.number > current.number or self.number < 1:
            raise UserError(
                f"post {post.id} has no revision {self.number} (its current revision is"
                f" {current.number})"
            )
        if self.number == current.number and self.content_hash in (None, current.content_hash):
            return
        campaign = session.get(Campaign, post.campaign_id)
        zone = ZoneInfo(campaign.tz)
        made = current.created.astimezone(zone)
        today = made.date() == now.astimezone(zone).date()
        when = made.strftime("%H:%M" if today else "%Y-%m-%d %H:%M")
        raise PolicyRefused(
            f"post {post.id} changed since revision {self.number} (revision {current.number}"
            f" by {current.author} at {when}); preview it again"
        )


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
