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
from json.encoder import encode_basestring as _quote  # a str as json.dumps writes it
from typing import IO, Any
from unicodedata import normalize

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
_BATCH = 5000  # rows fetched at a time when streaming the chain
_NO_END = 2**31 - 1  # the largest seq both databases hold (INTEGER on PostgreSQL)
#: the chain's newest event, and the append: built once, as every write transaction runs them
_HEAD_ROW = (
    sa.select(AuditEvent.__table__.c.seq, AuditEvent.__table__.c.hash)
    .order_by(AuditEvent.__table__.c.seq.desc())
    .limit(1)
)
_APPEND = AuditEvent.__table__.insert()
_TAKE_CHAIN_LOCK = sa.text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})")
_CHAIN_SQL = (
    f"SELECT {', '.join(EXPORT_COLUMNS)} FROM {AuditEvent.__tablename__}"
    " WHERE seq BETWEEN ? AND ? ORDER BY seq"
)


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
    that looks at the rows mid-transaction, with no row work after it), and later events
    then continue the chain. On
    PostgreSQL the chain lock is taken first and held until commit: whoever holds it never
    waits for a row lock (it only inserts here), so it cannot be part of a deadlock. That
    is why the ORM's pending changes are flushed before it is taken, on purpose rather than
    by the session's autoflush: an ``UPDATE`` flushed at commit, after the lock, could wait
    for a row another transaction holds while that one waits for the chain lock.
    """
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    session.flush()
    head = session.info.get(_HEAD)
    if head is None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_TAKE_CHAIN_LOCK)
        head = session.execute(_HEAD_ROW).first() or (0, GENESIS)
    seq, prev = head
    rows = []
    for time, actor, action, subject, details in pending:
        seq += 1
        # Stored as hashed: the strings in NFC and the details as their canonical text, so
        # the hash is made from the stored text (once) and equals event_hash's.
        actor, action, subject = (normalize("NFC", v) for v in (actor, action, subject))
        text = canonical_json(details).decode("utf-8")
        digest = stored_event_hash(prev, seq, time, actor, action, subject, text)
        rows.append(
            {
                "seq": seq,
                "time": time,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(_APPEND, rows)
    session.info[_HEAD] = (seq, prev)
    return len(rows)


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: the events checked, the head, or the first bad seq.

    ``seq`` and ``head`` are the last good event's (the checkpoint's when none was checked
    after it). ``by_value`` counts events whose stored text is not byte for byte what was
    hashed but means the same (an older writer's JSON): they verify, and are counted so that
    an auditor can see them (docs/decisions.md).
    """

    count: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None
    seq: int = 0
    by_value: int = 0

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def stored_event_hash(
    prev_hash: str, seq: int, time: str, actor: str, action: str, subject: str, details: str
) -> str:
    """``event_hash`` of an event whose ``details`` are already canonical JSON text.

    The stored text is spliced into the body as it is, with the other fields written as
    ``canonical_json`` writes them (keys in sorted order, no spaces, each string JSON-quoted
    as ``json.dumps(..., ensure_ascii=False)`` quotes it). That skips parsing, normalising
    and re-serialising the details, most of what a million events cost. It equals
    ``event_hash`` whenever the text is canonical and the strings are NFC, which is how
    every event is written; where they are not, the result differs and ``verify`` falls
    back to ``event_hash``. Quoting every string keeps the splice unambiguous: only the
    details text itself can stand between ``"details":`` and ``,"seq":``.
    """
    body = (
        f'{prev_hash}{{"action":{_quote(action)},"actor":{_quote(actor)},"details":{details}'
        f',"seq":{seq},"subject":{_quote(subject)},"time":{_quote(time)}}}'
    )
    return sha256_hex(body.encode("utf-8"))


