"""SQLModel tables of DESIGN §2 and the state names of §3.

Times are stored in UTC and always come back timezone-aware (:class:`UTCDateTime`), because
SQLite drops the offset and a naive datetime compared with an aware one is a latent bug.
The audit log keeps its time as the exact ISO string that was hashed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A datetime column that refuses naive values and always returns UTC-aware ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_key() -> str:
    """A fresh idempotency key: fixed at creation, unique across databases, no dots."""
    return f"sp-{uuid.uuid4().hex}"


class PostState(StrEnum):
    """A post's life cycle (DESIGN §3)."""

    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"
    published = "published"
    partly_published = "partly_published"


class DeliveryState(StrEnum):
    """A delivery's life cycle (DESIGN §3)."""

    pending = "pending"
    held = "held"
    sending = "sending"
    retry_wait = "retry_wait"
    sent = "sent"
    failed = "failed"
    missed = "missed"
    uncertain = "uncertain"
    cancelled = "cancelled"


class Campaign(SQLModel, table=True):
    """A campaign: its time zone, content rules and optional approval policy override."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True)
    name: str
    tz: str = "Europe/London"
    starts: date | None = None
    ends: date | None = None
    must_include: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    forbidden: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    link_domains: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    approvals_required: int | None = None
    approver_roles: list[str] | None = Field(default=None, sa_type=sa.JSON)
    utm: bool = True  # tag outgoing links (channels/utm.py)
    utm_medium: str | None = None  # default "social"
    utm_campaign: str | None = None  # default the slug
    slots: str | None = None  # queue slots, e.g. "Mon-Fri 09:00,13:00; Sat 10:00"
    created: datetime = Field(sa_type=UTCDateTime)
    created_by: str


class Post(SQLModel, table=True):
    """A post; its words live in its revisions, the newest being ``revision``."""

    __table_args__ = (sa.Index("ix_post_campaign_state", "campaign_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    author: str
    revision: int = 1
    state: str = Field(default=PostState.draft, index=True)
    approved_hash: str | None = None  # content hash that reached the required approvals
    channels: list[str] | None = Field(default=None, sa_type=sa.JSON)  # where it is meant to go
    created: datetime = Field(sa_type=UTCDateTime)
    updated: datetime = Field(sa_type=UTCDateTime)


class Revision(SQLModel, table=True):
    """One immutable version of a post's content; approvals bind to its ``content_hash``."""

    __table_args__ = (sa.UniqueConstraint("post_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id")
    number: int
    author: str
    text: str
    variants: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    link: str | None = None
    media: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    content_hash: str = Field(index=True)
    created: datetime = Field(sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    """A sign-off or rejection of exactly one content hash by one person."""

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    content_hash: str
    approver: str
    decision: str  # "approve" | "reject"
    comment: str | None = None
    time: datetime = Field(sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One post to one channel at one time, with the key that makes sending it idempotent.

    A notification to the team (``[notify]``) is a delivery too, with ``notice`` instead of a
    post, so it goes through the same claim, adapters and audit as everything else.
    """

    __table_args__ = (
        sa.Index("ix_delivery_state_due", "state", "due"),
        sa.Index("ix_delivery_state_expires", "state", "expires"),
        sa.Index("ix_delivery_due", "due"),  # deliveries list, calendars: newest first
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int | None = Field(default=None, foreign_key="post.id", index=True)
    notice: str | None = None  # a notification's text (then post_id is None)
    event: str | None = None  # which event a notification reports
    channel: str
    due: datetime = Field(sa_type=UTCDateTime)
    expires: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state: str = DeliveryState.pending
    attempts: int = 0
    next_attempt: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = None
    lease_expires: datetime | None = Field(default=None, sa_type=UTCDateTime)
    idempotency_key: str = Field(unique=True)
    sent_hash: str | None = None  # content hash of the revision claimed for sending
    prepared: str | None = None  # id of the object prepared before the irreversible call
    claimed: datetime | None = Field(default=None, sa_type=UTCDateTime)  # this attempt began
    # when the earliest send whose outcome is still unknown began (it may have landed): a
    # lookup reaches back to it, and the delivery can no longer end cancelled or failed
    unsure_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    utm: bool = True  # tag its links (off with `post schedule --no-utm`)
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    created: datetime = Field(sa_type=UTCDateTime)
    updated: datetime = Field(sa_type=UTCDateTime)


class Pause(SQLModel, table=True):
    """A pause of everything, one campaign or one channel, until lifted."""

    id: int | None = Field(default=None, primary_key=True)
    scope: str  # "all" | "campaign" | "channel"
    target: str | None = None
    who: str
    reason: str
    since: datetime = Field(sa_type=UTCDateTime)
    lifted: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_by: str | None = None


class AuditEvent(SQLModel, table=True):
    """One link of the hash chain; ``time`` is the exact ISO string that was hashed."""

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True)
    time: str
    actor: str
    action: str = Field(index=True)
    subject: str = Field(index=True)
    details: str  # canonical JSON
    prev_hash: str
    hash: str


class Heartbeat(SQLModel, table=True):
    """The last sign of life of one daemon process."""

    daemon_id: str = Field(primary_key=True)
    host: str
    pid: int
    started: datetime = Field(sa_type=UTCDateTime)
    last_beat: datetime = Field(sa_type=UTCDateTime)
    version: str


class Password(SQLModel, table=True):
    """A user's argon2id password hash for signing in to the web page (never the password)."""

    __tablename__ = "password"

    user: str = Field(primary_key=True)
    hash: str
    updated: datetime = Field(sa_type=UTCDateTime)
