"""Rules for deliveries: scheduling, pausing, retrying on purpose and resolving by hand.

Like ``posts.workflow``, every function takes the caller's session and ``now``, writes each
state change with its audit event, and never commits. The daemon's claim-and-record steps
live in ``scheduler/delivery.py`` but use the same readiness condition (``posts.holds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from posts import audit, holds
from posts.errors import PolicyRefused, UserError
from posts.models import Campaign, Delivery, DeliveryState, Pause, Post, PostState, new_key
from posts.rules import ChannelLike, check
from posts.workflow import WRITER_ROLES, Actor, campaign_rules, content_of, current_revision

OPERATOR_ROLES = ("author", "approver", "admin")
UNSCHEDULABLE = (PostState.cancelled,)
RETRYABLE = (DeliveryState.failed, DeliveryState.missed, DeliveryState.uncertain)


def schedule(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    due: datetime,
    expires: datetime | None,
    channel_names: Sequence[str],
    channels: Mapping[str, ChannelLike],
    utm: bool = True,
) -> list[Delivery]:
    """One delivery per channel at ``due``; held until the post is approved and unpaused.

    ``utm=False`` sends its links untagged even where the campaign tags them.
    """
    actor.require(WRITER_ROLES, "schedule posts")
    if post.state in UNSCHEDULABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and cannot be scheduled")
    if due <= now:
        raise UserError(f"--at {due.isoformat()} is in the past (now {now.isoformat()})")
    if expires is not None and expires <= due:
        raise UserError(f"--expires {expires.isoformat()} is not after --at {due.isoformat()}")
    names = list(dict.fromkeys(n.strip() for n in channel_names if n.strip()))
    if not names:
        raise UserError("--channels: name at least one channel (see 'signpost channels list')")
    unknown = [n for n in names if n not in channels]
    if unknown:
        raise UserError(
            f"--channels: no channel named {', '.join(repr(n) for n in unknown)}"
            f" (configured: {', '.join(sorted(channels)) or 'none'})"
        )
    campaign = session.get(Campaign, post.campaign_id)
    found = check(
        content_of(current_revision(session, post)),
        campaign_rules(campaign),
        channels,
        measure=names,
    )
    if found:
        raise PolicyRefused(
            f"post {post.id} cannot be scheduled: " + "; ".join(str(p) for p in found)
        )
    taken = session.exec(
        select(Delivery.channel).where(
            Delivery.post_id == post.id,
            Delivery.due == due,
            Delivery.channel.in_(names),
            Delivery.state != DeliveryState.cancelled,
        )
    ).all()
    if taken:
        raise UserError(
            f"post {post.id} is already scheduled for {', '.join(taken)} at {due.isoformat()}"
        )
    created = []
    for name in names:
        delivery = Delivery(
            post_id=post.id,
            channel=name,
            due=due,
            expires=expires,
            state=DeliveryState.held,
            idempotency_key=new_key(),
            utm=utm,
            created=now,
            updated=now,
        )
        session.add(delivery)
        created.append(delivery)
    session.flush()
    holds.settle_new(session, [d.id for d in created])
    for delivery in created:
        session.refresh(delivery)
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="post.schedule",
        subject=f"post:{post.id}",
        details={
            "deliveries": [
                {"id": d.id, "channel": d.channel, "key": d.idempotency_key, "state": d.state}
                for d in created
            ],
            "due": due.isoformat(),
            "expires": expires.isoformat() if expires else None,
        },
    )
    return created


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    """The delivery with ``delivery_id``, or a UserError saying none exists."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise UserError(f"no delivery with id {delivery_id} (see 'signpost deliveries list')")
    return delivery


def pause(
    session: Session, actor: Actor, now: datetime, *, scope: str, target: str | None, reason: str
) -> Pause:
    """Stop claims for everything, one campaign or one channel until resumed."""
    actor.require(OPERATOR_ROLES, "pause publishing")
    if not reason.strip():
        raise UserError("--reason: say why, so whoever resumes knows what to check")
    if (
        scope == "campaign"
        and session.exec(select(Campaign.id).where(Campaign.slug == target)).first() is None
    ):
        raise UserError(f"no campaign '{target}' (see 'signpost campaign list')")
    if _active_pause(session, scope, target) is not None:
        raise UserError(f"{_scope_words(scope, target)} is already paused")
    record = Pause(scope=scope, target=target, who=actor.name, reason=reason.strip(), since=now)
    return _save_pause(session, actor, now, record, "pause", {"reason": record.reason})


