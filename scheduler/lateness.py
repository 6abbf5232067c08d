"""Lateness: what came too late to start, or past its expiry, never goes out by surprise.

One rule (docs/delivery.md): an attempt may start at most ``[daemon] grace`` after the time
it was meant to start — its due time for the first attempt, its ``next_attempt`` for a
retry — else the delivery is ``missed``. One past its expiry is ``missed`` if it never
started and ``failed`` if it did (it was retrying; a person decides what now). One waiting
to resend after an unknown outcome may already be out, so it ends ``uncertain`` either way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from posts import holds, lifecycle, notices
from posts.models import Delivery, DeliveryState
from posts.notices import NotifyPolicy
from scheduler.config import DaemonSettings
from scheduler.outcomes import EARLIER_UNKNOWN, Report

log = logging.getLogger("signpost.delivery")


def sweep(
    session: Session, now: datetime, settings: DaemonSettings, owner: str, notify: NotifyPolicy
) -> Report:
    """Deliveries too late to start, or past expiry: missed (or failed, once started)."""
    cutoff = now - settings.grace
    scheduled = sa.func.coalesce(Delivery.next_attempt, Delivery.due)
    # Each query can use an index: (state, due) and (state, expires); next_attempt is
    # never before due, so "due < cutoff" bounds the late ones.
    late = list(
        session.exec(
            select(Delivery.id, Delivery.attempts, Delivery.expires).where(
                Delivery.state.in_(holds.WAITING), Delivery.due < cutoff, scheduled < cutoff
            )
        ).all()
    )
    expired = list(
        session.exec(
            select(Delivery.id, Delivery.attempts, Delivery.expires).where(
                Delivery.state.in_(holds.WAITING),
                Delivery.expires.is_not(None),
                Delivery.expires <= now,
            )
        ).all()
    )
    rows = {row.id: row for row in late}
    rows.update({row.id: row for row in expired})
    report = Report()
    for row in sorted(rows.values(), key=lambda r: r.id):
        report.add(
            _too_late(
                session, now, settings, owner, notify, row.id, row.attempts, _aware(row.expires)
            )
        )
    return report


def _too_late(
    session: Session,
    now: datetime,
    settings: DaemonSettings,
    owner: str,
    notify: NotifyPolicy,
    delivery_id: int,
    attempts: int,
    expires: datetime | None,
) -> Report:
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    expired = expires is not None and expires <= now
    reason = (
        f"past its expiry {expires.isoformat(timespec='minutes')}"
        if expired
        else f"more than {_words(settings.grace)} late"
    )
    earlier = delivery.last_error
    if earlier and earlier.startswith(("missed: ", "failed: ", "uncertain: ")):
        earlier = earlier.partition("; last error: ")[2] or None
    gave_up = expired and attempts > 0
    unsure = delivery.unsure_since is not None
    target = (
        DeliveryState.uncertain
        if unsure
        else DeliveryState.failed
        if gave_up
        else DeliveryState.missed
    )
    word = target.value
    if unsure:
        error = (
            f"uncertain: {reason}, and {EARLIER_UNKNOWN}: check {delivery.channel}, then"
            f" signpost deliveries resolve {delivery_id} --sent URL (or --not-sent)"
        )
    else:
        error = f"{word}: {reason}, not sent (retry with: signpost deliveries retry {delivery_id})"
    error += f"; last error: {earlier}" if earlier else ""
    moved = lifecycle.move(
        session,
        now,
        owner,
        [delivery_id],
        sources=(
            (DeliveryState.retry_wait, DeliveryState.held)
            if unsure
            else (DeliveryState.retry_wait,)
            if gave_up
            else holds.WAITING
        ),
        target=target,
        action=f"delivery.{word}",
        details={
            "channel": delivery.channel,
            "due": _aware(delivery.due).isoformat(),
            "reason": reason,
            "last_error": delivery.last_error,
        },
        values={"next_attempt": None, "last_error": error},
    )
    if not moved:
        return Report()
    holds.settle_post(session, now, owner, delivery.post_id)
    if delivery.post_id is not None:  # a notice that is missed does not notify
        notices.notify(
            session,
            now,
            notify,
            f"delivery_{word}",
            f"Delivery {delivery_id} of post {delivery.post_id} to {delivery.channel} was"
            f" {word} ({reason}); it will not go out late. To send it anyway:"
            f" signpost deliveries retry {delivery_id}"
            if not unsure
            else f"Delivery {delivery_id} of post {delivery.post_id} to {delivery.channel} is"
            f" {word}: {error}",
            owner,
        )
    log.warning("delivery %s to %s %s: %s", delivery_id, delivery.channel, word, reason)
    if unsure:
        return Report(uncertain=1)
    return Report(failed=1) if gave_up else Report(missed=1)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _words(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
