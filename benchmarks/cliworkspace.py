"""The workspace ``benchmarks/cli.py`` times the CLI over: many posts, deliveries, a long chain.

The tests' config and ``signpost init`` through the CLI, the campaign and post 1 through
``posts.workflow``; then posts 2 to N with their revisions in bulk through SQLAlchemy Core on
the models' tables (benchmarks/workspace.py), a valid audit chain continuing the events
written so far, and a pending delivery for every approved post, each with the
``post.schedule`` event ``deliveries.schedule`` records. The chain is sized so that the log
ends with exactly ``events`` events, the deliveries' own included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from benchmarks.workspace import (
    HELPLINE,
    Event,
    actor_of,
    append_events,
    bulk_deliveries,
    campaign_id,
    checkpoint,
    create,
    insert,
    row_of,
    unscheduled_posts,
)
from posts import audit, workflow
from posts.models import Post, Revision
from posts.rules import Content
from tests.conftest import team_config

STATES = ("published", "published", "published", "approved", "submitted", "draft", "cancelled")
AUTHORS = ("alice", "carol")
#: the channel of the bulk deliveries (a webhook in the tests' config)
CHANNEL = "newsroom"


def post_text(n: int) -> str:
    """A plausible post, different for every ``n``."""
    return (
        f"Worried about your own online behaviour? Week {n % 52 + 1}, message {n}: confidential,"
        f" non-judgemental help is one call away on {HELPLINE}, or chat online."
    )


def link_of(n: int) -> str | None:
    return "https://www.stopitnow.org.uk/" if n % 3 == 0 else None


@dataclass(frozen=True)
class Built:
    """What was built: the config's path and how many deliveries the database holds."""

    config: Path
    deliveries: int


def build_workspace(folder: Path, posts: int, events: int, env: dict[str, str]) -> Built:
    """The tests' config and a database made by the CLI, the campaign and post 1 through
    ``posts.workflow``, the other posts in bulk, audit events up to ``events`` and a pending
    delivery for each approved post (as many as the event budget leaves room for)."""
    ws = create(folder, team_config("sqlite:///signpost.db"), env, "carol")
    start = ws.clock.now()
    with ws.store.transaction() as session:
        workflow.add_post(
            session,
            actor_of(ws, AUTHORS[1]),
            start,
            campaign=workflow.get_campaign(session, "stop-it-now"),
            content=Content(text=post_text(1), link=link_of(1)),
            channels=ws.settings.channels,
        )
    with ws.store.transaction() as session:
        # each bulk post.add has the details workflow.add_post recorded for post 1
        (first,) = audit.events(session, limit=1)
        added = json.loads(first.details)
        post_1 = Written(1, first.actor, added["content_hash"], added["text"], added["link"])
        written = [post_1, *insert_posts(session, campaign_id(session), posts, start)]
        budget = events - first.seq
        approved = unscheduled_posts(session, budget)
        append_events(session, chain(written, added, budget - len(approved), start))
    dues = [(post, start + timedelta(minutes=10 + i)) for i, post in enumerate(approved)]
    if dues:
        bulk_deliveries(ws, dues, channel=CHANNEL)
    checkpoint(ws)
    ws.store.close()
    return Built(ws.settings.path, len(dues))


@dataclass(frozen=True)
class Written:
    """What the audit log says about one bulk-inserted post."""

    post_id: int
    author: str
    content_hash: str
    text: str
    link: str | None


def insert_posts(session: Session, campaign: int, count: int, start: datetime) -> list[Written]:
    """Posts 2 to ``count`` in mixed states, each row built from the model; every tenth was
    edited once, so it has two revisions."""
    post_base = row_of(Post(campaign_id=campaign, author="", created=start, updated=start))
    numbers_of = {n: (1, 2) if n % 10 == 0 else (1,) for n in range(2, count + 1)}
    post_rows = [
        {
            **post_base,
            "author": AUTHORS[n % len(AUTHORS)],
            "revision": numbers[-1],
            "state": STATES[n % len(STATES)],
            "created": start + timedelta(seconds=n),
            "updated": start + timedelta(seconds=n, hours=1),
        }
        for n, numbers in numbers_of.items()
    ]
    ids = insert(session, Post, post_rows)
    revision_base = row_of(
        Revision(post_id=0, number=1, author="", text="", content_hash="", created=start)
    )
    revision_rows, written = [], []
    for post_id, (n, numbers), row in zip(ids, numbers_of.items(), post_rows, strict=True):
        for number in numbers:
            text = post_text(n) + (" (edited)" if number == 2 else "")
            digest = Content(text=text, link=link_of(n)).content_hash()
            if number == 1:
                written.append(Written(post_id, row["author"], digest, text, link_of(n)))
            revision_rows.append(
                {
                    **revision_base,
                    "post_id": post_id,
                    "number": number,
                    "author": row["author"],
                    "text": text,
                    "link": link_of(n),
                    "content_hash": digest,
                    "created": row["created"],
                }
            )
    insert(session, Revision, revision_rows)
    return written


def chain(written: Sequence[Written], added: dict, count: int, start: datetime) -> Iterator[Event]:
    """``count`` events: the ``post.add`` of each post but the first (``added``, the first
    one's details, with its words), then state changes of every post in turn."""
    for i in range(count):
        when = start + timedelta(seconds=1 + i)
        if i < len(written) - 1:
            post = written[i + 1]
            details = {
                **added,
                "content_hash": post.content_hash,
                "text": post.text,
                "link": post.link,
            }
            yield Event(when, post.author, "post.add", f"post:{post.post_id}", details)
        else:
            post = written[i % len(written)]
            details = {"from": "draft", "to": "submitted"}
            yield Event(when, post.author, "post.submit", f"post:{post.post_id}", details)
