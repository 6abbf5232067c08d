"""The audit chain catches every kind of tampering done behind Signpost's back."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posts import audit
from posts.store import Store
from tests.conftest import HELPLINE, Signpost, add_post
from tests.database import TestDatabase


@pytest.fixture
def history(signpost: Signpost, campaign: str) -> Signpost:
    """A few real events: init, campaign, add, submit, approve (seq 1..5)."""
    post = add_post(signpost, f"Help: {HELPLINE}")
    assert signpost("alice", "post", "submit", str(post["id"])).exit_code == 0
    assert signpost("bob", "post", "approve", str(post["id"]), "--revision", "1").exit_code == 0
    assert signpost("bob", "audit", "verify").exit_code == 0
    return signpost


def tamper(db: TestDatabase, *statements: str) -> None:
    """Run raw SQL behind Signpost's back, each statement committed on its own."""
    for sql in statements:
        db.execute(sql)


def broken_at(signpost: Signpost) -> tuple[int, str]:
    result = signpost("bob", "audit", "verify", "--format", "json")
    verdict = json.loads(result.stdout)
    assert result.exit_code == 1
    assert verdict["ok"] is False
    assert f"audit chain broken at seq {verdict['bad_seq']}" in result.stderr
    return verdict["bad_seq"], verdict["reason"]


@pytest.mark.parametrize(
    ("statement", "seq", "reason"),
    [
        pytest.param(
            "UPDATE audit_event SET actor = 'carol' WHERE seq = 5",
            5,
            "hash does not match the event's content",
            id="changed-row",
        ),
        pytest.param(
            "DELETE FROM audit_event WHERE seq = 3", 4, "expected seq 3, found 4", id="deleted-row"
        ),
    ],
)
def test_a_changed_or_deleted_row_is_named_and_why(
    history: Signpost, db_path: TestDatabase, statement: str, seq: int, reason: str
):
    tamper(db_path, statement)
    assert broken_at(history) == (seq, reason)


@pytest.mark.parametrize(
    ("statements", "seq"),
    [
        pytest.param(
            [
                """UPDATE audit_event SET details = replace(details, 'Help', 'Fun')
                       WHERE seq = 3"""
            ],
            3,
            id="changed-details",
        ),
        pytest.param(
            [
                "UPDATE audit_event SET seq = seq + 100 WHERE seq >= 4",
                "UPDATE audit_event SET seq = seq - 99 WHERE seq >= 100",
                """INSERT INTO audit_event SELECT 4, time, 'mallory', action, subject, details,
           prev_hash, hash FROM audit_event WHERE seq = 3""",
            ],
            4,
            id="inserted-row",
        ),
        pytest.param(
            [
                "UPDATE audit_event SET seq = -1 WHERE seq = 3",
                "UPDATE audit_event SET seq = 3 WHERE seq = 4",
                "UPDATE audit_event SET seq = 4 WHERE seq = -1",
            ],
            3,
            id="reordered-rows",
        ),
    ],
)
def test_tampering_breaks_the_chain_where_it_was_done(
    history: Signpost, db_path: TestDatabase, statements: list[str], seq: int
):
    tamper(db_path, *statements)
    assert broken_at(history)[0] == seq


def test_changed_row_with_recomputed_hash_breaks_the_next_link(
    history: Signpost, db_path: TestDatabase
):
    [(seq, time, _actor, action, subject, details, prev, _)] = db_path.execute(
        "SELECT seq, time, actor, action, subject, details, prev_hash, hash"
        " FROM audit_event WHERE seq = 4"
    )
    forged = audit.event_hash(prev, seq, time, "carol", action, subject, json.loads(details))
    db_path.execute(
        "UPDATE audit_event SET actor = 'carol', hash = :hash WHERE seq = 4", {"hash": forged}
    )
    assert broken_at(history) == (5, "prev_hash does not match the previous event")


def test_export_carries_the_chain(history: Signpost, tmp_path: Path):
    out = tmp_path / "foi.csv"
    result = history("bob", "audit", "export", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0
    assert "exported 5 audit event(s)" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["action"] for r in rows] == [
        "database.init",
        "campaign.add",
        "post.add",
        "post.submit",
        "post.approve",
    ]
    # Whoever receives the export can check the chain without our database.
    verdict = audit.verify(
        (
            int(r["seq"]),
            r["time"],
            r["actor"],
            r["action"],
            r["subject"],
            r["details"],
            r["prev_hash"],
            r["hash"],
        )
        for r in rows
    )
    assert verdict.ok and verdict.count == 5

    jsonl = history("bob", "audit", "export", "--format", "jsonl")
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4, 5]
    assert lines[2]["details"]["text"] == f"Help: {HELPLINE}"