def verify(
    rows: Iterable[tuple[int, str, str, str, str, str, str, str]],
    since: tuple[int, str] = (0, GENESIS),
) -> Verdict:
    """Recompute the chain over ``rows`` (ordered by seq) and report the first break.

    A row is bad when its seq is not the next number (deleted or inserted rows), when its
    ``prev_hash`` is not the previous row's hash (reordered or removed rows), or when its hash
    does not match its content (changed rows). Each hash is first computed from the stored
    text (:func:`stored_event_hash`); only a row that does not match that way is parsed and
    hashed as :func:`event_hash` defines it, before it is called bad.

    ``since`` is a checkpoint, the (seq, hash) of an event proven earlier: rows before it are
    skipped, the event at its seq must still carry its hash, and only the rows after it are
    recomputed.
    """
    start, prev = since
    rows = iter(rows)
    if start:
        if (reason := _mismatch(since, next((r for r in rows if r[0] >= start), None))) is not None:
            return Verdict(0, prev, start, reason, start)
    expected, by_value = start + 1, 0
    for seq, time, actor, action, subject, details, prev_hash, hash_ in rows:
        if seq != expected:
            reason = f"expected seq {expected}, found {seq}"
            return Verdict(expected - start - 1, prev, seq, reason, expected - 1, by_value)
        if prev_hash != prev:
            reason = "prev_hash does not match the previous event"
            return Verdict(expected - start - 1, prev, seq, reason, expected - 1, by_value)
        if stored_event_hash(prev, seq, time, actor, action, subject, details) != hash_:
            if reason := _recomputed(prev, seq, time, actor, action, subject, details, hash_):
                return Verdict(expected - start - 1, prev, seq, reason, expected - 1, by_value)
            by_value += 1
        prev, expected = hash_, expected + 1
    return Verdict(expected - start - 1, prev, seq=expected - 1, by_value=by_value)


def _mismatch(since: tuple[int, str], row: tuple | None) -> str | None:
    """Why ``row``, the first at or after the checkpoint ``since``, does not bear it out."""
    seq, hash_ = since
    if row is None or row[0] != seq:
        return f"the log has no event {seq}, the checkpoint's (removed, or another log)"
    if row[7] != hash_:
        return f"event {seq} has hash {row[7]}, the checkpoint says {hash_} (rewritten)"
    return None


def _recomputed(
    prev: str, seq: int, time: str, actor: str, action: str, subject: str, details: str, hash_: str
) -> str | None:
    """Why the event does not hash as :func:`event_hash` defines, or None if it does."""
    try:
        parsed = json.loads(details)
    except ValueError:
        return "details are not valid JSON"
    if event_hash(prev, seq, time, actor, action, subject, parsed) != hash_:
        return "hash does not match the event's content"
    return None


def chain_rows(session: Session, first: int = 1, last: int | None = None) -> Iterator[tuple]:
    """The events from seq ``first`` to ``last`` (or the newest) as plain tuples in seq order,
    streamed.

    On SQLite through the driver's own cursor, which skips building a Core ``Row`` for each
    of a million events (docs/benchmarks.md). Elsewhere through Core with ``yield_per``,
    which on PostgreSQL is a server-side cursor, so a million rows are never all in memory.
    Either is closed even when the caller stops early (verify at the first bad event).
    """
    bound = last if last is not None else _NO_END
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_CHAIN_SQL, (first, bound))
            while batch := cursor.fetchmany(_BATCH):
                yield from batch
        finally:
            cursor.close()
        return
    table = AuditEvent.__table__
    query = (
        sa.select(*(table.c[c] for c in EXPORT_COLUMNS))
        .where(table.c.seq.between(first, bound))
        .order_by(table.c.seq)
    )
    with connection.execution_options(yield_per=_BATCH).execute(query) as rows:
        yield from rows


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
    """One event (a model, or a tuple of :func:`chain_rows`) as a JSON-ready dict, details
    parsed."""
    values = row if isinstance(row, tuple) else (getattr(row, c) for c in EXPORT_COLUMNS)
    out = dict(zip(EXPORT_COLUMNS, values, strict=True))
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
