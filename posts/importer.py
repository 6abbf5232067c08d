"""``signpost post import FILE.csv``: a spreadsheet of posts, all rows or none.

Every row is checked before anything is written, and every problem of every row is reported
at once as "row N, column C: what is wrong" with N as a spreadsheet shows it (the header is
row 1). Only a file with no problem at all is imported, in one transaction: posts as drafts,
their deliveries held until approved (or submitted with ``--submit``, and then the approvers
are told, as ``post submit`` tells them). Only an author or admin may import, checked before
any row is, so no one else learns what a file would have created.

Columns (header names, any order, UTF-8 with or without a BOM): ``text``, ``at``,
``channels`` are required; ``campaign``, ``link``, ``image``, ``alt``, ``expires`` and
``variant:<channel>`` are optional. ``channels`` is separated by commas or semicolons.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from posts import audit, notices, workflow
from posts.checks import content_problems
from posts.errors import SignpostError, UserError
from posts.models import Campaign, Delivery, DeliveryState, Post, PostState, Revision, new_key
from posts.rules import ChannelLike, Content, check
from posts.times import ReadTime

REQUIRED = ("text", "at", "channels")
OPTIONAL = ("campaign", "link", "image", "alt", "expires")
BATCH = 500  # rows written per statement


class ImportProblems(UserError):
    """The file has problems; ``problems`` lists each as "row N, column C: ..."."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s); nothing was imported")
        self.problems = problems


@dataclass
class Row:
    """One valid row, ready to become a post and its deliveries."""

    number: int
    campaign: Campaign
    content: Content
    due: datetime
    expires: datetime | None
    channels: list[str]


@dataclass
class Plan:
    """What an import of the file at ``path`` would create."""

    path: Path
    rows: list[Row] = field(default_factory=list)

    @property
    def deliveries(self) -> int:
        return sum(len(r.channels) for r in self.rows)


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The lower-cased headers of a CSV file, and its rows as dicts keyed by them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise UserError(f"{path}: empty file; expected a header row with {', '.join(REQUIRED)}")
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
    return list(reader.fieldnames), list(reader)


def plan(
    session: Session,
    actor: workflow.Actor,
    path: Path,
    headers: list[str],
    rows: list[dict[str, str]],
    *,
    default_campaign: str | None,
    channels: Mapping[str, ChannelLike],
    read_time: ReadTime,
    now: datetime,
) -> Plan:
    """Check every row; return the plan, or raise ImportProblems listing every problem.

    ``--dry-run`` stops here, so the role check is made here too, before any row is read.
    """
    from channels.registry import can_publish

    actor.require(workflow.WRITER_ROLES, "import posts")
    publishing = {name for name, channel in channels.items() if can_publish(channel.type)}
    problems: list[str] = []
    for header in headers:
        if header not in REQUIRED + OPTIONAL and not header.startswith("variant:"):
            problems.append(
                f"row 1, column {header}: unknown column (expected "
                f"{', '.join(REQUIRED + OPTIONAL)} or variant:<channel>)"
            )
        if header.startswith("variant:") and header[8:] not in channels:
            problems.append(f"row 1, column {header}: no channel named '{header[8:]}'")
    for required in REQUIRED:
        if required not in headers:
            problems.append(f"row 1, column {required}: required column missing")
    if problems:
        raise ImportProblems(path, problems)
    campaigns = {c.slug: c for c in session.exec(select(Campaign))}
    result = Plan(path)
    for index, raw in enumerate(rows, start=2):
        row, row_problems = _row(
            index, raw, path, campaigns, default_campaign, channels, publishing, read_time, now
        )
        problems += row_problems
        if row is not None:
            result.rows.append(row)
    if not rows:
        problems.append("row 2: the file has a header but no rows")
    if problems:
        raise ImportProblems(path, problems)
    return result


