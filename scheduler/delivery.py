"""The delivery engine: claim → (prepare → record) → publish → record, exactly once.

1. **Claim** (scheduler/claims.py): due, ready deliveries move to ``sending`` with a lease.
2. **Prepare** where the channel has a safe first step (DESIGN §9.4): its id is stored on
   the delivery before the irreversible call, so an unknown outcome can ask for it.
3. **Publish** outside any transaction, each send in a worker thread with a hard deadline
   for all its requests; while sends run, their leases are renewed, so a lease only runs
   out when its daemon stopped (and only then may another daemon take it over).
4. **Record** (scheduler/outcomes.py) each outcome as its send completes, with the others
   that completed meanwhile, in one transaction, while we still hold the lease.

Whatever an adapter raises becomes an outcome: its ``ChannelError``, or, for anything else
(a bug), an unknown outcome logged with its traceback — never a lost batch. An unknown
outcome is retried with the same key only where the channel deduplicates on it; otherwise
the channel is asked, bounded to posts made since the claim; otherwise the delivery is
``uncertain`` for a person. Nothing is ever blindly resent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel import Session

from channels.base import (
    Channel,
    ChannelError,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    TransientError,
)
from posts.notices import NotifyPolicy
from posts.store import DatabaseUnreachable, Store
from scheduler import claims, lateness
from scheduler.claims import CLAIMABLE, Claim
from scheduler.clock import Clock
from scheduler.config import DaemonSettings
from scheduler.outcomes import Outcomes, Report, backoff

__all__ = ["CLAIMABLE", "Claim", "Engine", "Report", "backoff"]

log = logging.getLogger("signpost.delivery")

KNOWN_OUTCOMES = (Receipt, TransientError, PermanentError)  # recorded without asking again
#: seconds a send's outcome may wait for others to be recorded in the same transaction
GATHER_S = 0.05
Outcome = Receipt | ChannelError


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
    monotonic: Callable[[], float] = time.monotonic
    _held_back: list[tuple[Claim, Outcome]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.outcomes = Outcomes(
            settings=self.settings,
            owner=self.owner,
            notify=self.notify,
            rng=self.rng,
        )

    # --- one pass -----------------------------------------------------------------------

    def tick(self) -> Report:
        """Record what is held back, take over dead claims, send what is due, sweep the late.

        Sending comes before the sweep so a wake-up at the due time is not delayed by it;
        the claim itself never takes a delivery that is too late or expired.
        """
        report = Report()
        report.add(self.record_held_back())  # before our own leases could look dead
        report.add(self.reconcile_expired())
        report.add(self.run_due())
        report.add(self.mark_missed())
        return report

    def claim_due(self, limit: int) -> list[Claim]:
        """Take the lease on up to ``limit`` due, ready deliveries (one transaction)."""
        with self.store.transaction(concurrent=True) as session:
            return claims.claim_due(
                session, self.clock.now(), self.settings, self.owner, self.channels, limit
            )

    def run_due(self, batch: int | None = None) -> Report:
        """Claim and send due deliveries, recording each outcome as its send completes."""
        report = Report()
        # Claim no more than can be sent at once: a claim not yet sent when a daemon dies
        # would count as a maybe-sent one (uncertain on channels that cannot be asked).
        size = batch or self.workers
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="send") as pool:
            while not self.stopping.is_set() and (taken := self.claim_due(size)):
                report.add(self._send_all(pool, taken))
        return report

    def _send_all(self, pool: ThreadPoolExecutor, taken: list[Claim]) -> Report:
        """Send ``taken`` in parallel; record outcomes as they come, renewing the leases.

        An outcome waits up to ``GATHER_S`` for the others to share its transaction: in a
        burst the fixed cost of a transaction (begin, the chain head, settling, commit) is
        then paid once for the whole batch. (The next claim waits for the whole batch in
        any case, so gathering delays nothing but the record of an outcome already known.)
        """
        report = Report()
        running: dict[Future[tuple[Claim, Outcome]], Claim] = {
            pool.submit(self._publish, c): c for c in taken
        }
        leases = _Leases(self, running, self.settings.lease.total_seconds() / 4)
        gathered: list[tuple[Claim, Outcome]] = []  # ended, waiting to be recorded together
        gather_until = 0.0
        away: DatabaseUnreachable | None = None
        while running:
            # never wait past the next renewal, whatever is being gathered
            timeout = leases.due_in()
            if gathered:
                timeout = min(timeout, max(0.0, gather_until - self.monotonic()))
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                if not gathered:
                    gather_until = self.monotonic() + GATHER_S
                gathered.append(future.result())
            if away is not None:
                continue  # keep every answer; they are recorded when the database is back
            try:
                leases.renew_if_due()
                if gathered and (not running or self.monotonic() >= gather_until):
                    self._held_back += gathered
                    gathered = []
                    # lookups of unknown outcomes can take a send deadline each: the leases
                    # of the sends still running are renewed between them
                    report.add(self.record_held_back(between=leases.renew_if_due))
            except DatabaseUnreachable as exc:
                away = exc
        self._held_back += gathered
        if away is not None:
            raise away
        return report

    def _renew(self, ids: list[int]) -> None:
        """Extend the leases of sends in flight (a lapse while the database is away is safe:
        whoever takes a lapsed claim over settles it as an unknown outcome)."""
        with self.store.transaction(concurrent=True) as session:
            claims.renew(session, self.clock.now(), self.settings, self.owner, ids)

    def record_held_back(self, between: Callable[[], None] | None = None) -> Report:
        """Record the outcomes of sends already made, keeping them if the database is away.

        A daemon that lost its database mid-batch still knows what the channels said; it
        records that when the database is back, instead of leaving the deliveries to be
        settled as unknown outcomes (``uncertain`` on channels that cannot be asked).
        ``between`` runs before each unknown outcome is settled (a lookup may be slow).
        """
        report = Report()
        known = [(c, o) for c, o in self._held_back if isinstance(o, KNOWN_OUTCOMES)]
        if known:
            receipts = [(c, o) for c, o in known if isinstance(o, Receipt)]
            with self._recording() as (session, now):
                for (claim, receipt), sent in zip(
                    receipts, self.outcomes.sent_all(session, now, receipts), strict=True
                ):
                    self._observe(claim, receipt, sent, now)
                    report.add(sent)
                for claim, outcome in known:
                    if not isinstance(outcome, Receipt):
                        report.add(self._record_known(session, now, claim, outcome))
            self._held_back = [(c, o) for c, o in self._held_back if (c, o) not in known]
        while self._held_back:  # unknown ones may ask the channel first, one at a time
            if between is not None:
                between()
            claim, outcome = self._held_back[0]
            report.add(self.record(claim, outcome))
            self._held_back.pop(0)
        return report

    # --- publish --------------------------------------------------------------------------

    def send(self, claim: Claim) -> Report:
        """Publish one claimed delivery and record what happened."""
        return self.record(*self._publish(claim))

    def publish(self, claim: Claim) -> Outcome:
        """Only the network (and storing a prepared id): the receipt, or an error as an outcome."""
        return self._publish(claim)[1]

    def _publish(self, claim: Claim) -> tuple[Claim, Outcome]:
        """The outcome, with the claim as sent (its prepared id, for reconciling an unknown).

        Never raises: a ``ChannelError`` is the channel's answer; anything else is a bug in
        an adapter, and since the request may have gone out, it is an unknown outcome.
        """
        channel = self.channels.get(claim.channel)
        if channel is None:
            return claim, PermanentError(f"channel {claim.channel} is no longer configured")
        if claim.unsure_since is not None and not self._key_still_deduplicated(channel, claim):
            # a same-key resend is safe only inside the window: ask first (record does)
            return claim, OutcomeUnknown(
                f"{claim.channel}: an earlier send's outcome is unknown and its key is past"
                " the channel's deduplication window"
            )
        message = replace(claim.message, deadline=self._deadline())
        try:
            if message.prepared is None and (prepared := _prepare(channel, message)):
                with self.store.transaction(concurrent=True) as session:
                    if not claims.record_prepared(session, self.owner, claim.delivery_id, prepared):
                        return claim, PermanentError(f"{claim.channel}: lease lost, not sent")
                message = replace(message, prepared=prepared)
                claim = replace(claim, message=replace(claim.message, prepared=prepared))
            return claim, channel.publish(message)
        except ChannelError as exc:
            return claim, exc
        except DatabaseUnreachable as exc:  # storing the prepared id, before publishing
            return claim, TransientError(f"{claim.channel}: not sent, {exc}")
        except Exception as exc:  # every failure must become an outcome (log.exception)
            log.exception("delivery %s: %s raised a bug", claim.delivery_id, claim.channel)
            why = f"{claim.channel}: unexpected {type(exc).__name__} while sending"
            return claim, OutcomeUnknown(why)

    # --- record ---------------------------------------------------------------------------

    @contextmanager
    def _recording(self) -> Iterator[tuple[Session, datetime]]:
        """One transaction for outcomes, settling each post they touched once at the end."""
        with self.store.transaction(concurrent=True) as session:
            now = self.clock.now()
            try:
                yield session, now
                self.outcomes.settle_posts(session, now)
            finally:
                self.outcomes.settled.clear()

    def _record_known(
        self, session: Session, now: datetime, claim: Claim, outcome: Outcome
    ) -> Report:
        if isinstance(outcome, Receipt):
            report = self.outcomes.sent(session, now, claim, outcome)
        elif isinstance(outcome, TransientError):
            report = self.outcomes.transient(session, now, claim, str(outcome), outcome.retry_after)
        else:
            report = self.outcomes.failed(session, now, claim, str(outcome))
        self._observe(claim, outcome, report, now)
        return report

    def _observe(self, claim: Claim, outcome: Outcome, report: Report, now: datetime) -> None:
        """Tell the daemon's metrics what was recorded (nothing when the lease was lost)."""
        if report.sent and self.on_sent and isinstance(outcome, Receipt):
            self.on_sent(claim, outcome, now)
        kind = "transient" if report.retrying else "permanent" if report.failed else "unknown"
        if (report.retrying or report.failed or report.uncertain) and self.on_error:
            self.on_error(claim, kind)

    def record(self, claim: Claim, outcome: Outcome) -> Report:
        """Write what ``publish`` returned (asking the channel first if it is unknown)."""
        if isinstance(outcome, KNOWN_OUTCOMES):
            with self._recording() as (session, now):
                return self._record_known(session, now, claim, outcome)
        channel = self.channels.get(claim.channel)
        if channel is None:
            return self._uncertain(claim, f"{outcome}; channel {claim.channel} is gone")
        return self._settle_unknown(claim, channel, str(outcome))

    def _uncertain(self, claim: Claim, reason: str) -> Report:
        with self._recording() as (session, now):
            report = self.outcomes.uncertain(session, now, claim, reason)
        self._observe(claim, OutcomeUnknown(reason), report, now)
        return report

    def _settle_unknown(self, claim: Claim, channel: Channel, reason: str) -> Report:
        """The send may or may not have landed: same key, ask the channel, or a person."""
        if self._key_still_deduplicated(channel, claim):
            return self.record(
                replace(claim, unsure_since=claim.claimed_at),
                TransientError(
                    f"{reason}; resending with the same key ({claim.channel} deduplicates)", 0.0
                ),
            )
        # A lookup runs where leases are renewed: its own deadline keeps it from starving them.
        asking = replace(claim.message, deadline=self._deadline())
        try:
            found = channel.lookup(asking)
        except ChannelError as exc:
            return self._uncertain(claim, f"{reason}; {exc}")
        except Exception as exc:
            log.exception("delivery %s: %s lookup raised a bug", claim.delivery_id, claim.channel)
            return self._uncertain(claim, f"{reason}; the lookup failed ({type(exc).__name__})")
        if found is not None:
            return self.record(claim, found)
        return self.record(
            replace(claim, unsure_since=None),
            TransientError(f"{reason}; {claim.channel} confirms it was not sent", 0.0),
        )

    def _deadline(self) -> float:
        """When a send (or a lookup) begun now must be over, on the monotonic clock."""
        return self.monotonic() + self.settings.send_deadline.total_seconds()

    def _key_still_deduplicated(self, channel: Channel, claim: Claim) -> bool:
        """Whether the channel would still drop a resend under the claim's key."""
        window = getattr(channel, "dedup_window", None)
        return channel.deduplicates and (
            window is None or self.clock.now() - claim.claimed_at < window
        )

    # --- housekeeping -----------------------------------------------------------------------

    def reconcile_expired(self) -> Report:
        """Take over claims whose daemon stopped renewing them; settle them as unknown."""
        with self.store.transaction() as session:
            dead = claims.take_over(
                session, self.clock.now(), self.settings, self.owner, self.channels
            )
        report = Report(reconciled=len(dead))
        for claim in dead:
            report.add(self.record(claim, OutcomeUnknown("daemon died mid-send")))
        return report

    def mark_missed(self) -> Report:
        """Deliveries too late to start, or past expiry: never sent late by surprise."""
        with self.store.transaction() as session:
            return lateness.sweep(session, self.clock.now(), self.settings, self.owner, self.notify)


@dataclass
class _Leases:
    """The leases of one batch's sends still running, renewed every quarter of a lease.

    Renewed when that much time has passed, not at every completed send (in a burst that
    was one more transaction for every outcome), and never waited past: the longest gap
    between renewals is a quarter lease plus one lookup's deadline.
    """

    engine: Engine
    running: Mapping[Future[tuple[Claim, Outcome]], Claim]
    every: float
    next_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_at = self.engine.monotonic() + self.every  # the claim set the leases

    def due_in(self) -> float:
        """Seconds until the next renewal is due (0 if it is)."""
        return max(0.0, self.next_at - self.engine.monotonic())

    def renew_if_due(self) -> None:
        if self.running and self.engine.monotonic() >= self.next_at:
            self.engine._renew([c.delivery_id for c in self.running.values()])
            self.next_at = self.engine.monotonic() + self.every


def _prepare(channel: Channel, message: object) -> str | None:
    """The channel's safe first step, where it has one."""
    prepare = getattr(channel, "prepare", None)
    return prepare(message) if prepare is not None else None
