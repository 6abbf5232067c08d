"""Notifications to the team (``[notify]``): approval requested, a delivery failed, missed
or uncertain, a daemon stopped.

A notification is a delivery without a post: it is created in the same transaction as the
event it reports, then claimed, sent and audited by the engine like any post, exactly once,
through the configured channel's adapter. It never blocks publishing: it is a separate
delivery, and a notification that fails does not itself notify (no loops).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from posts import audit
from posts.models import Delivery, DeliveryState, new_key

EVENTS = (
    "approval_requested",
    "delivery_failed",
    "delivery_missed",
    "delivery_uncertain",
    "daemon_stopped",
)


@dataclass(frozen=True)
class NotifyPolicy:
    """Where notifications go (None: nowhere), which events are wanted, and the review
    page's address (``[web] base_url``), so an approver at a partner organisation, who has no
    shell on the server, can follow a link instead of a command."""

    channel: str | None = None
    events: frozenset[str] = field(default_factory=lambda: frozenset(EVENTS))
    base_url: str | None = None

    def wants(self, event: str) -> bool:
        return self.channel is not None and event in self.events

    def where(self, path: str, command: str) -> str:
        """The page at ``path`` when there is a review page, else the CLI ``command``."""
        if self.base_url:
            return f"{self.base_url.rstrip('/')}{path}"
        return command


def notify(
    session: Session,
    now: datetime,
    policy: NotifyPolicy | None,
    event: str,
    text: str,
    actor: str,
) -> Delivery | None:
    """Queue one notification in the caller's transaction, if ``policy`` wants ``event``."""
    if policy is None or not policy.wants(event):
        return None
    notice = Delivery(
        post_id=None,
        notice=text,
        event=event,
        channel=policy.channel,
        due=now,
        state=DeliveryState.pending,
        idempotency_key=new_key(),
        created=now,
        updated=now,
    )
    session.add(notice)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor,
        action="notice.queue",
        subject=f"delivery:{notice.id}",
        details={"event": event, "channel": policy.channel, "text": text},
    )
    return notice


def approval_requested(
    session: Session, now: datetime, policy: NotifyPolicy | None, text: str, actor: str
) -> Delivery | None:
    """Tell the approvers that posts await them (``approval_requested``).

    The one path for it: ``post submit`` (a post) and an import with ``--submit`` (a whole
    file) both come here, so the event is named, filtered and audited the same way.
    """
    return notify(session, now, policy, "approval_requested", text, actor)
