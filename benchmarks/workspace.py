"""Workspaces for the benchmarks, built through the project's own functions.

A config written by :class:`scheduler.configfile.ConfigFile`; the schema made by ``signpost
init``, through the CLI as a user makes it; the campaign and the posts by ``posts.workflow``
in one transaction, as the CLI would make them one command at a time. Where that is too
slow for the thousands of rows a benchmark needs at once, the rows are inserted in bulk
through SQLAlchemy Core on the models' own tables, each row built from its model (so the
defaults, and any column added or dropped, are the project's), and their audit events are
chained after the log's head with ``posts.audit``'s hash, so ``signpost audit verify``
passes over everything. A schema change the bulk rows do not fit fails loudly here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from posts import audit, workflow
from posts.models import Campaign, Delivery, DeliveryState, Post, PostState, new_key
from posts.policy import Actor
from posts.revisions import SeenRevision
from posts.rules import Content
from scheduler.configfile import ConfigFile
from scheduler.workspace import Workspace

SIGNPOST = str(Path(sys.executable).with_name("signpost"))
CAMPAIGN = "stop-it-now"
HELPLINE = "0808 1000 900"
#: rows a bulk insert sends in one statement
CHUNK = 5_000


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Signpost variable, and with ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    return env | extra


def run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; stop the benchmark if it fails."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark: {' '.join(argv)} exited {done.returncode}\n{done.stderr[-2000:]}")
    return done


def signpost(config: Path, *args: str, env: dict[str, str], actor: str) -> str:
    """``signpost --config CONFIG ARGS`` as ``actor``; its stdout."""
    return run([SIGNPOST, "--config", str(config), *args], {**env, "SIGNPOST_ACTOR": actor}).stdout


def create(folder: Path, config: ConfigFile, env: dict[str, str], actor: str) -> Workspace:
    """``folder/config.toml`` written from ``config``, its database made by ``signpost init``
    (run as ``actor``), and the ``stop-it-now`` campaign; the workspace, opened."""
    folder.mkdir(parents=True, exist_ok=True)
    path = config.write(folder / "config.toml")
    signpost(path, "init", env=env, actor=actor)
    ws = Workspace.open(path)
    with ws.store.transaction() as session:
        workflow.add_campaign(
            session,
            actor_of(ws, actor),
            ws.clock.now(),
            slug=CAMPAIGN,
            name="Stop It Now",
            tz=ws.settings.default_tz,
            must_include=[HELPLINE],
        )
    return ws


def actor_of(ws: Workspace, name: str) -> Actor:
    """``name`` with the roles the workspace's config gives them."""
    return Actor(name, ws.settings.roles_of(name))


def checkpoint(ws: Workspace) -> None:
    """Fold SQLite's write-ahead log into the file, so that copying the file copies it all."""
    if not ws.store.is_postgres:
        with ws.store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# --- through the project's functions --------------------------------------------------------


def approved_posts(
    ws: Workspace, session: Session, now: datetime, texts: Iterable[str]
) -> list[int]:
    """A post of each text that alice writes and submits and bob approves; their ids."""
    channels = ws.settings.channels
    alice, bob = actor_of(ws, "alice"), actor_of(ws, "bob")
    campaign = workflow.get_campaign(session, CAMPAIGN)
    ids = []
    for text in texts:
        post = workflow.add_post(
            session, alice, now, campaign=campaign, content=Content(text=text), channels=channels
        )
        workflow.submit_post(session, alice, now, post=post, channels=channels)
        workflow.approve_post(
            session,
            bob,
            now,
            post=post,
            policy=ws.settings.approval,
            channels=channels,
            seen=SeenRevision(1),
        )
        ids.append(post.id)
    return ids


def unscheduled_posts(session: Session, count: int) -> list[int]:
    """The ids of up to ``count`` approved posts without a delivery, oldest first."""
    post, delivery = Post.__table__, Delivery.__table__
    query = (
        sa.select(post.c.id)
        .where(
            post.c.state == PostState.approved,
            ~sa.exists().where(delivery.c.post_id == post.c.id),
        )
        .order_by(post.c.id)
        .limit(count)
    )
    return list(session.execute(query).scalars())


# --- in bulk, through Core on the models' tables --------------------------------------------


def row_of(instance: SQLModel) -> dict[str, Any]:
    """A model instance as Core inserts it: every column's value, the model's defaults
    included, but not a primary key the database is still to give."""
    table = type(instance).__table__
    row = {column.name: getattr(instance, column.name) for column in table.columns}
    return {k: v for k, v in row.items() if v is not None or not table.c[k].primary_key}


def insert(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> list[int]:
    """``rows`` into ``model``'s table, ``CHUNK`` a statement; the ids they were given."""
    table = model.__table__
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        ids += session.execute(statement, list(rows[start : start + CHUNK])).scalars()
    return ids


@dataclass(frozen=True)
class Event:
    """An audit event to append, as ``posts.audit.record`` takes one."""

    time: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


def append_events(session: Session, events: Iterable[Event]) -> int:
    """Chain ``events`` after the head of the audit log in one statement, as every
    transaction's events are (``posts.audit.record``, then ``posts.audit.link``); how many."""
    for event in events:
        audit.record(
            session,
            now=event.time,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            details=event.details,
        )
    return audit.link(session)


def bulk_deliveries(
    ws: Workspace,
    dues: Sequence[tuple[int, datetime]],
    *,
    channel: str = "hook",
    again: bool = False,
) -> list[tuple[int, str]]:
    """A pending delivery on ``channel`` for each (approved post, due time), with the
    ``post.schedule`` event ``deliveries.schedule`` records for it, in one transaction; their
    (id, idempotency key)."""
    now = ws.clock.now()
    base = row_of(
        Delivery(
            channel=channel,
            due=now,
            state=DeliveryState.pending,
            idempotency_key="",
            created=now,
            updated=now,
        )
    )
    rows = [
        {**base, "post_id": post, "due": due, "idempotency_key": new_key()} for post, due in dues
    ]
    with ws.store.transaction() as session:
        ids = insert(session, Delivery, rows)
        made = [(id_, row["idempotency_key"]) for id_, row in zip(ids, rows, strict=True)]
        append_events(
            session,
            (
                Event(
                    now,
                    "alice",
                    "post.schedule",
                    f"post:{post}",
                    {
                        "deliveries": [
                            {"id": id_, "channel": channel, "key": key, "state": "pending"}
                        ],
                        "due": due.isoformat(),
                        "expires": None,
                        "again": again,
                    },
                )
                for (id_, key), (post, due) in zip(made, dues, strict=True)
            ),
        )
    return made


def campaign_id(session: Session) -> int:
    """The ``stop-it-now`` campaign's id."""
    table = Campaign.__table__
    return session.execute(sa.select(table.c.id).where(table.c.slug == CAMPAIGN)).scalar_one()
