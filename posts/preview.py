"""What each channel will receive for a post, before it goes out.

``signpost post preview`` and the review page show this, so an approver signs off the
exact words per channel: the variant or main text, the link as the channel gets it, the
UTM-tagged URLs, the images with their alt texts, the count against that channel's limit
(counted as the channel counts), the content rules' results, and what changed since the
last approved revision. Every message is made by the same composer the delivery engine
sends with (channels/outgoing.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from channels.base import Message
from channels.outgoing import Measure, compose_message, link_as_field, measure
from posts.campaigns import campaign_rules
from posts.checks import targets
from posts.models import Campaign, Delivery, DeliveryState, Post, Revision
from posts.policy import ApprovalPolicy
from posts.revisions import approvers_of, content_of, current_revision
from posts.rules import ChannelLike, Problem, check


@dataclass(frozen=True)
class ChannelPreview:
    """One channel's outgoing message, its measures and its problems."""

    channel: str
    type: str
    message: Message
    measures: list[Measure]
    problems: list[Problem]
    diff: list[str]

    @property
    def binding(self) -> Measure | None:
        """The limit the text comes closest to (or goes furthest over)."""
        return max(self.measures, key=lambda m: m.count / m.limit, default=None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys ``post preview --format json`` promises."""
        top = self.binding
        return {
            "channel": self.channel,
            "type": self.type,
            "text": self.message.text,
            "link": self.message.link,
            "count": top.count if top else None,
            "limit": top.limit if top else None,
            "unit": top.unit if top else None,
            "limits": [{"count": m.count, "limit": m.limit, "unit": m.unit} for m in self.measures],
            "media": [{"path": m.path, "alt": m.alt} for m in self.message.media],
            "problems": [{"field": p.field, "message": p.message} for p in self.problems],
            "diff": self.diff or None,
        }


@dataclass(frozen=True)
class PostPreview:
    """A post's current revision as every target channel will receive it."""

    post_id: int
    revision: int
    content_hash: str
    author: str
    approved_revision: int | None
    channels: list[ChannelPreview]


def preview(
    session: Session,
    post: Post,
    channels: Mapping[str, ChannelLike],
    policy: ApprovalPolicy,
    only: str | None = None,
) -> PostPreview:
    """The post's current revision per target channel (:func:`posts.workflow.targets`).

    ``only`` limits it to one configured channel, scheduled there or not.
    """
    from posts.errors import UserError

    if only is not None and only not in channels:
        raise UserError(
            f"--channel: no channel named '{only}' (configured: {', '.join(sorted(channels))})"
        )
    campaign = session.get(Campaign, post.campaign_id)
    revision = current_revision(session, post)
    approved = last_approved(session, post, policy.for_campaign(campaign).required)
    if approved is not None and approved.number == revision.number:
        approved = None
    names = [only] if only is not None else targets(session, post, channels)
    content = content_of(revision)
    rules = campaign_rules(campaign)
    found = check(content, rules, channels, measure=names)
    deliveries = _latest_deliveries(session, post)
    shown = []
    for name in names:
        channel = channels[name]
        delivery = deliveries.get(name)
        utm = rules.utm_for(channel.type) if delivery is None or delivery.utm else {}
        key = delivery.idempotency_key if delivery is not None else ""
        message = _compose(name, channel.type, revision, campaign, utm, key, delivery)
        old = (
            _compose(name, channel.type, approved, campaign, utm, key, delivery)
            if approved is not None
            else None
        )
        shown.append(
            ChannelPreview(
                channel=name,
                type=channel.type,
                message=message,
                measures=measure(channel.type, channel.options, message),
                problems=_for_channel(found, name, name in content.variants),
                diff=_diff(old, message, channel.type, approved, revision),
            )
        )
    return PostPreview(
        post_id=post.id,
        revision=revision.number,
        content_hash=revision.content_hash,
        author=revision.author,
        approved_revision=approved.number if approved is not None else None,
        channels=shown,
    )


def last_approved(session: Session, post: Post, required: int) -> Revision | None:
    """The newest revision whose content reached ``required`` approvals, if any."""
    revisions = session.exec(
        select(Revision).where(Revision.post_id == post.id).order_by(Revision.number.desc())
    ).all()
    for revision in revisions:
        if len(approvers_of(session, post, revision.content_hash)) >= required:
            return revision
    return None


def _latest_deliveries(session: Session, post: Post) -> dict[str, Delivery]:
    """Per channel, the newest delivery that is not cancelled (its key and UTM choice)."""
    rows = session.exec(
        select(Delivery)
        .where(Delivery.post_id == post.id, Delivery.state != DeliveryState.cancelled)
        .order_by(Delivery.id)
    ).all()
    return {d.channel: d for d in rows}


def _compose(
    name: str,
    channel_type: str,
    revision: Revision,
    campaign: Campaign,
    utm: Mapping[str, str],
    key: str,
    delivery: Delivery | None,
) -> Message:
    return compose_message(
        name,
        channel_type,
        text=revision.text,
        variants=revision.variants,
        link=revision.link,
        media=revision.media,
        utm=utm,
        idempotency_key=key,
        campaign=campaign.slug,
        post_id=revision.post_id,
        delivery_id=delivery.id if delivery is not None else None,
    )


def _for_channel(found: list[Problem], name: str, has_variant: bool) -> list[Problem]:
    """The problems that concern what goes to ``name``: its text, its images, its limits."""
    where = f"variant:{name}" if has_variant else "text"
    return [
        p
        for p in found
        if p.channel == name
        or (p.channel is None and (p.field == where or p.field.startswith("image ")))
    ]


def _lines(message: Message, channel_type: str) -> list[str]:
    """What an approver reads, line by line: the words, a link field, the images."""
    lines = message.text.splitlines()
    if link_as_field(channel_type) and message.link:
        lines.append(f"link: {message.link}")
    lines += [f"image: {m.path} (alt: {m.alt})" for m in message.media]
    return lines


def _diff(
    old: Message | None,
    new: Message,
    channel_type: str,
    approved: Revision | None,
    current: Revision,
) -> list[str]:
    """A unified diff against the last approved revision; empty when nothing differs."""
    if old is None or approved is None:
        return []
    return list(
        difflib.unified_diff(
            _lines(old, channel_type),
            _lines(new, channel_type),
            fromfile=f"revision {approved.number} (approved)",
            tofile=f"revision {current.number}",
            lineterm="",
        )
    )
