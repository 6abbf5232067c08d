"""What went out where: the campaign report a charity sets against helpline figures.

One row per delivery that was sent (post, channel, when, public URL, the link as tagged),
and totals per channel and per ISO week in the campaign's time zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from channels.utm import tag
from posts.campaigns import campaign_rules
from posts.models import Campaign, Delivery, DeliveryState, Post, Revision

COLUMNS = ("post", "channel", "sent", "remote_url", "link", "text")


def report(
    session: Session,
    campaign: Campaign,
    *,
    start: datetime | None,
    end: datetime | None,
    channel_types: Mapping[str, str],
) -> dict[str, Any]:
    """Sent deliveries of ``campaign`` in [start, end), with totals."""
    query = (
        select(Delivery, Revision)
        .join(Post, Post.id == Delivery.post_id)
        .join(Revision, (Revision.post_id == Post.id) & (Revision.number == Post.revision))
        .where(Post.campaign_id == campaign.id, Delivery.state == DeliveryState.sent)
        .order_by(col(Delivery.updated), col(Delivery.id))
    )
    if start is not None:
        query = query.where(Delivery.updated >= start)
    if end is not None:
        query = query.where(Delivery.updated < end)
    zone = ZoneInfo(campaign.tz)
    rules = campaign_rules(campaign)
    rows = []
    by_channel: Counter[str] = Counter()
    by_week: Counter[str] = Counter()
    for delivery, revision in session.exec(query):
        utm = rules.utm_for(channel_types.get(delivery.channel, delivery.channel))
        link = revision.link
        if link and delivery.utm and utm:
            link = tag(link, utm)
        local = delivery.updated.astimezone(zone)
        year, week, _ = local.isocalendar()
        rows.append(
            {
                "post": delivery.post_id,
                "channel": delivery.channel,
                "sent": local.isoformat(timespec="seconds"),
                "remote_url": delivery.remote_url,
                "link": link,
                "text": revision.variants.get(delivery.channel, revision.text),
            }
        )
        by_channel[delivery.channel] += 1
        by_week[f"{year}-W{week:02d}"] += 1
    return {
        "campaign": campaign.slug,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "deliveries": rows,
        "totals": {
            "sent": len(rows),
            "by_channel": dict(sorted(by_channel.items())),
            "by_week": dict(sorted(by_week.items())),
        },
    }
