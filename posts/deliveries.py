"""Rules for deliveries: scheduling, pausing, retrying on purpose and resolving by hand.

Like ``posts.workflow``, every function takes the caller's session and ``now``, writes each
state change with its audit event, and never commits. The daemon's claim-and-record steps
live in ``scheduler/delivery.py`` but use the same readiness condition (``posts.holds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from posts import audit, holds
from posts.errors import PolicyRefused, UserError
from posts.models import Campaign, Delivery, DeliveryState, Pause, Post, PostState, new_key
from posts.rules import ChannelLike, check
from posts.workflow import (
    WRITER_ROLES,
    Actor,
    campaign_rules,
    content_of,
    current_revision,
    require_publishing,
)

OPERATOR_ROLES = ("author", "approver", "admin")
UNSCHEDULABLE = (PostState.cancelled,)
RETRYABLE = (DeliveryState.failed, DeliveryState.missed, DeliveryState.uncertain)
#: a delivery in one of these states is, or will be, a post on its channel
LIVE = (*holds.WAITING, DeliveryState.sending, DeliveryState.sent)
CANCELLABLE = holds.WAITING
RESCHEDULABLE = (
    DeliveryState.pending,
    DeliveryState.held,
    DeliveryState.missed,
    DeliveryState.failed,
)


def schedule(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    dues: Sequence[datetime],
    expires: datetime | None,
    channel_names: Sequence[str] | None,
    channels: Mapping[str, ChannelLike],
    utm: bool = True,
    again: bool = False,
) -> list[Delivery]:
    """One delivery per channel and due time; held until the post is approved and unpaused.

    ``dues`` is one time, or every occurrence of one ``--rrule`` series: one schedule.
    ``channel_names`` None means the post's intended channels. A post that already has a
    live delivery (waiting, sending or sent) on one of the channels is refused unless
    ``again``: a second schedule is a second post on that channel, so it must be meant.
    ``utm=False`` sends its links untagged even where the campaign tags them.
    """
    actor.require(WRITER_ROLES, "schedule posts")
    if post.state in UNSCHEDULABLE:
        raise PolicyRefused(f"post {post.id} is {post.state} and cannot be scheduled")
    campaign = session.get(Campaign, post.campaign_id)
    for due in dues:
        check_due(due, now, campaign, "--at")
    if expires is not None and expires <= dues[0]:
        raise UserError(f"--expires {expires.isoformat()} is not after --at {dues[0].isoformat()}")
    if channel_names is None:
        if not post.channels:
            raise UserError(
                f"--channels: name at least one channel; post {post.id} has no intended"
                f" channels to default to (set them with 'signpost post edit {post.id}"
                " --channels a,b')"
            )
        channel_names = post.channels
    names = list(dict.fromkeys(n.strip() for n in channel_names if n.strip()))
    if not names:
        raise UserError("--channels: name at least one channel (see 'signpost channels list')")
    require_publishing(names, channels)
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
    _refuse_second_schedule(session, post, names, dues, campaign, again)
    created = []
    for due in dues:
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
    for due in dues:
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
                    if d.due == due
                ],
                "due": due.isoformat(),
                "expires": expires.isoformat() if expires else None,
                "again": again,
            },
        )
    return created


def check_due(due: datetime, now: datetime, campaign: Campaign, option: str) -> None:
    """Refuse a time in the past or outside the campaign's start and end days (its zone)."""
    if due <= now:
        raise UserError(f"{option} {due.isoformat()} is in the past (now {now.isoformat()})")
    day = due.astimezone(ZoneInfo(campaign.tz)).date()
    if campaign.starts and day < campaign.starts:
        raise UserError(
            f"{option} {due.isoformat()} is before campaign '{campaign.slug}' starts"
            f" ({campaign.starts.isoformat()}); change it with 'signpost campaign edit'"
        )
    if campaign.ends and day > campaign.ends:
        raise UserError(
            f"{option} {due.isoformat()} is after campaign '{campaign.slug}' ends"
            f" ({campaign.ends.isoformat()}); change it with 'signpost campaign edit'"
        )