def resume(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    scope: str,
    target: str | None,
) -> Pause:
    """Lift the pause of exactly this scope."""
    actor.require(OPERATOR_ROLES, "resume publishing")
    record = _active_pause(session, scope, target)
    if record is None:
        raise UserError(f"{_scope_words(scope, target)} is not paused (see 'signpost status')")
    record.lifted = now
    record.lifted_by = actor.name
    return _save_pause(
        session, actor, now, record, "resume", {"paused_by": record.who, "reason": record.reason}
    )


def _save_pause(
    session: Session, actor: Actor, now: datetime, record: Pause, action: str, details: dict
) -> Pause:
    """Store a pause or its lifting with its audit event, then re-hold or release deliveries."""
    session.add(record)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action=action,
        subject=_subject(record.scope, record.target),
        details=details,
    )
    holds.refresh(session, now, actor.name)
    return record


def active_pauses(session: Session) -> list[Pause]:
    """Every pause not yet lifted, oldest first."""
    return list(session.exec(select(Pause).where(Pause.lifted.is_(None)).order_by(Pause.id)))


def _active_pause(session: Session, scope: str, target: str | None) -> Pause | None:
    return session.exec(
        select(Pause).where(Pause.scope == scope, Pause.target == target, Pause.lifted.is_(None))
        if target is not None
        else select(Pause).where(Pause.scope == scope, Pause.lifted.is_(None))
    ).first()


def _scope_words(scope: str, target: str | None) -> str:
    return "publishing" if scope == "all" else f"{scope} '{target}'"


def _subject(scope: str, target: str | None) -> str:
    return "all" if scope == "all" else f"{scope}:{target}"


def retry(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    delivery: Delivery,
    due: datetime | None = None,
) -> Delivery:
    """Reschedule a failed, missed or uncertain delivery on purpose, with the same key."""
    actor.require(WRITER_ROLES, "retry deliveries")
    if delivery.state not in RETRYABLE:
        raise PolicyRefused(
            f"delivery {delivery.id} is {delivery.state}; only failed, missed or uncertain"
            " deliveries can be retried"
        )
    due = due or now
    if due < now:
        raise UserError(f"--at {due.isoformat()} is in the past")
    before = delivery.state
    delivery.state = DeliveryState.held
    delivery.due = due
    if delivery.expires is not None and delivery.expires <= due:
        delivery.expires = None
    delivery.attempts = 0
    delivery.next_attempt = None
    delivery.lease_owner = delivery.lease_expires = None
    delivery.updated = now
    session.add(delivery)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="delivery.retry",
        subject=f"delivery:{delivery.id}",
        details={"from": before, "due": due.isoformat(), "last_error": delivery.last_error},
    )
    holds.refresh(session, now, actor.name, [delivery.post_id])
    session.refresh(delivery)
    return delivery


def resolve(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    delivery: Delivery,
    sent_url: str | None,
    not_sent: bool,
) -> Delivery:
    """A person settles an uncertain delivery: it went out (at this URL) or it did not."""
    actor.require(OPERATOR_ROLES, "resolve deliveries")
    if (sent_url is None) == (not not_sent):
        raise UserError("give either --sent URL or --not-sent")
    if delivery.state != DeliveryState.uncertain:
        raise PolicyRefused(
            f"delivery {delivery.id} is {delivery.state}; only an uncertain delivery is resolved"
            " by hand"
        )
    if sent_url is not None and not sent_url.startswith(("http://", "https://")):
        raise UserError(f"--sent '{sent_url}': expected the post's public http(s) URL")
    delivery.state = DeliveryState.sent if sent_url else DeliveryState.failed
    delivery.remote_url = sent_url
    delivery.last_error = None if sent_url else f"not sent (resolved by {actor.name})"
    delivery.updated = now
    session.add(delivery)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="delivery.resolve",
        subject=f"delivery:{delivery.id}",
        details={"to": delivery.state, "remote_url": sent_url},
    )
    holds.settle_post(session, now, actor.name, delivery.post_id)
    return delivery


