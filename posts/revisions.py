"""A post's revisions: reading them, who wrote and approved them, which one a reviewer saw,
and how an edit that names only some parts makes the next one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from posts.errors import ChangedSince, UserError
from posts.models import Approval, Campaign, Post, Revision
from posts.rules import Content


def get_post(session: Session, post_id: int) -> Post:
    """The post with ``post_id``, or a UserError that says none exists."""
    post = session.get(Post, post_id)
    if post is None:
        raise UserError(f"no post with id {post_id} (see 'signpost post list')")
    return post


def current_revision(session: Session, post: Post) -> Revision:
    """The post's newest revision."""
    revision = session.exec(
        select(Revision).where(Revision.post_id == post.id, Revision.number == post.revision)
    ).one()
    return revision


def content_of(revision: Revision) -> Content:
    """A revision's content, as the rules and the hash see it."""
    return Content(
        text=revision.text,
        variants=dict(revision.variants),
        link=revision.link,
        media=tuple(revision.media),
    )


def post_authors(session: Session, post: Post) -> set[str]:
    """Everyone who wrote any revision of the post: none of them may approve it."""
    return set(session.exec(select(Revision.author).where(Revision.post_id == post.id)).all())


def approvers_of(session: Session, post: Post, content_hash: str) -> list[str]:
    """Distinct people whose approval of exactly ``content_hash`` is on record."""
    rows = session.exec(
        select(Approval.approver)
        .where(
            Approval.post_id == post.id,
            Approval.content_hash == content_hash,
            Approval.decision == "approve",
        )
        .distinct()
        .order_by(Approval.approver)
    ).all()
    return list(rows)


@dataclass(frozen=True)
class SeenRevision:
    """The revision a reviewer looked at, and its content hash when the page showed it.

    An approval or rejection names what the person saw; if the post changed since, the
    decision is refused rather than applied to words they never read.
    """

    number: int
    content_hash: str | None = None

    def require(self, session: Session, now: datetime, post: Post, current: Revision) -> None:
        """Refuse unless ``current`` is the revision (and hash) that was seen."""
        if self.number > current.number or self.number < 1:
            raise UserError(
                f"post {post.id} has no revision {self.number} (its current revision is"
                f" {current.number})"
            )
        if self.number == current.number and self.content_hash in (None, current.content_hash):
            return
        campaign = session.get(Campaign, post.campaign_id)
        zone = ZoneInfo(campaign.tz)
        made = current.created.astimezone(zone)
        today = made.date() == now.astimezone(zone).date()
        when = made.strftime("%H:%M" if today else "%Y-%m-%d %H:%M")
        raise ChangedSince(
            f"post {post.id} changed since revision {self.number} (revision {current.number}"
            f" by {current.author} at {when}); preview it again",
            post_id=post.id,
            current=current.number,
        )


@dataclass(frozen=True)
class ContentEdit:
    """A change to a post's words as a person asks for it: what is not mentioned stays.

    ``variants`` maps a channel to its new words, or to "" to remove that channel's variant;
    ``media`` replaces every image (``no_images`` removes them). Alt texts come with their
    images (``alt_only``: some were given without any), so an old image never gets new alt
    text by position.
    """

    text: str | None = None
    link: str | None = None
    no_link: bool = False
    media: tuple[dict[str, str], ...] = ()
    no_images: bool = False
    alt_only: bool = False
    variants: Mapping[str, str] = field(default_factory=dict)

    def applied_to(self, session: Session, post: Post) -> Content:
        """The content of the post's next revision: its current one with this edit made."""
        old = content_of(current_revision(session, post))
        variants = dict(old.variants)
        for name, value in self.variants.items():
            if value:
                variants[name] = value
            else:
                variants.pop(name, None)
        if self.alt_only:
            raise UserError("--alt goes with --image; give the images again with their alt texts")
        return Content(
            text=old.text if self.text is None else self.text,
            variants=variants,
            link=None if self.no_link else (self.link or old.link),
            media=() if self.no_images else (self.media or old.media),
        )
