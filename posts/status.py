"""The database as a whole: creating or upgrading it (audited), and what it holds.

``signpost init``, ``signpost status`` and the demo's progress bar read these, and so would a
web page's front page: the counts are queries, and a query kept in a command is one the page
would have to copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, func, select

from posts import audit, deliveries
from posts.holds import ENDED
from posts.models import AuditEvent, Campaign, Delivery, Heartbeat, Post
from posts.store import SCHEMA_REVISION, Store

#: how far ahead ``status`` counts the deliveries due soon
DUE_SOON = timedelta(hours=24)


def initialise(store: Store, actor: str, now: datetime) -> tuple[str | None, str]:
    """Create or upgrade the schema; returns the revisions before and after.

    A change of schema is audited (``database.init``, from and to) in the migration's own
    transaction, so the event is kept only with the upgrade it records.
    """

    def record(session: Session, before: str | None) -> None:
        audit.record(
            session,
            now=now,
            actor=actor,
            action="database.init",
            subject="database",
            details={"from": before, "to": SCHEMA_REVISION},
        )

    return store.migrate(record)


def status(
    session: Session, now: datetime, *, database: str, config: str, channels: Iterable[str]
) -> dict[str, Any]:
    """Counts of posts by state and deliveries by state, active pauses, the newest daemon
    heartbeats and the audit log's length and head, as JSON-ready data."""
    by_state = dict(session.exec(select(Post.state, func.count()).group_by(Post.state)).all())
    campaigns = session.exec(select(func.count()).select_from(Campaign)).one()
    head = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    counts = deliveries.counts(session, now, DUE_SOON)
    beats = session.exec(select(Heartbeat).order_by(Heartbeat.last_beat.desc()).limit(10)).all()
    pauses = deliveries.active_pauses(session)
    return {
        "database": database,
        "config": config,
        "campaigns": campaigns,
        "posts": by_state,
        "deliveries": {k: v for k, v in counts.items() if k != "due_soon"},
        "due_within_24h": counts["due_soon"],
        "paused": [
            {
                "scope": p.scope,
                "target": p.target,
                "by": p.who,
                "reason": p.reason,
                "since": p.since.isoformat(),
            }
            for p in pauses
        ],
        "daemons": [
            {
                "id": b.daemon_id,
                "host": b.host,
                "pid": b.pid,
                "heartbeat_age_seconds": round((now - b.last_beat).total_seconds(), 1),
            }
            for b in beats
        ],
        "audit_events": head.seq if head else 0,
        "audit_head": head.hash if head else None,
        "channels": sorted(channels),
    }


def delivery_progress(session: Session) -> tuple[int, int]:
    """How many deliveries have ended (sent, failed, missed or cancelled), of how many."""
    total = session.exec(select(func.count()).select_from(Delivery)).one()
    ended = session.exec(
        select(func.count()).select_from(Delivery).where(Delivery.state.in_(ENDED))
    ).one()
    return ended, total
