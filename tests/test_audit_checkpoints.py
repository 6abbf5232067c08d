"""Checkpoints, ``--since``, the export file check, and the fast path that finds the same breaks.

``tests/test_audit.py`` tampers with a chain the CLI wrote and expects the break named; these
tests add what issue 14 changed: verification hashes the stored text first, proves a long
chain in two processes, starts from a checkpoint kept outside the database, and reads an
export back without the database.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from posts import audit, checkpoints
from posts.store import Store
from tests.conftest import HELPLINE, Signpost, add_post, error_line
from tests.database import TestDatabase
from tests.test_audit import broken_at, tamper


@pytest.fixture
def history(signpost: Signpost, campaign: str) -> Signpost:
    """Init, campaign, then three posts added and submitted (seq 1..8)."""
    for n in range(3):
        post = add_post(signpost, f"Help {n}: {HELPLINE}")
        assert signpost("alice", "post", "submit", str(post["id"])).exit_code == 0
    return signpost


def verified(signpost: Signpost, *args: str) -> dict:
    result = signpost("bob", "audit", "verify", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def checkpoint_of(signpost: Signpost, *args: str) -> str:
    result = signpost("bob", "audit", "checkpoint", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_verify_prints_its_head_as_a_checkpoint_that_checkpoint_prints_too(history: Signpost):
    verdict = verified(history)
    assert verdict["ok"] and verdict["events"] == 8 and verdict["by_value"] == 0
    assert verdict["checkpoint"] == f"signpost-audit:8:{verdict['head']}"
    assert checkpoint_of(history) == verdict["checkpoint"]
    table = history("bob", "audit", "verify")
    assert table.stdout == f"audit log OK: 8 events, head {verdict['checkpoint']}\n"


def test_since_a_checkpoint_proves_only_what_came_after(history: Signpost, db_path: TestDatabase):
    kept = checkpoint_of(history)
    add_post(history, f"Later: {HELPLINE}")
    after = verified(history, "--since", kept)
    assert after["events"] == 1 and after["since"] == kept
    assert after["checkpoint"] == verified(history)["checkpoint"]
    # a checkpoint taken from the last one extends it: the daily job
    assert checkpoint_of(history, "--since", kept) == after["checkpoint"]

    tamper(db_path, "UPDATE audit_event SET actor = 'mallory' WHERE seq = 9")
    assert broken_at(history) == (9, "hash does not match the event's content")
    result = history("bob", "audit", "verify", "--since", kept)
    assert "audit chain broken at seq 9" in error_line(result)
    assert "0 event(s) after seq 8 verify" in error_line(result)


def test_since_names_a_checkpoint_the_log_no_longer_bears_out(
    history: Signpost, db_path: TestDatabase
):
    kept = checkpoint_of(history)
    # rewritten from before the checkpoint: its event now has another hash
    tamper(db_path, "UPDATE audit_event SET hash = upper(hash) WHERE seq = 8")
    line = error_line(history("bob", "audit", "verify", "--since", kept))
    kept_hash = kept.rsplit(":", 1)[1]
    assert line == (
        f"audit chain broken at seq 8: event 8 has hash {kept_hash.upper()}, the checkpoint"
        f" says {kept_hash} (rewritten) (0 event(s) after seq 8 verify)"
    )
    # the newest events removed: the checkpoint's event is gone
    tamper(db_path, "DELETE FROM audit_event WHERE seq >= 7")
    line = error_line(history("bob", "audit", "checkpoint", "--since", kept))
    assert line.startswith("audit chain broken at seq 8: the log has no event 8")


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "signpost-audit:12",
        "signpost-audit:12:" + "a" * 63,
        "signpost-audit:-1:" + "a" * 64,
        "signpost-audit:0:" + "a" * 64,  # seq 0 is only ever the genesis hash
        "signpost-audit:3:" + "A" * 64,
    ],
)
def test_a_garbage_checkpoint_gets_one_line(history: Signpost, text: str):
    for command in ("verify", "checkpoint"):
        line = error_line(history("bob", "audit", command, "--since", text))
        assert line.startswith(f"--since '{text}': expected a checkpoint like signpost-audit:")


def test_the_start_of_the_log_is_a_checkpoint_too(history: Signpost):
    start = f"signpost-audit:0:{audit.GENESIS}"
    assert verified(history, "--since", start)["events"] == 8


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        pytest.param(
            "UPDATE audit_event SET hash = upper(hash) WHERE seq = 5",
            "hash does not match the event's content",
            id="changed-hash",
        ),
        pytest.param(
            "UPDATE audit_event SET details = '{\"text\": ' WHERE seq = 5",
            "details are not valid JSON",
            id="garbage-details",
        ),
        pytest.param(
            """UPDATE audit_event SET details = replace(details, '"revision"\\:1', '"revision"\\:2')
               WHERE seq = 5""",
            "hash does not match the event's content",
            id="changed-number",
        ),
    ],
)
def test_the_fast_path_names_a_changed_row(
    history: Signpost, db_path: TestDatabase, statement: str, reason: str
):
    tamper(db_path, statement)
    assert broken_at(history) == (5, reason)


def test_details_stored_in_another_form_of_the_same_json_verify_by_value(
    history: Signpost, db_path: TestDatabase
):
    """What an older version might have stored: spaces and another key order. The hash is
    over the value, so it verifies; it is counted, so an auditor can see it."""
    [(details,)] = db_path.execute("SELECT details FROM audit_event WHERE seq = 3")
    value = json.loads(details)
    loose = json.dumps(dict(reversed(list(value.items()))), indent=1)
    assert loose != details
    db_path.execute("UPDATE audit_event SET details = :d WHERE seq = 3", {"d": loose})
    result = history("bob", "audit", "verify", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["by_value"] == 1
    assert "1 of them are stored as other JSON text than was hashed" in result.stderr
    # a change of value in that form is still found
    db_path.execute(
        "UPDATE audit_event SET details = :d WHERE seq = 3",
        {"d": loose.replace("Help 0", "Fun 0")},
    )
    assert broken_at(history) == (3, "hash does not match the event's content")


def chain(count: int, actor: str = "alice") -> list[tuple]:
    """``count`` valid rows as the store holds them, hashed as ``event_hash`` defines."""
    start, rows, prev = datetime(2026, 1, 1, tzinfo=UTC), [], audit.GENESIS
    for seq in range(1, count + 1):
        time = (start + timedelta(seconds=seq)).isoformat(timespec="microseconds")
        details = {"text": f"Café {seq}", "n": seq}
        digest = audit.event_hash(prev, seq, time, actor, "post.add", f"post:{seq}", details)
        text = audit.canonical_json(details).decode()
        rows.append((seq, time, actor, "post.add", f"post:{seq}", text, prev, digest))
        prev = digest
    return rows


def test_strings_not_in_nfc_verify_by_value():
    """Hashed as NFC, stored as typed on another keyboard: equal text, so it verifies."""
    rows = [
        (*row[:5], unicodedata.normalize("NFD", row[5]), *row[6:]) if row[0] == 2 else row
        for row in chain(3)
    ]
    assert rows[1][5] != chain(3)[1][5]
    verdict = audit.verify(rows)
    assert verdict.ok and verdict.count == 3 and verdict.by_value == 1


def test_the_stored_text_hash_is_the_defined_hash():
    for seq, time, actor, action, subject, details, prev, digest in chain(5, actor='a "quoted"\n'):
        assert audit.stored_event_hash(prev, seq, time, actor, action, subject, details) == digest


@pytest.fixture
def long_chain(initialised: Signpost, database: TestDatabase) -> Iterator[Store]:
    """A store whose log is a valid chain of 40 events, written in bulk behind our back."""
    database.execute("DELETE FROM audit_event")
    with database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_event VALUES"
                " (:seq, :time, :actor, :action, :subject, :details, :prev_hash, :hash)"
            ),
            [dict(zip(audit.EXPORT_COLUMNS, row, strict=True)) for row in chain(40)],
        )
    store = Store(database.url)
    yield store
    store.close()


def proven(store: Store, since: checkpoints.Checkpoint = checkpoints.START) -> tuple:
    """The verdict in two processes and in one; they must agree."""
    with store.read() as session:
        split = checkpoints.prove(session, since, split_from=2)
        single = checkpoints.prove(session, since, split_from=10**9)
    assert split == single
    return split.count, split.seq, split.bad_seq, split.reason


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        pytest.param(None, (40, 40, None, None), id="intact"),
        pytest.param(
            "UPDATE audit_event SET actor = 'mallory' WHERE seq = 7",
            (6, 6, 7, "hash does not match the event's content"),
            id="older-half",
        ),
        pytest.param(
            "UPDATE audit_event SET actor = 'mallory' WHERE seq = 33",
            (32, 32, 33, "hash does not match the event's content"),
            id="newer-half",
        ),
        pytest.param(
            "UPDATE audit_event SET hash = upper(hash) WHERE seq = 20",
            (19, 19, 20, "hash does not match the event's content"),
            id="the-middle",
        ),
        pytest.param(
            "DELETE FROM audit_event WHERE seq = 21",
            (20, 20, 22, "expected seq 21, found 22"),
            id="after-the-middle-deleted",
        ),
    ],
)
def test_two_processes_find_what_one_finds(
    long_chain: Store, database: TestDatabase, statement: str | None, found: tuple
):
    if statement:
        database.execute(statement)
    assert proven(long_chain) == found


def test_two_processes_from_a_checkpoint(long_chain: Store, database: TestDatabase):
    [(hash_,)] = database.execute("SELECT hash FROM audit_event WHERE seq = 10")
    assert proven(long_chain, checkpoints.Checkpoint(10, hash_)) == (30, 40, None, None)
    database.execute("UPDATE audit_event SET actor = 'mallory' WHERE seq = 5")  # before it
    assert proven(long_chain, checkpoints.Checkpoint(10, hash_)) == (30, 40, None, None)
    database.execute("UPDATE audit_event SET actor = 'mallory' WHERE seq = 36")
    assert proven(long_chain, checkpoints.Checkpoint(10, hash_))[2] == 36


# --- the export, checked without the database ------------------------------------------------


@pytest.fixture
def exports(history: Signpost, tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for fmt in ("csv", "jsonl"):
        paths[fmt] = tmp_path / f"foi.{fmt}"
        result = history("bob", "audit", "export", "--format", fmt, "--output", str(paths[fmt]))
        assert result.exit_code == 0, result.stderr
    return paths


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_verifies_without_the_database(
    history: Signpost, exports: dict[str, Path], tmp_path: Path, fmt: str
):
    head = verified(history)["checkpoint"]
    missing = tmp_path / "no-such-config.toml"
    result = history(None, "audit", "verify", "--file", str(exports[fmt]), config=missing)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{exports[fmt]} OK: 8 events, head {head}\n"
    # as a spreadsheet saves it: a byte order mark and CRLF line ends
    exports[fmt].write_bytes(
        b"\xef\xbb\xbf" + exports[fmt].read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    again = history(None, "audit", "verify", "--file", str(exports[fmt]), config=missing)
    assert again.stdout == result.stdout, again.stderr
    fifth = f"signpost-audit:5:{_hash_at(exports['jsonl'], 5)}"
    assert checkpoint_of(history, "--file", str(exports[fmt]), "--since", fifth) == head


def _hash_at(jsonl: Path, seq: int) -> str:
    return json.loads(jsonl.read_text(encoding="utf-8").splitlines()[seq - 1])["hash"]


def test_a_tampered_export_is_named_by_seq_and_line(history: Signpost, exports: dict[str, Path]):
    lines = exports["jsonl"].read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[5])
    event["details"]["to"] = "approved"
    lines[5] = json.dumps(event, ensure_ascii=False)
    exports["jsonl"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = error_line(history(None, "audit", "verify", "--file", str(exports["jsonl"])))
    assert line == (
        f"audit chain broken at seq 6 ({exports['jsonl']}, line 6): hash does not match the"
        " event's content (5 event(s) before it verify)"
    )

    text = (
        exports["csv"]
        .read_text(encoding="utf-8")
        .replace(",alice,post.add,", ",carol,post.add,", 1)
    )
    exports["csv"].write_text(text, encoding="utf-8")
    line = error_line(history(None, "audit", "verify", "--file", str(exports["csv"])))
    assert line.startswith(f"audit chain broken at seq 3 ({exports['csv']}, line 4): hash does")


def line_replaced(index: int, new: str) -> Callable[[str], str]:
    """A damage: line ``index`` (0-based) of the file replaced by ``new``."""

    def damage(text: str) -> str:
        lines = text.splitlines()
        lines[index] = new
        return "\n".join(lines) + "\n"

    return damage


@pytest.mark.parametrize(
    ("fmt", "damage", "problem"),
    [
        pytest.param(
            "csv",
            lambda t: t.replace(",prev_hash,hash", ",hash", 1),
            "line 1: missing column(s) prev_hash: the first line of a CSV export names its"
            " columns, seq,time,actor,action,subject,details,prev_hash,hash",
            id="csv-missing-column",
        ),
        pytest.param(
            "csv",
            line_replaced(3, "not,an,event"),
            "line 4: 3 field(s), the header names 8",
            id="csv-short-line",
        ),
        pytest.param(
            "jsonl",
            line_replaced(2, "{garbage"),
            "line 3: not a JSON object (each line of a JSON Lines export is an event)",
            id="jsonl-garbage-line",
        ),
        pytest.param(
            "jsonl",
            lambda t: t.replace('"seq": 2,', '"seq": "two",', 1),
            "line 2: seq 'two' is not a whole number",
            id="jsonl-bad-seq",
        ),
        pytest.param(
            "jsonl",
            lambda t: t.replace(', "hash": "', ', "digest": "', 1),
            "line 1: missing hash (an event has seq,time,actor,action,subject,details,"
            "prev_hash,hash)",
            id="jsonl-missing-key",
        ),
    ],
)
def test_a_bad_export_gets_one_line_naming_the_file_and_line(
    history: Signpost,
    exports: dict[str, Path],
    fmt: str,
    damage: Callable[[str], str],
    problem: str,
):
    path = exports[fmt]
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert error_line(history(None, "audit", "verify", "--file", str(path))) == f"{path}, {problem}"


def test_an_unreadable_export_gets_one_line(history: Signpost, tmp_path: Path):
    missing = tmp_path / "nowhere.csv"
    line = error_line(history(None, "audit", "verify", "--file", str(missing)))
    assert line == f"{missing}: cannot be read (No such file or directory)"
    binary = tmp_path / "photo.jsonl"
    binary.write_bytes(b"\xff\xd8\xff\xe0 a photo, not an export\n")
    line = error_line(history(None, "audit", "verify", "--file", str(binary)))
    assert line == f"{binary}, line 1: not UTF-8 text"
