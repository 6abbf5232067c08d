"""The delivery engine: claim → publish → record, exactly once.

1. **Claim** (one transaction): a conditional UPDATE moves due, ready deliveries
   (``posts.holds.ready_clause``: approved hash matches, nothing paused) from ``pending`` or
   ``retry_wait`` to ``sending`` with a lease, so two daemons or two ticks never both hold one.
   The content hash being sent is recorded with the claim.
2. **Publish** outside any transaction, through the channel adapter.
3. **Record** (one transaction): the outcome, its audit event and the post's new state,
   only while we still hold the lease.

An outcome that is unknown (connection lost after sending, or a lease found expired because
a daemon died mid-send) is retried with the same key only where the channel deduplicates on
it; otherwise the adapter is asked whether the post exists; otherwise the delivery becomes
``uncertain`` for a person. Nothing is ever blindly resent, and nothing late is sent by
surprise: past ``[daemon] grace`` or its expiry a delivery is ``missed``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from channels.base import (
    Channel,
    ChannelError,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.outgoing import compose_message
from posts import audit, holds, notices, workflow
from posts.models import Campaign, Delivery, DeliveryState, Post, Revision
from posts.notices import NotifyPolicy
from posts.store import Store
from scheduler.clock import Clock
from scheduler.config import DaemonSettings

log = logging.getLogger("signpost.delivery")

CLAIMABLE = (DeliveryState.pending, DeliveryState.retry_wait)
KNOWN_OUTCOMES = (Receipt, TransientError, PermanentError)  # recorded without asking again
JITTER = 0.10  # at most 10 % added to any wait


def backoff(
    attempts: int, base: timedelta, retry_after: float | None, rng: random.Random
) -> timedelta:
    """How long to wait before the next attempt.

    The server's own delay when it named one, else exponential from ``base`` (base, 2x, 4x
    ...); either way plus up to 10 % jitter so many deliveries do not return in step.
    """
    seconds = (
        retry_after
        if retry_after is not None
        else (base.total_seconds() * 2 ** max(0, attempts - 1))
    )
    return timedelta(seconds=seconds * (1 + rng.uniform(0, JITTER)))


@dataclass(frozen=True)
class Claim:
    """A delivery this engine holds the lease on, with the message to send."""

    delivery_id: int
    post_id: int
    channel: str
    attempts: int
    due: datetime
    message: Message
    content_hash: str
    claimed_at: datetime


@dataclass
class Report:
    """What one pass did, for ``daemon --once``, the demo and tests."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    missed: int = 0
    reconciled: int = 0
    lost_lease: int = 0

    def add(self, other: Report) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Engine:
    """Claims, publishes and records deliveries for one daemon (``owner``)."""

    store: Store
    settings: DaemonSettings
    clock: Clock
    channels: Mapping[str, Channel]
    owner: str
    rng: random.Random = field(default_factory=random.Random)
    workers: int = 8
    on_sent: Callable[[Claim, Receipt, datetime], None] | None = None
    on_error: Callable[[Claim, str], None] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    notify: NotifyPolicy = field(default_factory=NotifyPolicy)
    _batch: Session | None = field(default=None, init=False, repr=False)
    _held_back: list[tuple[Claim, Receipt | ChannelError]] = field(
        default_factory=list, init=False, repr=False
    )
    _to_settle: set[int] = field(default_factory=set, init=False, repr=False)

    # --- one pass -----------------------------------------------------------------------

    def tick(self) -> Report:
        """Reconcile dead claims, send everything due now, then mark the missed.

        Sending comes before the housekeeping so a wake-up at the due time is not delayed by
        it; the claim itself never takes a delivery that is late or expired.
        """
        report = Report()
        report.add(self.record_held_back())  # before our own expired leases look dead
        report.add(self.reconcile_expired())
        report.add(self.run_due())
        report.missed += self.mark_missed()
        return report

    def run_due(self, batch: int | None = None) -> Report:
        """Claim and send due deliveries in batches until none is left."""
        report = Report()
        # Claim no more than can be sent at once: a claim not yet sent when a daemon dies
        # would count as a maybe-sent one (uncertain on channels that cannot be asked).
        size = batch or self.workers
        # Sends run in parallel; their outcomes are written by this one thread, so the
        # workers never queue on the database's write lock.
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="send") as pool:
            while not self.stopping.is_set() and (claims := self.claim_due(size)):
                self._held_back = list(zip(claims, pool.map(self.publish, claims), strict=True))
                report.add(self.record_held_back())
        return report

    def record_held_back(self) -> Report:
        """Record the outcomes of sends already made, keeping them if the database is away.

        A daemon that lost its database mid-batch still knows what the channels said; it
        records that when the database is back, instead of leaving the deliveries to be
        settled as unknown outcomes (``uncertain`` on channels that cannot be asked).
        """
        report = Report()
        if not self._held_back:
            return report
        known = [(c, o) for c, o in self._held_back if isinstance(o, KNOWN_OUTCOMES)]
        with self._one_transaction():
            for claim, outcome in known:
                report.add(self.record(claim, outcome))
        self._held_back = [(c, o) for c, o in self._held_back if (c, o) not in known]
        while self._held_back:  # unknown ones may ask the channel first, one at a time
            claim, outcome = self._held_back[0]
            report.add(self.record(claim, outcome))
            self._held_back.pop(0)
        return report

    # --- claim --------------------------------------------------------------------------

    def claim_due(self, limit: int) -> list[Claim]:
        """Take the lease on up to ``limit`` due, ready deliveries (one transaction)."""
        now = self.clock.now()
        with self.store.transaction() as session:
            due = (
                select(Delivery.id)
                .where(
                    Delivery.state.in_(CLAIMABLE),
                    Delivery.due <= now,  # lets the (state, due) index bound the scan
                    Delivery.due >= now - self.settings.grace,
                    sa.func.coalesce(Delivery.next_attempt, Delivery.due) <= now,
                    sa.or_(Delivery.expires.is_(None), Delivery.expires > now),
                    holds.ready_clause(),
                )
                .order_by(Delivery.due, Delivery.id)
                .limit(limit)
            )
            ids = list(session.exec(due).all())
            if not ids:
                return []
            current_hash = (
                sa.select(Revision.content_hash)
                .join(Post, (Post.id == Revision.post_id) & (Post.revision == Revision.number))
                .where(Post.id == Delivery.post_id)
                .scalar_subquery()
            )
            rows = session.exec(
                sa.update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state.in_(CLAIMABLE))
                .values(
                    sent_hash=current_hash,
                    state=DeliveryState.sending,
                    lease_owner=self.owner,
                    lease_expires=now + self.settings.lease,
                    attempts=Delivery.attempts + 1,
                    updated=now,
                )
                .returning(Delivery.id)
            ).all()
            claims = self._claims(session, [r[0] for r in rows], {r[0]: now for r in rows})
            for claim in claims:
                audit.record(
                    session,
                    now=now,
                    actor=self.owner,
                    action="delivery.claim",
                    subject=f"delivery:{claim.delivery_id}",
                    details={
                        "channel": claim.channel,
                        "attempt": claim.attempts,
                        "content_hash": claim.content_hash,
                    },
                )
        return claims

    def _claims(
        self, session: Session, ids: Iterable[int], claimed_at: Mapping[int, datetime]
    ) -> list[Claim]:
        rows = session.exec(
            select(Delivery, Revision, Campaign)  # outer: a notification has no post
            .outerjoin(Post, Post.id == Delivery.post_id)
            .outerjoin(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
            .outerjoin(Campaign, Campaign.id == Post.campaign_id)
            .where(Delivery.id.in_(list(ids)))
            .order_by(Delivery.due, Delivery.id)
        ).all()
        return [
            Claim(
                delivery_id=d.id,
                post_id=d.post_id,
                channel=d.channel,
                attempts=d.attempts,
                due=d.due,
                content_hash=rev.content_hash if rev is not None else "",
                claimed_at=claimed_at[d.id],
                message=self._message(d, rev, campaign),
            )
            for d, rev, campaign in rows
        ]

    def _message(
        self, delivery: Delivery, revision: Revision | None, campaign: Campaign | None
    ) -> Message:
        """What goes out, made by the one composer that `post preview` shows too."""
        if delivery.notice is not None:
            return Message(
                text=delivery.notice,
                idempotency_key=delivery.idempotency_key,
                title=f"Signpost: {(delivery.event or 'notice').replace('_', ' ')}",
                delivery_id=delivery.id,
            )
        channel = self.channels.get(delivery.channel)
        utm = (
            workflow.campaign_rules(campaign).utm_for(channel.type)
            if channel is not None and delivery.utm
            else {}
        )
        return compose_message(
            delivery.channel,
            channel.type if channel is not None else "",
            text=revision.text,
            variants=revision.variants,
            link=revision.link,
            media=revision.media,
            utm=utm,
            idempotency_key=delivery.idempotency_key,
            campaign=campaign.slug,
            post_id=delivery.post_id,
            delivery_id=delivery.id,
        )

    # --- publish and record ---------------------------------------------------------------

    def send(self, claim: Claim) -> Report:
        """Publish one claimed delivery and record what happened."""
        return self.record(claim, self.publish(claim))

    def publish(self, claim: Claim) -> Receipt | ChannelError:
        """Only the network call: the receipt, or the channel's error (no database work)."""
        channel = self.channels.get(claim.channel)
        if channel is None:
            return PermanentError(f"channel {claim.channel} is no longer configured")
        try:
            return channel.publish(claim.message)
        except ChannelError as exc:
            return exc

    def record(self, claim: Claim, outcome: Receipt | ChannelError) -> Report:
        """Write what ``publish`` returned (asking the channel first if it is unknown)."""
        if isinstance(outcome, Receipt):
            return self._record_sent(claim, outcome)
        if isinstance(outcome, TransientError):
            return self._record_transient(claim, str(outcome), outcome.retry_after)
        if isinstance(outcome, PermanentError):
            return self._record_failed(claim, str(outcome))
        return self._settle_unknown(claim, self.channels[claim.channel], str(outcome))

    def _settle_unknown(self, claim: Claim, channel: Channel, reason: str) -> Report:
        """The send may or may not have landed: same key, ask the channel, or a person."""
        window = getattr(channel, "dedup_window", None)
        fresh = window is None or self.clock.now() - claim.claimed_at < window
        if channel.deduplicates and fresh:
            return self._record_transient(
                claim,
                f"{reason}; resending with the same key ({claim.channel} deduplicates)",
                retry_after=0.0,
            )
        try:
            found = channel.lookup(claim.message)
        except ChannelError as exc:
            return self._record_uncertain(claim, f"{reason}; {exc}")
        if found is not None:
            return self._record_sent(claim, found)
        return self._record_transient(
            claim, f"{reason}; {claim.channel} confirms it was not sent", retry_after=0.0
        )

    @contextmanager
    def _one_transaction(self) -> Iterator[None]:
        """Record a batch of outcomes in one transaction, settling each post once at the end.

        Each outcome still goes with its own audit event; only the commit is shared, which
        is most of the cost of recording (docs/benchmarks.md).
        """
        with self.store.transaction() as session:
            self._batch, self._to_settle = session, set()
            try:
                yield
                now = self.clock.now()
                for post_id in sorted(self._to_settle):
                    holds.settle_post(session, now, self.owner, post_id)
            finally:
                self._batch, self._to_settle = None, set()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if self._batch is not None:
            yield self._batch
        else:
            with self.store.transaction() as session:
                yield session

    def _finish(
        self,
        claim: Claim,
        values: dict[str, Any],
        action: str,
        details: dict[str, Any],
        notice: tuple[str, str] | None = None,
    ) -> bool:
        """Write the outcome if we still hold the lease; False if another daemon took it."""
        now = self.clock.now()
        table = Delivery.__table__  # Core, not the ORM: this runs once per delivery
        with self._session() as session:
            result = session.execute(
                table.update()
                .where(
                    table.c.id == claim.delivery_id,
                    table.c.state == DeliveryState.sending,
                    table.c.lease_owner == self.owner,
                )
                .values(lease_owner=None, lease_expires=None, updated=now, **values)
            )
            if result.rowcount != 1:
                log.warning(
                    "delivery %s: lease lost before recording %s", claim.delivery_id, action
                )
                return False
            audit.record(
                session,
                now=now,
                actor=self.owner,
                action=action,
                subject=f"delivery:{claim.delivery_id}",
                details={"channel": claim.channel, "attempt": claim.attempts, **details},
            )
            if self._batch is None:
                holds.settle_post(session, now, self.owner, claim.post_id)
            else:
                self._to_settle.add(claim.post_id)
            if notice is not None and claim.post_id is not None:  # notices never notify
                notices.notify(session, now, self.notify, *notice, self.owner)
        return True

    def _record_sent(self, claim: Claim, receipt: Receipt) -> Report:
        now = self.clock.now()
        lateness = (now - claim.due).total_seconds()
        ok = self._finish(
            claim,
            {
                "state": DeliveryState.sent,
                "remote_id": receipt.remote_id,
                "remote_url": receipt.remote_url,
                "last_error": None,
                "next_attempt": None,
            },
            "delivery.sent",
            {
                "remote_id": receipt.remote_id,
                "remote_url": receipt.remote_url,
                "content_hash": claim.content_hash,
                "late_seconds": round(lateness, 3),
            },
        )
        if not ok:
            return Report(lost_lease=1)
        log.info(
            "delivery %s sent to %s (post %s, %.3fs after due)%s",
            claim.delivery_id,
            claim.channel,
            claim.post_id,
            lateness,
            f": {receipt.remote_url}" if receipt.remote_url else "",
        )
        if self.on_sent:
            self.on_sent(claim, receipt, now)
        return Report(sent=1)

    def _record_transient(self, claim: Claim, error: str, retry_after: float | None) -> Report:
        if claim.attempts >= self.settings.max_attempts:
            return self._record_failed(claim, f"{error} (gave up after {claim.attempts} attempts)")
        wait = backoff(claim.attempts, self.settings.retry_base, retry_after, self.rng)
        when = self.clock.now() + wait
        ok = self._finish(
            claim,
            {"state": DeliveryState.retry_wait, "next_attempt": when, "last_error": error},
            "delivery.retry_wait",
            {"error": error, "next_attempt": when.isoformat()},
        )
        if ok:
            log.warning(
                "delivery %s to %s: %s; next attempt in %.1fs",
                claim.delivery_id,
                claim.channel,
                error,
                wait.total_seconds(),
            )
            self._error(claim, "transient")
        return Report(retrying=1) if ok else Report(lost_lease=1)

    def _record_failed(self, claim: Claim, error: str) -> Report:
        ok = self._finish(
            claim,
            {"state": DeliveryState.failed, "last_error": error},
            "delivery.failed",
            {"error": error},
            notice=(
                "delivery_failed",
                f"Delivery {claim.delivery_id} of post {claim.post_id} to {claim.channel}"
                f" failed: {error}. Fix it, then: signpost deliveries retry {claim.delivery_id}",
            ),
        )
        if ok:
            log.error("delivery %s to %s failed: %s", claim.delivery_id, claim.channel, error)
            self._error(claim, "permanent")
        return Report(failed=1) if ok else Report(lost_lease=1)

    def _record_uncertain(self, claim: Claim, error: str) -> Report:
        ok = self._finish(
            claim,
            {"state": DeliveryState.uncertain, "last_error": error},
            "delivery.uncertain",
            {"error": error},
            notice=(
                "delivery_uncertain",
                f"Delivery {claim.delivery_id} of post {claim.post_id} to {claim.channel} may"
                f" or may not have gone out ({error}). Check {claim.channel}, then: signpost"
                f" deliveries resolve {claim.delivery_id} --sent URL (or --not-sent)",
            ),
        )
        if ok:
            log.error(
                "delivery %s to %s is uncertain, a person must check: %s",
                claim.delivery_id,
                claim.channel,
                error,
            )
            self._error(claim, "unknown")
        return Report(uncertain=1) if ok else Report(lost_lease=1)

    def _error(self, claim: Claim, kind: str) -> None:
        if self.on_error:
            self.on_error(claim, kind)

    # --- housekeeping -----------------------------------------------------------------------

    def reconcile_expired(self) -> Report:
        """Take over claims whose daemon died mid-send and settle them as unknown outcomes."""
        now = self.clock.now()
        with self.store.transaction() as session:
            dead = dict(
                session.exec(
                    select(Delivery.id, Delivery.lease_expires).where(
                        Delivery.state == DeliveryState.sending, Delivery.lease_expires < now
                    )
                ).all()
            )
            taken = session.exec(
                sa.update(Delivery)
                .where(
                    Delivery.id.in_(list(dead)),
                    Delivery.state == DeliveryState.sending,
                    Delivery.lease_expires < now,
                )
                .values(
                    lease_owner=self.owner, lease_expires=now + self.settings.lease, updated=now
                )
                .returning(Delivery.id)
            ).all()
            ids = [row[0] for row in taken]
            claims = self._claims(
                session, ids, {i: _aware(dead[i]) - self.settings.lease for i in ids}
            )
            for claim in claims:
                audit.record(
                    session,
                    now=now,
                    actor=self.owner,
                    action="delivery.reconcile",
                    subject=f"delivery:{claim.delivery_id}",
                    details={"channel": claim.channel, "reason": "lease expired mid-send"},
                )
        report = Report(reconciled=len(claims))
        for claim in claims:
            channel = self.channels.get(claim.channel)
            if channel is None:
                report.add(
                    self._record_uncertain(
                        claim, f"daemon died mid-send and channel {claim.channel} is gone"
                    )
                )
            else:
                report.add(self._settle_unknown(claim, channel, "daemon died mid-send"))
        return report

    def mark_missed(self) -> int:
        """Deliveries later than the grace period or past expiry: missed, never sent late."""
        now = self.clock.now()
        cutoff = now - self.settings.grace
        returning = (
            Delivery.id,
            Delivery.channel,
            Delivery.due,
            Delivery.expires,
            Delivery.post_id,
            Delivery.last_error,
        )
        with self.store.transaction() as session:
            rows = []
            # Two statements, each able to use an index ((state, due) and (state, expires)),
            # rather than one OR that scans every waiting delivery.
            for late in (
                Delivery.due < cutoff,
                Delivery.expires.is_not(None) & (Delivery.expires <= now),
            ):
                rows += session.exec(
                    sa.update(Delivery)
                    .where(Delivery.state.in_(holds.WAITING), late)
                    .values(state=DeliveryState.missed, updated=now, next_attempt=None)
                    .returning(*returning)
                ).all()
            for delivery_id, channel, due, expires, post_id, last_error in rows:
                expired = expires is not None and _aware(expires) <= now
                reason = (
                    f"past its expiry {_aware(expires).isoformat(timespec='minutes')}"
                    if expired
                    else (f"more than {_words(self.settings.grace)} late")
                )
                # The why goes on the delivery itself, so 'deliveries list' shows it; a
                # transient error from an earlier try stays readable after it (from a
                # previous miss, retried, only the error it carried).
                earlier = last_error
                if earlier and earlier.startswith("missed: "):
                    earlier = earlier.partition("; last error: ")[2] or None
                session.exec(
                    sa.update(Delivery)
                    .where(Delivery.id == delivery_id)
                    .values(
                        last_error=f"missed: {reason}, not sent (retry with: signpost deliveries"
                        f" retry {delivery_id})" + (f"; last error: {earlier}" if earlier else "")
                    )
                )
                audit.record(
                    session,
                    now=now,
                    actor=self.owner,
                    action="delivery.missed",
                    subject=f"delivery:{delivery_id}",
                    details={
                        "channel": channel,
                        "due": _aware(due).isoformat(),
                        "reason": reason,
                        "last_error": last_error,
                    },
                )
                holds.settle_post(session, now, self.owner, post_id)
                if post_id is not None:  # a notice that is missed does not notify
                    notices.notify(
                        session,
                        now,
                        self.notify,
                        "delivery_missed",
                        f"Delivery {delivery_id} of post {post_id} to {channel} was missed"
                        f" ({reason}); it will not go out late. To send it anyway:"
                        f" signpost deliveries retry {delivery_id}",
                        self.owner,
                    )
                log.warning("delivery %s to %s missed: %s", delivery_id, channel, reason)
        return len(rows)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _words(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
