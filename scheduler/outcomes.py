"""Outcomes: writing what a send came to, and sweeping what came too late.

Every write is a guarded move of ``posts/lifecycle.py``: an outcome is recorded only while
this daemon still holds the claim's lease (``lease_owner`` is us, state ``sending``), with
its audit event, in the caller's transaction; a lease another daemon took over means the
outcome is dropped with a warning (that daemon settles it).

A delivery that keeps failing retries until ``max_attempts``, then it is ``failed``; what
comes too late is swept by scheduler/lateness.py. One with an unknown outcome behind it
(``claim.unsure_since``: an earlier send may have landed) is never called ``failed``: it
ends ``uncertain`` for a person to check.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from channels.base import Receipt
from posts import holds, lifecycle, notices
from posts.models import Delivery, DeliveryState
from posts.notices import NotifyPolicy
from scheduler.claims import Claim
from scheduler.config import DaemonSettings

log = logging.getLogger("signpost.delivery")
JITTER = 0.10  # at most 10 % added to any wait
SENDING = (DeliveryState.sending,)
EARLIER_UNKNOWN = "an earlier send's outcome is unknown, it may have gone out"


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


def retry_span(settings: DaemonSettings) -> timedelta:
    """How long a delivery that keeps failing goes on retrying when servers name no delay."""
    return settings.retry_base * (2 ** max(0, settings.max_attempts - 1) - 1)


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
class Outcomes:
    """Writes outcomes for one daemon (``owner``)."""

    settings: DaemonSettings
    owner: str
    notify: NotifyPolicy
    rng: random.Random
    settled: set[int | None] = field(default_factory=set)  # posts to settle at commit

    def _finish(
        self,
        session: Session,
        now: datetime,
        claim: Claim,
        target: DeliveryState,
        values: dict[str, Any],
        details: dict[str, Any],
        notice: tuple[str, str] | None = None,
    ) -> bool:
        """Move our claim to ``target``; False if another daemon took the lease over."""
        table = Delivery.__table__
        moved = lifecycle.move(
            session,
            now,
            self.owner,
            [claim.delivery_id],
            sources=SENDING,
            target=target,
            action=f"delivery.{target.value}",
            details={"channel": claim.channel, "attempt": claim.attempts, **details},
            guard=table.c.lease_owner == self.owner,
            values={"lease_owner": None, "lease_expires": None, **values},
        )
        if not moved:
            _lost(claim, target)
            return False
        self.settled.add(claim.post_id)
        if notice is not None and claim.post_id is not None:  # notices never notify
            notices.notify(session, now, self.notify, *notice, self.owner)
        return True

    def settle_posts(self, session: Session, now: datetime) -> None:
        """Mark each post touched by this transaction's outcomes published, once."""
        holds.settle_posts(session, now, self.owner, self.settled)
        self.settled.clear()

    def sent(self, session: Session, now: datetime, claim: Claim, receipt: Receipt) -> Report:
        (report,) = self.sent_all(session, now, [(claim, receipt)])
        return report

    def sent_all(
        self, session: Session, now: datetime, receipts: Sequence[tuple[Claim, Receipt]]
    ) -> list[Report]:
        """Record receipts, each with its audit event, in two statements whatever their
        number (``lifecycle.move_each``): a burst records a whole batch at once."""
        by_id = {claim.delivery_id: (claim, receipt) for claim, receipt in receipts}
        late = {i: (now - claim.due).total_seconds() for i, (claim, _) in by_id.items()}
        moved = set(
            lifecycle.move_each(
                session,
                now,
                self.owner,
                {
                    i: {
                        "remote_id": receipt.remote_id,
                        "remote_url": receipt.remote_url,
                        "last_error": None,
                        "next_attempt": None,
                        "unsure_since": None,
                        "lease_owner": None,
                        "lease_expires": None,
                    }
                    for i, (_, receipt) in by_id.items()
                },
                source=DeliveryState.sending,
                target=DeliveryState.sent,
                action="delivery.sent",
                details=lambda i: {
                    "channel": by_id[i][0].channel,
                    "attempt": by_id[i][0].attempts,
                    "remote_id": by_id[i][1].remote_id,
                    "remote_url": by_id[i][1].remote_url,
                    "content_hash": by_id[i][0].content_hash,
                    "late_seconds": round(late[i], 3),
                },
                leased_by=self.owner,
            )
        )
        reports = []
        for claim, receipt in receipts:
            if claim.delivery_id not in moved:
                _lost(claim, DeliveryState.sent)
                reports.append(Report(lost_lease=1))
                continue
            self.settled.add(claim.post_id)
            log.info(
                "delivery %s sent to %s (post %s, %.3fs after due)%s",
                claim.delivery_id,
                claim.channel,
                claim.post_id,
                late[claim.delivery_id],
                f": {receipt.remote_url}" if receipt.remote_url else "",
            )
            reports.append(Report(sent=1))
        return reports

    def transient(
        self, session: Session, now: datetime, claim: Claim, error: str, retry_after: float | None
    ) -> Report:
        if claim.attempts >= self.settings.max_attempts:
            return self.failed(
                session, now, claim, f"{error} (gave up after {claim.attempts} attempts)"
            )
        wait = backoff(claim.attempts, self.settings.retry_base, retry_after, self.rng)
        when = now + wait
        ok = self._finish(
            session,
            now,
            claim,
            DeliveryState.retry_wait,
            {"next_attempt": when, "last_error": error, "unsure_since": claim.unsure_since},
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
        return Report(retrying=1) if ok else Report(lost_lease=1)

    def failed(self, session: Session, now: datetime, claim: Claim, error: str) -> Report:
        if claim.unsure_since is not None:
            return self.uncertain(session, now, claim, f"{error}; {EARLIER_UNKNOWN}")
        ok = self._finish(
            session,
            now,
            claim,
            DeliveryState.failed,
            {"last_error": error},
            {"error": error},
            notice=(
                "delivery_failed",
                f"Delivery {claim.delivery_id} of post {claim.post_id} to {claim.channel}"
                f" failed: {error}. Fix it, then: signpost deliveries retry {claim.delivery_id}",
            ),
        )
        if ok:
            log.error("delivery %s to %s failed: %s", claim.delivery_id, claim.channel, error)
        return Report(failed=1) if ok else Report(lost_lease=1)

    def uncertain(self, session: Session, now: datetime, claim: Claim, error: str) -> Report:
        ok = self._finish(
            session,
            now,
            claim,
            DeliveryState.uncertain,
            {"last_error": error},
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
        return Report(uncertain=1) if ok else Report(lost_lease=1)


def _lost(claim: Claim, target: DeliveryState) -> None:
    """Say that another daemon took the lease over first (it settles the delivery)."""
    log.warning("delivery %s: lease lost before recording %s", claim.delivery_id, target)
