"""Rules about campaigns: creating and editing them, their content rules and UTM tags.

Like every rule module, each function takes the caller's session and ``now``, writes the
change with its audit event, and never commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import Session, func, select

from posts import audit
from posts.errors import UserError
from posts.models import Campaign, Pause, Post
from posts.policy import WRITER_ROLES, Actor, ApprovalPolicy, is_time_zone
from posts.rules import CampaignRules

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
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


class UtmSettings(Protocol):
    """What UTM tagging reads of a campaign: a ``Campaign``, or a row of those columns (the
    engine reads them so, scheduler/claims.py)."""

    @property
    def slug(self) -> str: ...
    @property
    def utm(self) -> bool: ...
    @property
    def utm_medium(self) -> str | None: ...
    @property
    def utm_campaign(self) -> str | None: ...


def utm_tags(campaign: UtmSettings) -> tuple[tuple[str, str], ...]:
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
    }


def list_campaigns(session: Session) -> list[dict[str, Any]]:
    """Every campaign by slug, each saying whether an active pause holds it back."""
    held = _held_back(session)
    return [
        {**campaign_dict(c), "paused": _paused(c, held)}
        for c in session.exec(select(Campaign).order_by(Campaign.slug))
    ]


def show_campaign(session: Session, slug: str, policy: ApprovalPolicy) -> dict[str, Any]:
    """One campaign with the approval policy in force for it, its pause and its posts by state."""
    campaign = get_campaign(session, slug)
    effective = policy.for_campaign(campaign)
    counts = session.exec(
        select(Post.state, func.count()).where(Post.campaign_id == campaign.id).group_by(Post.state)
    ).all()
    return {
        **campaign_dict(campaign),
        "approvals_required": effective.required,
        "approver_roles": list(effective.roles),
        "paused": _paused(campaign, _held_back(session)),
        "posts": dict(counts),
    }


def _held_back(session: Session) -> set[tuple[str, str | None]]:
    """The (scope, target) of every active pause: pauses live in the ``pause`` table alone."""
    rows = session.exec(select(Pause.scope, Pause.target).where(Pause.lifted.is_(None))).all()
    return {(scope, target) for scope, target in rows}


def _paused(campaign: Campaign, held: set[tuple[str, str | None]]) -> bool:
    """Held back by a pause of its own or of everything (a channel's pause holds channels)."""
    return ("all", None) in held or ("campaign", campaign.slug) in held