def _refuse_second_schedule(
    session: Session,
    post: Post,
    names: Sequence[str],
    dues: Sequence[datetime],
    campaign: Campaign,
    again: bool,
) -> None:
    """Refuse a slip that would send the post twice to one channel."""
    existing = session.exec(
        select(Delivery)
        .where(
            Delivery.post_id == post.id,
            Delivery.channel.in_(list(names)),
            Delivery.state.in_(LIVE),
        )
        .order_by(Delivery.due, Delivery.id)
    ).all()
    same_time = [d for d in existing if d.due in set(dues)]
    if same_time:
        d = same_time[0]
        raise UserError(
            f"post {post.id} is already scheduled for {d.channel} at {d.due.isoformat()}"
            f" (delivery {d.id}, {d.state})"
        )
    if existing and not again:
        d = existing[0]
        zone = ZoneInfo(campaign.tz)
        raise UserError(
            f"post {post.id} already has delivery {d.id} on {d.channel} ({d.state}, due"
            f" {d.due.astimezone(zone).strftime('%Y-%m-%d %H:%M %Z')}): move it with"
            f" 'signpost deliveries reschedule {d.id} --at WHEN', cancel it with"
            f" 'signpost deliveries cancel {d.id}', or give --again to post it twice"
        )


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
    expires = delivery.expires if delivery.expires is None or delivery.expires > due else None
    return _move(session, actor, now, delivery, due, expires, "delivery.retry")


def reschedule(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    delivery: Delivery,
    due: datetime,
    expires: datetime | None = None,
) -> Delivery:
    """Move a waiting, missed or failed delivery to a new time, keeping its key.

    Not an uncertain one: it may already be out, and a person settles that first
    (``deliveries resolve``). The delivery's expiry stays unless ``expires`` replaces it;
    a new time at or after it is refused rather than silently dropping the expiry.
    """
    actor.require(OPERATOR_ROLES, "reschedule deliveries")
    if delivery.post_id is None:
        raise PolicyRefused(f"delivery {delivery.id} is a notification; use 'deliveries retry'")
    if delivery.state not in RESCHEDULABLE:
        hint = (
            f" (settle it first: signpost deliveries resolve {delivery.id})"
            if delivery.state == DeliveryState.uncertain
            else ""
        )
        raise PolicyRefused(
            f"delivery {delivery.id} is {delivery.state}; only pending, held, missed or failed"
            f" deliveries can be rescheduled{hint}"
        )
    campaign = session.get(Campaign, session.get(Post, delivery.post_id).campaign_id)
    check_due(due, now, campaign, "--at")
    until = expires or delivery.expires
    if until is not None and until <= due:
        raise UserError(
            f"--at {due.isoformat()} is not before delivery {delivery.id}'s expiry"
            f" {until.isoformat()}: give a later --expires too"
        )
    return _move(session, actor, now, delivery, due, until, "delivery.reschedule")


def _move(
    session: Session,
    actor: Actor,
    now: datetime,
    delivery: Delivery,
    due: datetime,
    expires: datetime | None,
    action: str,
) -> Delivery:
    """Give a delivery a fresh start at ``due`` (same key), held until it is ready."""
    before, was_due = delivery.state, delivery.due
    delivery.state = DeliveryState.held
    delivery.due = due
    delivery.expires = expires
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
        action=action,
        subject=f"delivery:{delivery.id}",
        details={
            "from": before,
            "was_due": was_due.isoformat(),
            "due": due.isoformat(),
            "expires": expires.isoformat() if expires else None,
            "key": delivery.idempotency_key,
            "last_error": delivery.last_error,
        },
    )
    if delivery.post_id is None:  # a notification is always ready
        delivery.state = DeliveryState.pending
        session.add(delivery)
        session.flush()
    else:
        holds.refresh(session, now, actor.name, [delivery.post_id])
    session.refresh(delivery)
    return delivery


def cancel(
    session: Session, actor: Actor, now: datetime, *, delivery: Delivery, reason: str | None
) -> Delivery:
    """Cancel one delivery that has not been claimed (pending, held or waiting to retry).

    The UPDATE is guarded by the state, so a daemon that claimed it a moment earlier wins
    and the cancel is refused: a send in flight cannot be called back.
    """
    actor.require(OPERATOR_ROLES, "cancel deliveries")
    before = delivery.state
    taken = session.exec(
        sa.update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.state.in_(CANCELLABLE))
        .values(state=DeliveryState.cancelled, next_attempt=None, updated=now)
    ).rowcount
    if taken != 1:
        raise PolicyRefused(
            f"delivery {delivery.id} is {before}; only pending, held or retry_wait deliveries"
            " can be cancelled"
            + (" (it is going out now)" if before == DeliveryState.sending else "")
        )
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="delivery.cancel",
        subject=f"delivery:{delivery.id}",
        details={"from": before, "channel": delivery.channel, "reason": reason},
    )
    holds.settle_post(session, now, actor.name, delivery.post_id)
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
    again: bool = False,
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
            dues=[free],
            expires=None,
            channel_names=[name],
            channels=channels,
            again=again,
        )
    return created