def _row(number, raw, path, campaigns, default_campaign, channels, publishing, read_time, now):
    problems: list[str] = []

    def bad(column: str, message: str) -> None:
        problems.append(f"row {number}, column {column}: {message}")

    value = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    slug = value.get("campaign") or default_campaign
    campaign = campaigns.get(slug) if slug else None
    if not slug:
        bad("campaign", "empty, and no --campaign given")
    elif campaign is None:
        bad("campaign", f"no campaign '{slug}'")
    text = (raw.get("text") or "").strip("\n")
    if not text.strip():
        bad("text", "empty")
    names = [n.strip() for n in value.get("channels", "").replace(";", ",").split(",") if n.strip()]
    if not names:
        bad("channels", "empty; name at least one channel")
    for name in names:
        if name not in channels:
            bad(
                "channels",
                f"no channel named '{name}' (configured: {', '.join(sorted(channels)) or 'none'})",
            )
        elif name not in publishing:
            bad("channels", f"{name} is a {channels[name].type} channel, which cannot publish")
    due = expires = None
    tz = campaign.tz if campaign else "UTC"
    for column in ("at", "expires"):
        if not value.get(column):
            if column == "at":
                bad("at", "empty; expected a time such as 2026-12-01 09:00")
            continue
        try:
            parsed = read_time(value[column], tz, now, column)
        except SignpostError as exc:
            bad(column, str(exc).removeprefix(f"{column} "))
            continue
        if column == "at":
            due = parsed
            if parsed <= now:
                bad("at", f"{value['at']} is in the past")
        else:
            expires = parsed
    if due and expires and expires <= due:
        bad("expires", "not after the time in column at")
    media: tuple[dict[str, str], ...] = ()
    if value.get("image"):
        image = Path(value["image"])
        image = image if image.is_absolute() else path.parent / image
        try:
            digest = hashlib.sha256(image.read_bytes()).hexdigest()
        except OSError:
            bad("image", f"no readable file {image}")
        else:
            media = ({"path": str(image.resolve()), "sha256": digest, "alt": value.get("alt", "")},)
    elif value.get("alt"):
        bad("alt", "alt text without an image")
    variants = {k[8:]: v for k, v in value.items() if k.startswith("variant:") and v}
    content = Content(
        text=text, variants=variants, link=value.get("link") or None, media=media
    ).normalised()
    for column, message in content_problems(content, channels):
        bad(column, message)
    if campaign is not None:
        measure = [n for n in names if n in channels]
        for problem in check(content, workflow.campaign_rules(campaign), channels, measure):
            column = (
                problem.field
                if problem.field.startswith("variant:")
                else ("image" if problem.field.startswith("image") else "text")
            )
            bad(column, problem.message)
    if problems:
        return None, problems
    return Row(number, campaign, content, due, expires, names), []


def apply(
    session: Session,
    actor: workflow.Actor,
    now: datetime,
    plan_: Plan,
    *,
    submit: bool,
    notify: notices.NotifyPolicy | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Create every planned post (draft, or submitted) with its held deliveries.

    ``plan`` has checked every row in full, so this only writes: Core statements in batches
    (a spreadsheet of 10,000 rows takes seconds, not minutes) and one ``post.import`` audit
    event per post recording its content, hash, deliveries and state. Submitted posts are
    announced to the approvers once for the whole file, not once a row.
    """
    actor.require(workflow.WRITER_ROLES, "import posts")
    posts, revisions, planned = Post.__table__, Revision.__table__, Delivery.__table__
    state = PostState.submitted if submit else PostState.draft
    created: list[int] = []
    for start in range(0, len(plan_.rows), BATCH):
        batch = plan_.rows[start : start + BATCH]
        ids = (
            session.execute(
                posts.insert().returning(posts.c.id, sort_by_parameter_order=True),
                [
                    {
                        "campaign_id": row.campaign.id,
                        "author": actor.name,
                        "revision": 1,
                        "state": state,
                        "created": now,
                        "updated": now,
                    }
                    for row in batch
                ],
            )
            .scalars()
            .all()
        )
        hashes = [row.content.content_hash() for row in batch]
        session.execute(
            revisions.insert(),
            [
                {
                    "post_id": post_id,
                    "number": 1,
                    "author": actor.name,
                    "text": row.content.text,
                    "variants": dict(row.content.variants),
                    "link": row.content.link,
                    "media": [dict(m) for m in row.content.media],
                    "content_hash": digest,
                    "created": now,
                }
                for post_id, row, digest in zip(ids, batch, hashes, strict=True)
            ],
        )
        keys = [[new_key() for _ in row.channels] for row in batch]
        session.execute(
            planned.insert(),
            [
                {
                    "post_id": post_id,
                    "channel": channel,
                    "due": row.due,
                    "expires": row.expires,
                    "state": DeliveryState.held,
                    "attempts": 0,
                    "idempotency_key": key,
                    "created": now,
                    "updated": now,
                }
                for post_id, row, row_keys in zip(ids, batch, keys, strict=True)
                for channel, key in zip(row.channels, row_keys, strict=True)
            ],
        )
        for post_id, row, digest, row_keys in zip(ids, batch, hashes, keys, strict=True):
            audit.record(
                session,
                now=now,
                actor=actor.name,
                action="post.import",
                subject=f"post:{post_id}",
                details={
                    "campaign": row.campaign.slug,
                    "row": row.number,
                    "state": state.value,
                    "revision": 1,
                    "content_hash": digest,
                    "text": row.content.text,
                    "variants": dict(row.content.variants),
                    "link": row.content.link,
                    "media": [
                        {"sha256": m["sha256"], "alt": m.get("alt", "")} for m in row.content.media
                    ],
                    "deliveries": [
                        {"channel": c, "key": k}
                        for c, k in zip(row.channels, row_keys, strict=True)
                    ],
                    "due": row.due.isoformat(),
                    "expires": row.expires.isoformat() if row.expires else None,
                },
            )
        created += ids
        if progress:
            progress(len(batch))
    if submit and created:
        notices.approval_requested(
            session,
            now,
            notify,
            f"{actor.name} imported {len(created)} post(s) from {plan_.path.name} and"
            " submitted them for approval: "
            + (notify or notices.NotifyPolicy()).where("/", "signpost post list --state submitted"),
            actor.name,
        )
    return created
