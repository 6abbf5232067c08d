"""Rules for what happens to a delivery once it exists: pausing, cancelling, retrying or
rescheduling on purpose and resolving by hand.

Like ``posts.workflow``, every function takes the caller's session and ``now``, writes each
state change with its audit event, and never commits. Every state change goes through
``posts.lifecycle.move``, the one guarded UPDATE the engine uses too, so a person acting on
a delivery a daemon claimed a moment earlier is refused, never racing it. Creating
deliveries (``schedule``, ``queue``, ``set_slots``, ``check_due``) lives in
``posts.scheduling`` and is re-exported here for callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from posts import audit, holds, lifecycle
from posts.errors import PolicyRefused, UserError
from posts.models import Campaign, Delivery, DeliveryState, Pause, Post
from posts.policy import WRITER_ROLES, Actor
from posts.scheduling import LIVE as LIVE  # re-exported for callers (X as X)
from posts.scheduling import UNSCHEDULABLE, check_due
from posts.scheduling import queue as queue
from posts.scheduling import schedule as schedule
from posts.scheduling import set_slots as set_slots

OPERATOR_ROLES = ("author", "approver", "admin")
RETRYABLE = (DeliveryState.failed, DeliveryState.missed, DeliveryState.uncertain)
CANCELLABLE = holds.WAITING
RESCHEDULABLE = (
    DeliveryState.pending,
    DeliveryState.held,
    DeliveryState.missed,
    DeliveryState.failed,
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
    """Reschedule a failed, missed or uncertain delivery on purpose, with the same key.

    A notification (no post) can be retried too: it goes out as soon as it is due.
    """
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
    return _restart(session, actor, now, delivery, due, expires, RETRYABLE, "delivery.retry")


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
    return _restart(session, actor, now, delivery, due, until, RESCHEDULABLE, "delivery.reschedule")


def _restart(
    session: Session,
    actor: Actor,
    now: datetime,
    delivery: Delivery,
    due: datetime,
    expires: datetime | None,
    sources: Sequence[DeliveryState],
    action: str,
) -> Delivery:
    """Give a delivery a fresh start at ``due`` (same key): held, then released if ready.

    Refused for a delivery of a cancelled post: it could only wait for ever (a cancelled
    post is never ready), and sending it would undo the cancel. Retrying an uncertain one
    is a person's word that it did not go out, so the unknown outcome is forgotten; any
    other restart keeps it (a lookup still reaches back to that send).
    """
    if delivery.post_id is not None:
        post = session.get(Post, delivery.post_id)
        if post.state in UNSCHEDULABLE:
            raise PolicyRefused(
                f"delivery {delivery.id} belongs to post {post.id}, which is {post.state}"
            )
    moved = lifecycle.move(
        session,
        now,
        actor.name,
        [delivery.id],
        sources=sources,
        target=DeliveryState.held,
        action=action,
        details={
            "was_due": delivery.due.isoformat(),
            "due": due.isoformat(),
            "expires": expires.isoformat() if expires else None,
            "key": delivery.idempotency_key,
            "last_error": delivery.last_error,
        },
        values={
            "due": due,
            "expires": expires,
            "attempts": 0,
            "next_attempt": None,
            "lease_owner": None,
            "lease_expires": None,
            **({"unsure_since": None} if delivery.state == DeliveryState.uncertain else {}),
        },
    )
    if not moved:
        _refuse_changed(session, delivery, action)
    holds.refresh(session, now, actor.name, delivery_ids=[delivery.id])
    session.refresh(delivery)
    return delivery


def _refuse_changed(session: Session, delivery: Delivery, action: str) -> None:
    """A guarded move found the delivery in another state than it was read in: say which."""
    was = delivery.state
    session.refresh(delivery)
    raise PolicyRefused(
        f"delivery {delivery.id} changed while you acted ({was} → {delivery.state}):"
        f" {action.removeprefix('delivery.')} not done; see 'signpost deliveries list'"
    )


def cancel(
    session: Session, actor: Actor, now: datetime, *, delivery: Delivery, reason: str | None
) -> Delivery:
    """Cancel one delivery that has not been claimed (pending, held or waiting to retry).

    The move is guarded by the state, so a daemon that claimed it a moment earlier wins
    and the cancel is refused: a send in flight cannot be called back.
    """
    actor.require(OPERATOR_ROLES, "cancel deliveries")
    before = delivery.state
    cancelled, uncertain = lifecycle.withdraw(
        session,
        now,
        actor.name,
        [delivery.id],
        sources=CANCELLABLE,
        details={"channel": delivery.channel, "reason": reason},
    )
    if not cancelled and not uncertain:
        session.refresh(delivery)
        now_state = delivery.state
        raise PolicyRefused(
            f"delivery {delivery.id} is {now_state}; only pending, held or retry_wait"
            " deliveries can be cancelled"
            + (" (it is going out now)" if DeliveryState.sending in (before, now_state) else "")
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
    moved = lifecycle.move(
        session,
        now,
        actor.name,
        [delivery.id],
        sources=[DeliveryState.uncertain],
        target=DeliveryState.sent if sent_url else DeliveryState.failed,
        action="delivery.resolve",
        details={"remote_url": sent_url},
        values={
            "remote_url": sent_url,
            "last_error": None if sent_url else f"not sent (resolved by {actor.name})",
            "unsure_since": None,  # a person settled it
        },
    )
    if not moved:
        _refuse_changed(session, delivery, "delivery.resolve")
    holds.settle_post(session, now, actor.name, delivery.post_id)
    session.refresh(delivery)
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
