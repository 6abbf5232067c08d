"""Password sign-in accounts (issue 12, auth = "password"): ``signpost users``.

A user sets their own password, an admin anyone's; the password is read from stdin (or asked
for twice), stored only as an argon2id hash, and audited without the password or the hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from posts import accounts
from posts.store import Store
from tests.conftest import Signpost, error_line
from tests.database import TestDatabase
from tests.shared import as_json, cli, clock  # noqa: F401  (fixtures)

ALICE_PASSWORD = "correct horse battery"
DAVE_PASSWORD = "staple for dave's account"


@pytest.fixture
def users(cli: Signpost) -> Signpost:  # noqa: F811
    """The CLI on an initialised database."""
    result = cli("carol", "init")
    assert result.exit_code == 0, result.stderr
    return cli


@pytest.fixture
def store(database: TestDatabase, users: Signpost) -> Iterator[Store]:
    store = Store(database.url)
    yield store
    store.close()


def set_password(run: Signpost, actor: str, name: str, password: str):
    return run(actor, "users", "set-password", name, input=f"{password}\n")


def listed(run: Signpost) -> dict[str, dict]:
    return {row["user"]: row for row in as_json(run("bob", "users", "list", "--format", "json"))}


def test_a_user_sets_their_own_password_from_stdin(users, store):
    result = set_password(users, "alice", "alice", ALICE_PASSWORD)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "password set for alice" in result.stderr
    with store.read() as session:
        assert accounts.check_password(session, "alice", ALICE_PASSWORD)
        assert not accounts.check_password(session, "alice", ALICE_PASSWORD + "!")
        assert not accounts.check_password(session, "bob", ALICE_PASSWORD)
        assert not accounts.check_password(session, "mallory", ALICE_PASSWORD)


def test_an_admin_sets_anyones_password(users, store):
    result = set_password(users, "carol", "dave", DAVE_PASSWORD)

    assert result.exit_code == 0, result.stderr
    with store.read() as session:
        assert accounts.check_password(session, "dave", DAVE_PASSWORD)


def test_setting_it_again_replaces_the_old_one(users, store):
    assert set_password(users, "alice", "alice", ALICE_PASSWORD).exit_code == 0
    assert set_password(users, "alice", "alice", DAVE_PASSWORD).exit_code == 0

    with store.read() as session:
        assert accounts.check_password(session, "alice", DAVE_PASSWORD)
        assert not accounts.check_password(session, "alice", ALICE_PASSWORD)


def test_someone_else_may_not_set_another_users_password(users):
    result = set_password(users, "bob", "alice", ALICE_PASSWORD)

    line = error_line(result, 3)
    assert "bob" in line and "alice" in line and "admin" in line
    assert ALICE_PASSWORD not in result.stderr
    assert listed(users)["alice"]["password"] is False


def test_a_user_the_config_does_not_know_is_refused(users):
    result = set_password(users, "carol", "mallory", ALICE_PASSWORD)

    line = error_line(result, 3)
    assert "'mallory'" in line and "[users]" in line
    assert "mallory" not in listed(users)


def test_a_short_password_is_refused(users):
    result = set_password(users, "alice", "alice", "too short")

    line = error_line(result, 1)
    assert "at least 12" in line
    assert "too short" not in line
    assert listed(users)["alice"]["password"] is False


def test_the_audit_event_holds_neither_the_password_nor_the_hash(users, store):
    assert set_password(users, "carol", "dave", DAVE_PASSWORD).exit_code == 0

    events = as_json(users("bob", "audit", "log", "--format", "json"))
    [event] = [e for e in events if e["action"] == "user.set_password"]
    assert event["actor"] == "carol"
    assert event["subject"] == "user:dave"
    exported = users("bob", "audit", "export", "--format", "jsonl").stdout
    with store.read() as session:
        stored = accounts.list_accounts(session, {"dave": ("approver",)})
    assert stored[0]["password"] is True
    from posts.models import Password

    with store.read() as session:
        digest = session.get(Password, "dave").hash
    assert digest.startswith("$argon2id$")
    for text in (json.dumps(event), exported):
        assert DAVE_PASSWORD not in text
        assert digest not in text
        assert "$argon2" not in text
    assert users("bob", "audit", "verify").exit_code == 0


def test_users_list_shows_who_has_a_password(users):
    assert set_password(users, "alice", "alice", ALICE_PASSWORD).exit_code == 0

    rows = listed(users)
    assert sorted(rows) == ["alice", "bob", "carol", "dave"]
    assert rows["alice"]["password"] is True
    assert rows["alice"]["roles"] == ["author"]
    assert rows["alice"]["updated"].startswith("2026-03-01T12:00:00")
    assert rows["bob"]["password"] is False
    assert rows["bob"]["updated"] is None

    table = users("bob", "users", "list")
    assert table.exit_code == 0, table.stderr
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in table.stdout.splitlines()]
    password = {row[0]: row[2] for row in cells if row}
    assert password == {"alice": "yes", "bob": "no", "carol": "no", "dave": "no"}, table.stdout


# --- at a real terminal ----------------------------------------------------------------------


def at_a_terminal(config_path: str, answers: list[str]) -> tuple[int, str]:
    """``signpost users set-password alice`` on a pseudo-terminal, answering each prompt.

    An answer is typed only once its prompt is on the screen: getpass flushes what was
    typed ahead. The child gets a session of its own, so it asks on this terminal (its
    stdin) and not on whatever terminal runs the tests.
    """
    import os
    import pty
    import select
    import subprocess
    import sys
    import time
    from pathlib import Path

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    command = [str(Path(sys.executable).with_name("signpost")), "--config", config_path]
    proc = subprocess.Popen(
        [*command, "users", "set-password", "alice"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "SIGNPOST_ACTOR": "alice"},
        start_new_session=True,
    )
    os.close(slave)
    seen, pending = b"", list(answers)
    # the whole prompt: click writes "NAME:" first and the space once echo is off
    prompts = (b"New password for alice: ", b"The same again: ")
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 1024)
            except OSError:  # the child closed the terminal
                break
            seen += chunk
            asked = sum(seen.count(p) for p in prompts)
            if pending and asked > len(answers) - len(pending):
                os.write(master, pending.pop(0).encode() + b"\n")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(10), seen.decode(errors="replace")


def test_at_a_terminal_the_password_is_asked_twice_and_never_echoed(
    users: Signpost, store: Store, config_file
) -> None:
    code, screen = at_a_terminal(str(config_file), [ALICE_PASSWORD, ALICE_PASSWORD])

    assert code == 0, screen
    assert "New password for alice:" in screen and "The same again:" in screen
    assert "password set for alice" in screen
    assert ALICE_PASSWORD not in screen
    with store.read() as session:
        assert accounts.check_password(session, "alice", ALICE_PASSWORD)


def test_at_a_terminal_two_different_answers_change_nothing(
    users: Signpost, store: Store, config_file
) -> None:
    code, screen = at_a_terminal(str(config_file), [ALICE_PASSWORD, DAVE_PASSWORD])

    assert code == 1, screen
    assert "error: the two passwords for alice differ: nothing changed" in screen
    assert "Traceback" not in screen
    with store.read() as session:
        assert not accounts.check_password(session, "alice", ALICE_PASSWORD)
        assert not accounts.check_password(session, "alice", DAVE_PASSWORD)