def delivery_dict(delivery: Delivery, campaign: str | None = None) -> dict[str, Any]:
    """A delivery as JSON-ready data (DESIGN §8 keys)."""
    return {
        "id": delivery.id,
        "post": delivery.post_id,
        "campaign": campaign,
        "channel": delivery.channel,
        "state": delivery.state,
        "due": delivery.due.isoformat(),
        "expires": delivery.expires.isoformat() if delivery.expires else None,
        "attempts": delivery.attempts,
        "next_attempt": delivery.next_attempt.isoformat() if delivery.next_attempt else None,
        "remote_id": delivery.remote_id,
        "remote_url": delivery.remote_url,
        "last_error": delivery.last_error,
        "idempotency_key": delivery.idempotency_key,
        "notice": delivery.notice,
        "created": delivery.created.isoformat(),
        "updated": delivery.updated.isoformat(),
    }


def texts_of(session: Session, post_ids: Sequence[int]) -> dict[int, str]:
    """Each post's current text, for calendars and reports."""
    from posts.models import Revision

    rows = session.exec(
        select(Post.id, Revision.text)
        .join(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .where(Post.id.in_(list(set(post_ids))))
    ).all()
    return dict(rows)


def list_deliveries(
    session: Session,
    *,
    state: str | None = None,
    post_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = True,
    notices: bool = True,
) -> list[tuple[Delivery, str | None, str | None]]:
    """Deliveries with their campaign's slug and time zone, filtered.

    Notifications to the team (no post, no campaign) are included unless ``notices`` is
    false, so one that failed is as visible as a post that did.
    """
    query = (
        select(Delivery, Campaign.slug, Campaign.tz)
        .outerjoin(Post, Post.id == Delivery.post_id)
        .outerjoin(Campaign, Campaign.id == Post.campaign_id)
    )
    if not notices:
        query = query.where(Delivery.notice.is_(None))
    if state:
        if state not in DeliveryState.__members__:
            raise UserError(
                f"--state '{state}': expected one of {', '.join(DeliveryState.__members__)}"
            )
        query = query.where(Delivery.state == state)
    if post_id is not None:
        query = query.where(Delivery.post_id == post_id)
    if start is not None:
        query = query.where(Delivery.due >= start)
    if end is not None:
        query = query.where(Delivery.due < end)
    order = col(Delivery.due).desc() if newest_first else col(Delivery.due)
    query = query.order_by(order, col(Delivery.id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def counts(session: Session, now: datetime, soon: timedelta) -> dict[str, int]:
    """Deliveries by state, plus how many are due within ``soon``."""
    by_state = dict(
        session.exec(select(Delivery.state, sa.func.count()).group_by(Delivery.state)).all()
    )
    due_soon = session.exec(
        select(sa.func.count())
        .select_from(Delivery)
        .where(Delivery.state.in_(holds.WAITING), Delivery.due <= now + soon)
    ).one()
    return {**by_state, "due_soon": due_soon}


def set_slots(
    session: Session, actor: Actor, now: datetime, *, campaign: Campaign, spec: str
) -> Campaign:
    """Give a campaign its queue slots (checked before they are stored)."""
    from posts import slots

    actor.require(WRITER_ROLES, "set queue slots")
    slots.parse(spec)
    before = campaign.slots
    campaign.slots = spec.strip()
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="campaign.slots",
        subject=f"campaign:{campaign.slug}",
        details={"from": before, "to": campaign.slots},
    )
    return campaign


def queue(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    channel_names: Sequence[str],
    channels: Mapping[str, ChannelLike],
) -> list[Delivery]:
    """Schedule the post into the next free slot of its campaign, per channel.

    A slot is taken on a channel when a delivery of the same campaign (not cancelled) is
    already due on that channel at that instant.
    """
    from posts import slots

    campaign = session.get(Campaign, post.campaign_id)
    if not campaign.slots:
        raise UserError(
            f"campaign '{campaign.slug}' has no queue slots: set them with"
            f' signpost campaign slots {campaign.slug} "Mon-Fri 09:00,13:00"'
        )
    created = []
    for name in dict.fromkeys(n.strip() for n in channel_names if n.strip()):
        taken = set(
            session.exec(
                select(Delivery.due)
                .join(Post, Post.id == Delivery.post_id)
                .where(
                    Post.campaign_id == campaign.id,
                    Delivery.channel == name,
                    Delivery.state != DeliveryState.cancelled,
                    Delivery.due > now,
                )
            ).all()
        )
        free = next(
            (s for s in slots.upcoming(campaign.slots, campaign.tz, now) if s not in taken), None
        )
        if free is None:
            raise UserError(f"no free slot on {name} in the next year")
        created += schedule(
            session,
            actor,
            now,
            post=post,
            due=free,
            expires=None,
            channel_names=[name],
            channels=channels,
        )
    return created
