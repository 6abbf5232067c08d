"""The hash-chained audit log: append in the caller's transaction, verify, export.

Each event's ``hash`` is sha256 over ``prev_hash`` followed by the canonical JSON of
``{seq, time, actor, action, subject, details}``. Changing, deleting, inserting or reordering
any row breaks the chain at that row, and ``verify`` names the first bad ``seq``. Deleting
the newest rows cannot be seen from inside the database alone, so ``verify`` prints the head
hash for the user to keep elsewhere (docs/audit.md).

Appends are serialised: a transaction queues its events and links them into the chain just
before it commits (:func:`link`), holding the chain's lock from reading the head to commit:
SQLite's write lock (every write transaction is ``BEGIN IMMEDIATE``, posts.store), or on
PostgreSQL an advisory lock taken for that last step only, so daemons working side by side
wait for each other only there. Nothing secret is ever passed in ``details``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from posts.canonical import canonical_json, sha256_hex
from posts.models import AuditEvent

GENESIS = "0" * 64
_HEAD = "signpost_audit_head"  # session.info key: the chain head as this transaction left it
_PENDING = "signpost_audit_pending"  # session.info key: events recorded, not yet linked
#: PostgreSQL advisory lock key held from reading the chain head to commit (posts.store)
CHAIN_LOCK = 7_400_172
#: session.info key: facts about where this transaction comes from, added to each event.
CONTEXT = "signpost_audit_context"
EXPORT_COLUMNS = ("seq", "time", "actor", "action", "subject", "details", "prev_hash", "hash")


def event_hash(
    prev_hash: str, seq: int, time: str, actor: str, action: str, subject: str, details: Any
) -> str:
    """The chain hash of one event."""
    body = canonical_json(
        {
            "seq": seq,
            "time": time,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        }
    )
    return sha256_hex(prev_hash.encode("ascii") + body)


def record(
    session: Session,
    *,
    now: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one event to this transaction's part of the chain (linked in by :func:`link`).

    Where the transaction was opened for a request (the review page), ``session.info[CONTEXT]``
    holds ``via`` and the client's address; they go into every event of that transaction, so
    no action of the page can be recorded without them.

    The event is only queued here: ``Store.transaction`` links the queue into the chain just
    before it commits, so the one thing every writer must do in turn (read the head, append)
    is as short as it can be and comes after all of the transaction's row work
    (docs/delivery.md). A transaction that fails links nothing.
    """
    details = {**(details or {}), **session.info.get(CONTEXT, {})}
    time = now.isoformat(timespec="microseconds")
    session.info.setdefault(_PENDING, []).append((time, actor, action, subject, details))


def link(session: Session) -> int:
    """Append this transaction's queued events to the chain, in order; how many.

    Called by ``Store.transaction`` right before commit; may be called earlier too (a test
    that looks at the rows mid-transaction), and later events then continue the chain. On
    PostgreSQL the chain lock is taken first and held until commit: whoever holds it never
    waits for a row lock (it only inserts here), so it cannot be part of a deadlock.
    """
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    table = AuditEvent.__table__
    head = session.info.get(_HEAD)
    if head is None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
        head = session.execute(
            sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
        ).first() or (0, GENESIS)
    seq, prev = head
    rows = []
    for time, actor, action, subject, details in pending:
        seq += 1
        digest = event_hash(prev, seq, time, actor, action, subject, details)
        rows.append(
            {
                "seq": seq,
                "time": time,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": canonical_json(details).decode("utf-8"),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(table.insert(), rows)
    session.info[_HEAD] = (seq, prev)
    return len(rows)


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: the number of good events, the head, or the first bad seq."""

    count: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def verify(rows: Iterable[tuple[int, str, str, str, str, str, str, str]]) -> Verdict:
    """Recompute the chain over ``rows`` (ordered by seq) and report the first break.

    A row is bad when its seq is not the next number (deleted or inserted rows), when its
    ``prev_hash`` is not the previous row's hash (reordered or removed rows), or when its hash
    does not match its content (changed rows).
    """
    prev, expected_seq, count = GENESIS, 1, 0
    for seq, time, actor, action, subject, details, prev_hash, hash_ in rows:
        if seq != expected_seq:
            return Verdict(count, prev, seq, f"expected seq {expected_seq}, found {seq}")
        if prev_hash != prev:
            return Verdict(count, prev, seq, "prev_hash does not match the previous event")
        try:
            parsed = json.loads(details)
        except ValueError:
            return Verdict(count, prev, seq, "details are not valid JSON")
        if event_hash(prev, seq, time, actor, action, subject, parsed) != hash_:
            return Verdict(count, prev, seq, "hash does not match the event's content")
        prev, expected_seq, count = hash_, expected_seq + 1, count + 1
    return Verdict(count, prev)


def chain_rows(session: Session) -> Iterator[tuple]:
    """Every event as a plain tuple in seq order, streamed (fast on 100k+ events)."""
    table = AuditEvent.__table__
    query = sa.select(*(table.c[c] for c in EXPORT_COLUMNS)).order_by(table.c.seq)
    # Closed even when the caller stops early (verify at the first bad event): on
    # PostgreSQL yield_per is a server-side cursor that must not be left open.
    with session.connection().execution_options(yield_per=5000).execute(query) as result:
        yield from result


def events(
    session: Session,
    *,
    subject: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """The newest ``limit`` events (all if None), oldest first, optionally for one subject."""
    query = select(AuditEvent)
    if subject:
        query = query.where(AuditEvent.subject == subject)
    query = query.order_by(col(AuditEvent.seq).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(reversed(session.exec(query).all()))


def as_dict(row: Any) -> dict[str, Any]:
    """One event as a JSON-ready dict, details parsed."""
    out = {c: getattr(row, c) for c in EXPORT_COLUMNS}
    out["details"] = json.loads(out["details"])
    return out


def export(session: Session, out: IO[str], fmt: str) -> int:
    """Write every event to ``out`` as CSV or JSON Lines, with its hashes; return the count.

    The export carries ``prev_hash`` and ``hash`` so whoever receives it (a Freedom of
    Information request, an auditor) can check the chain without access to our database.
    """
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for row in chain_rows(session):
            writer.writerow(row)
            count += 1
    else:
        for row in chain_rows(session):
            out.write(json.dumps(as_dict(row), ensure_ascii=False) + "\n")
            count += 1
    return count
