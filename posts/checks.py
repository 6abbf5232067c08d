"""What a post is checked against before a step: its content, its channels, their limits.

A post's *targets* are where it is measured (scheduled channels and intended ones, else
every configured channel); submit, approve, check and preview all measure them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from posts import holds
from posts.campaigns import campaign_rules
from posts.errors import UserError
from posts.models import Campaign, Delivery, DeliveryState, Post, PostState
from posts.revisions import content_of, current_revision
from posts.rules import ChannelLike, Content, Problem, check


def validate_content(content: Content, channels: Mapping[str, ChannelLike]) -> Content:
    """The content normalised, or a UserError naming the option that is wrong."""
    content = content.normalised()
    for field, message in content_problems(content, channels):
        option = "--link" if field == "link" else f"--variant {field.removeprefix('variant:')}=..."
        raise UserError(f"{option}{' ' if field == 'link' else ': '}{message}")
    return content


#: an absolute http(s) URL with a dotted host: what a reader can open from a post
LINK = re.compile(r"https?://[^\s/]+\.[^\s]+$")


def content_problems(
    content: Content, channels: Mapping[str, ChannelLike]
) -> list[tuple[str, str]]:
    """What is wrong with a post's link and variants, as ``(field, message)``; the one
    check behind ``post add``, ``post edit`` and ``post import`` (field ``link`` or
    ``variant:NAME``, as the CSV's columns are named)."""
    found = []
    if content.link and not LINK.match(content.link):
        found.append(
            (
                "link",
                f"'{content.link}': expected an http(s) URL such as https://www.stopitnow.org.uk/",
            )
        )
    known = ", ".join(sorted(channels)) or "none"
    for name in content.variants:
        if name not in channels:
            message = f"no channel named '{name}' is configured (configured: {known})"
            found.append((f"variant:{name}", message))
    return found


def validate_intended(names: Sequence[str], channels: Mapping[str, ChannelLike]) -> list[str]:
    """Intended channel names, deduplicated in order; each configured and able to publish."""
    chosen = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    require_publishing(chosen, channels)
    return chosen


def require_publishing(names: Sequence[str], channels: Mapping[str, ChannelLike]) -> None:
    """Refuse a channel name that is not configured, or whose type cannot publish yet."""
    from channels.registry import can_publish, publishing

    unknown = [n for n in names if n not in channels]
    if unknown:
        raise UserError(
            f"--channels: no channel named {', '.join(repr(n) for n in unknown)}"
            f" (configured: {', '.join(sorted(channels)) or 'none'})"
        )
    for name in names:
        if not can_publish(channels[name].type):
            raise UserError(
                f"--channels: {name} is a {channels[name].type} channel, which cannot publish"
                f" yet (publishing types: {', '.join(publishing())})"
            )


def targets(session: Session, post: Post, channels: Mapping[str, ChannelLike]) -> list[str]:
    """Where a post is measured and previewed, in name order.

    The channels it is scheduled to (not cancelled) together with the ones it is meant for
    (``post add|edit --channels``); with neither, every configured channel, so nothing is
    approved unmeasured — but for a post without an image, not the channels that take only
    images (Instagram): it cannot be meant for them, and scheduling it there is refused. A
    post meant for the feed is not held back by X's 280.
    """
    from channels.registry import needs_image

    scheduled = set(
        session.exec(
            select(Delivery.channel).where(
                Delivery.post_id == post.id, Delivery.state != DeliveryState.cancelled
            )
        ).all()
    )
    chosen = (scheduled | set(post.channels or ())) & set(channels)
    if chosen:
        return sorted(chosen)
    if content_of(current_revision(session, post)).media:
        return sorted(channels)
    return sorted(name for name in channels if not needs_image(channels[name].type))


def problems(session: Session, post: Post, channels: Mapping[str, ChannelLike]) -> list[Problem]:
    """Every content-rule problem of the post's current revision, lengths measured for its
    targets (:func:`targets`)."""
    campaign = session.get(Campaign, post.campaign_id)
    return check(
        content_of(current_revision(session, post)),
        campaign_rules(campaign),
        channels,
        measure=targets(session, post, channels),
    )


def campaign_warnings(
    session: Session, campaign: Campaign, channels: Mapping[str, ChannelLike]
) -> list[str]:
    """What the campaign's rules and days leave standing that a person should look at.

    Submitted and approved posts that break the rules now, and deliveries still waiting
    outside the campaign's days: an edit of the campaign changes none of them (approved
    posts keep their approvals and deliveries), so saying so is the only way it is not silent.
    """
    live = session.exec(
        select(Post)
        .where(
            Post.campaign_id == campaign.id,
            col(Post.state).in_([PostState.submitted, PostState.approved]),
        )
        .order_by(Post.id)
    ).all()
    warnings = []
    breaking = [str(post.id) for post in live if problems(session, post, channels)]
    if breaking:
        warnings.append(
            f"{len(breaking)} submitted or approved post(s) break the campaign's rules now"
            f" and keep their approvals and deliveries: {', '.join(breaking)}"
            " (see 'signpost post check ID'; edit or cancel them)"
        )
    zone = ZoneInfo(campaign.tz)
    waiting = session.exec(
        select(Delivery.id, Delivery.due)
        .join(Post, Post.id == Delivery.post_id)
        .where(Post.campaign_id == campaign.id, col(Delivery.state).in_(holds.WAITING))
        .order_by(Delivery.id)
    ).all()
    outside = [
        str(delivery_id)
        for delivery_id, due in waiting
        if (campaign.starts and due.astimezone(zone).date() < campaign.starts)
        or (campaign.ends and due.astimezone(zone).date() > campaign.ends)
    ]
    if outside:
        warnings.append(
            f"{len(outside)} waiting delivery(ies) fall outside the campaign's days and will"
            f" still go out: {', '.join(outside)} (see 'signpost deliveries list')"
        )
    return warnings
