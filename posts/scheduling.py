"""Scheduling: when and where a post's deliveries are created (times, series, slots, second
schedules).

Split from ``posts.deliveries`` (which keeps what happens to a delivery once it exists and
re-exports these names for its callers). Like ``posts.workflow``, every function takes the
caller's session and ``now``, writes each change with its audit event, and never commits.
Times arrive as typed (:class:`When`) and are read in the campaign's zone by the caller's
:data:`posts.times.ReadTime`, so the CLI and a web page schedule the same series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from posts import audit, holds
from posts.campaigns import campaign_rules
from posts.checks import require_publishing
from posts.errors import PolicyRefused, UserError
from posts.models import Campaign, Delivery, DeliveryState, Post, PostState, new_key
from posts.policy import WRITER_ROLES, Actor
from posts.revisions import content_of, current_revision
from posts.rules import ChannelLike, check
from posts.times import ReadTime, local_to_utc

UNSCHEDULABLE = (PostState.cancelled,)
#: a delivery in one of these states is, or will be, a post on its channel
LIVE = (*holds.WAITING, DeliveryState.sending, DeliveryState.sent)
MAX_OCCURRENCES = 500


@dataclass(frozen=True)
class When:
    """When a post is to go out, as typed: one time ``at``, repeated by ``rrule`` or ending
    at ``expires``.

    ``rrule`` and ``expires`` cannot be combined (an occurrence of a series is missed after
    [daemon] grace anyway), and that is refused as soon as it is asked for, before anything
    is read or looked up.
    """

    at: str
    rrule: str | None = None
    expires: str | None = None

    def __post_init__(self) -> None:
        if self.rrule and self.expires:
            raise UserError(
                "--expires goes with one time, not a --rrule series (each occurrence"
                " is missed after [daemon] grace anyway)"
            )

    def read(
        self, tz: str, now: datetime, read_time: ReadTime
    ) -> tuple[list[datetime], datetime | None]:
        """The due times (one, or every occurrence of the series) and the expiry, in UTC."""
        due = read_time(self.at, tz, now, "--at")
        dues = occurrences(self.rrule, due, tz) if self.rrule else [due]
        expires = read_time(self.expires, tz, now, "--expires") if self.expires else None
        return dues, expires


def occurrences(rule: str, first: datetime, tz: str) -> list[datetime]:
    """The UTC instants of an RFC 5545 RRULE whose first occurrence is ``first``.

    The rule is expanded in wall-clock time of ``tz`` (python-dateutil's rrule), so 09:00
    stays 09:00 local across a clock change; each occurrence is then checked for gaps and
    folds like any typed time. The rule must end (COUNT or UNTIL) within 500 occurrences.
    """
    from dateutil.rrule import rrulestr

    zone = ZoneInfo(tz)
    local = first.astimezone(zone).replace(tzinfo=None)
    text = rule.strip().removeprefix("RRULE:")
    if "COUNT=" not in text.upper() and "UNTIL=" not in text.upper():
        raise UserError(f"--rrule '{rule}': give COUNT=n or UNTIL=date so the series ends")
    try:
        expanded = rrulestr(text, dtstart=local, forceset=False)
        walls = []
        for wall in expanded:
            walls.append(wall)
            if len(walls) > MAX_OCCURRENCES:
                raise UserError(f"--rrule '{rule}': more than {MAX_OCCURRENCES} occurrences")
    except (ValueError, TypeError) as exc:
        raise UserError(f"--rrule '{rule}': {exc} (e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=6)") from None
    if not walls:
        raise UserError(f"--rrule '{rule}': no occurrence at or after --at")
    return [
        local_to_utc(wall, zone, "--rrule", wall.isoformat(timespec="minutes")) for wall in walls
    ]


def schedule_series(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    post: Post,
    when: When,
    read_time: ReadTime,
    channel_names: Sequence[str] | None,
    channels: Mapping[str, ChannelLike],
    utm: bool = True,
    again: bool = False,
) -> list[Delivery]:
    """Schedule ``post`` at the times ``when`` names, read in its campaign's zone.

    One time, or with a ``--rrule`` every occurrence of the series, each its own delivery
    per channel at the same wall-clock time across clock changes (:func:`schedule`).
    """
    campaign = session.get(Campaign, post.campaign_id)
    dues, expires = when.read(campaign.tz, now, read_time)
    return schedule(
        session,
        actor,
        now,
        post=post,
        dues=dues,
        expires=expires,
        channel_names=channel_names,
        channels=channels,
        utm=utm,
        again=again,
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
    already due on that channel at that instant. Every channel must be configured and able
    to publish before any slot is looked for.
    """
    from posts import slots

    require_publishing(channel_names, channels)
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
