"""Checkpoints of the audit chain, and proving the stored chain from one.

A checkpoint is the chain's head at some event, written ``signpost-audit:SEQ:HASH``, like a
transparency log's tree head. Kept outside the database (an email to information
governance, a ticket, a file on another machine), it proves later that nothing up to it was
rewritten: the event at SEQ must still carry HASH, and every event after it must chain from
it. It also lets a daily check start there instead of at the first event.

Checkpoints are not stored: one kept in the same database proves nothing against whoever can
rewrite the database, and one kept elsewhere needs no table (docs/decisions.md).
"""

from __future__ import annotations

import multiprocessing
import os
import re
from multiprocessing.connection import Connection
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from posts import audit
from posts.errors import SignpostError, UserError
from posts.models import AuditEvent
from posts.store import Store

PREFIX = "signpost-audit"
_FORM = re.compile(rf"{PREFIX}:(0|[1-9][0-9]*):([0-9a-f]{{64}})")
#: From this many events after the checkpoint on, a second process proves the newer half.
SPLIT_FROM = 200_000


class Checkpoint(NamedTuple):
    """The head of the chain at event ``seq``: that event's ``hash``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{PREFIX}:{self.seq}:{self.hash}"


#: The checkpoint before the first event: proving from it proves the whole chain.
START = Checkpoint(0, audit.GENESIS)


def parse(text: str, option: str = "--since") -> Checkpoint:
    """The checkpoint ``text`` names; a one-line ``UserError`` naming ``option`` if none."""
    found = _FORM.fullmatch(text.strip())
    if found is None or (found[1] == "0") != (found[2] == audit.GENESIS):
        shown = text if len(text) <= 100 else f"{text[:97]}..."
        raise UserError(
            f"{option} '{shown}': expected a checkpoint like {PREFIX}:1234:<64 hex digits>,"
            " as 'signpost audit checkpoint' prints it"
        )
    return Checkpoint(int(found[1]), found[2])


def head(verdict: audit.Verdict) -> Checkpoint:
    """The checkpoint of the last event ``verdict`` proved (of its checkpoint if none)."""
    return Checkpoint(verdict.seq, verdict.head)


def prove(
    session: Session, since: Checkpoint = START, *, split_from: int = SPLIT_FROM
) -> audit.Verdict:
    """Verify the stored chain after ``since`` (``posts.audit.verify``); the verdict.

    A long chain is proven in two processes at once, the newer half from a checkpoint at
    the middle event, taken as stored, while this process proves the older half up to that
    event. The older half proving that event's stored hash is what makes the split sound:
    together they are the same proof as one pass, and the first break is named just as one
    pass names it. Verifying is CPU-bound (a SHA-256 and the reading of every event), so a
    second core halves the time of a million events. Where a second process cannot be
    started or fails, this process proves the rest itself.
    """
    first = since.seq or 1
    middle = _middle(session, since, split_from)
    if middle is None:
        return audit.verify(audit.chain_rows(session, first), since)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    url = session.get_bind().url.render_as_string(hide_password=False)
    worker = context.Process(target=_prove_from, args=(url, middle, sender), daemon=True)
    worker.start()
    sender.close()
    try:
        older = audit.verify(audit.chain_rows(session, first, middle.seq), since)
        if not older.ok:
            return older
        newer = _received(receiver) if head(older) == middle else None
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        receiver.close()
    if newer is None:  # no second process, or the middle changed while we read it
        newer = audit.verify(audit.chain_rows(session, older.seq), head(older))
    return audit.Verdict(
        older.count + newer.count,
        newer.head,
        newer.bad_seq,
        newer.reason,
        newer.seq,
        older.by_value + newer.by_value,
    )


def _middle(session: Session, since: Checkpoint, split_from: int) -> Checkpoint | None:
    """Where to split the proof after ``since``, as stored; None to prove it in one pass."""
    if "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return None
    table = AuditEvent.__table__
    newest = session.execute(sa.select(sa.func.max(table.c.seq))).scalar() or 0
    if newest - since.seq < split_from:
        return None
    seq = (since.seq + newest) // 2
    stored = session.execute(sa.select(table.c.hash).where(table.c.seq == seq)).scalar()
    return Checkpoint(seq, stored) if stored is not None else None


def _prove_from(url: str, middle: Checkpoint, sender: Connection) -> None:
    """The second process: prove the chain after ``middle`` and send the verdict.

    Forked, it opens a store of its own and never touches the parent's connections. On any
    database error it sends nothing, and the parent proves this half itself.
    """
    store = Store(url)
    try:
        with store.read() as session:
            sender.send(audit.verify(audit.chain_rows(session, middle.seq), middle))
    except (SignpostError, sa.exc.SQLAlchemyError, OSError):
        pass
    finally:
        store.close()
        sender.close()


def _received(receiver: Connection) -> audit.Verdict | None:
    """The second process's verdict, or None if it ended without one."""
    try:
        return receiver.recv()
    except EOFError:
        return None