def test_export_refuses_unknown_format(history: Signpost):
    result = history("bob", "audit", "export", "--format", "xml")
    assert result.exit_code == 1
    assert "--format 'xml': expected csv or jsonl" in result.stderr


def test_nothing_secret_in_the_log(history: Signpost, tmp_path: Path):
    # The config names token variables; their values must never reach the audit log.
    exported = history("bob", "audit", "export", "--format", "jsonl").stdout
    assert "SIGNPOST_TEST_" not in exported


events = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=8),
        st.sampled_from(["post.add", "post.edit", "post.approve"]),
        st.dictionaries(
            st.text(max_size=5), st.one_of(st.text(), st.integers(), st.none()), max_size=3
        ),
    ),
    min_size=1,
    max_size=12,
)


@given(events, st.data())
def test_chain_detects_any_single_change(items, data):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows, prev = [], audit.GENESIS
    for seq, (actor, action, details) in enumerate(items, start=1):
        time = (start + timedelta(seconds=seq)).isoformat(timespec="microseconds")
        canonical = audit.canonical_json(details).decode()
        digest = audit.event_hash(prev, seq, time, actor, action, "post:1", details)
        rows.append((seq, time, actor, action, "post:1", canonical, prev, digest))
        prev = digest
    assert audit.verify(rows).ok
    assert audit.verify(rows).head == prev

    victim = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    changed = list(rows)
    row = list(changed[victim])
    row[2] = row[2] + "x"
    changed[victim] = tuple(row)
    assert audit.verify(changed).bad_seq == victim + 1

    if len(rows) > 1:
        swapped = list(rows)
        swapped[victim], swapped[victim - 1] = swapped[victim - 1], swapped[victim]
        assert not audit.verify(swapped).ok


def test_a_transaction_opened_for_a_request_marks_every_event_with_its_origin(
    history: Signpost, database: TestDatabase
):
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    store = Store(database.url)
    try:
        with store.transaction() as session:
            session.info[audit.CONTEXT] = {"via": "web", "address": "192.0.2.7"}
            for action in ("user.sign_in", "post.approve"):
                audit.record(session, now=now, actor="bob", action=action, subject="post:1")
        with store.transaction() as session:
            audit.record(session, now=now, actor="bob", action="post.cancel", subject="post:1")
    finally:
        store.close()

    log = json.loads(history("bob", "audit", "log", "--limit", "3", "--format", "json").stdout)
    by_action = {e["action"]: e["details"] for e in log}
    assert by_action["user.sign_in"] == {"via": "web", "address": "192.0.2.7"}
    assert by_action["post.approve"] == {"via": "web", "address": "192.0.2.7"}
    assert by_action["post.cancel"] == {}
    assert history("bob", "audit", "verify").exit_code == 0


def test_an_event_is_stored_as_it_was_hashed_even_when_typed_decomposed(
    history: Signpost, database: TestDatabase
):
    """The chain appends hash the stored text once (audit.link); what they store must still
    hash as event_hash defines it, and verify by the fast path, for text typed in NFD."""
    decomposed = "Cafe\u0301"  # "Café" with a combining accent, as some keyboards type it
    store = Store(database.url)
    try:
        with store.transaction() as session:
            audit.record(
                session,
                now=datetime(2026, 12, 3, 12, tzinfo=UTC),
                actor="bob",
                action="campaign.edit",
                subject=f"campaign:{decomposed}",
                details={"name": decomposed, decomposed: [decomposed]},
            )
        with store.read() as session:
            rows = list(audit.chain_rows(session))
            verdict = audit.verify(rows)
    finally:
        store.close()
    seq, time, actor, action, subject, details, prev_hash, hash_ = rows[-1]
    assert subject == "campaign:Caf\u00e9"
    assert json.loads(details) == {"name": "Caf\u00e9", "Caf\u00e9": ["Caf\u00e9"]}
    assert hash_ == audit.event_hash(
        prev_hash, seq, time, actor, action, f"campaign:{decomposed}", json.loads(details)
    )
    assert verdict.ok and verdict.by_value == 0
