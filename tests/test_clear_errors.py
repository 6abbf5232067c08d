"""What users meet when something around Signpost is wrong: one clear line, never a traceback.

A second daemon on a health port that is taken, a database file that is damaged or not a
database at all, a read command run before 'signpost init', and a 'daemon --once' run in
which a delivery failed. Each says so in one line, exits 1, and changes nothing on disk.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from posts.store import SCHEMA_REVISION
from scheduler.cli import app
from tests.conftest import Signpost, dump, error_line, team_config, where
from tests.database import TestDatabase, sqlite_database
from tests.test_daemon import SECRET, TEXT, Receiver, Workspace, wait_until

BUSY = "port already in use (is another Signpost process running?)"

# Read commands, and the daemon, which all need a database that 'signpost init' made.
NEEDS_A_DATABASE = [
    ["status"],
    ["post", "list"],
    ["post", "show", "1"],
    ["deliveries", "list"],
    ["audit", "log"],
    ["audit", "verify"],
    ["calendar"],
    ["report", "--campaign", "stop-it-now"],
    ["campaign", "list"],
    ["campaign", "show", "stop-it-now"],
    ["daemon", "--once"],
    ["daemon"],
    ["web"],
]


# --- a second daemon on a health port that is taken ----------------------------------------


@pytest.fixture
def daemons(tmp_path: Path, database: TestDatabase) -> Iterator[Workspace]:
    """test_daemon's workspace: a config, an initialised database and a webhook receiver."""
    with Receiver(SECRET) as receiver:
        ws = Workspace.create(tmp_path, receiver, database)
        try:
            yield ws
        finally:
            ws.reap()


def listening_on(health: str) -> socket.socket:
    """A socket that holds ``host:port`` as another program (or daemon) would."""
    host, _, port = health.rpartition(":")
    sock = socket.socket()
    sock.bind((host, int(port)))
    sock.listen()
    return sock


def audit_actions(ws: Workspace) -> list[str]:
    return [event["action"] for event in ws.json("bob", "audit", "log", "--limit", "1000")]


def test_a_daemon_on_a_taken_health_port_says_so_and_writes_nothing(
    daemons: Workspace, database: TestDatabase
) -> None:
    before = dump(database)

    with closing(listening_on(daemons.health)):
        second = daemons.start()
        exit_code = second.proc.wait(timeout=30)

    assert exit_code == 1, second.output()
    assert second.output().splitlines() == [f"error: [daemon] health {daemons.health}: {BUSY}"]
    assert dump(database) == before  # no daemon.start, no heartbeat, no daemon.stop
    assert "daemon.start" not in audit_actions(daemons)


def test_a_second_daemon_leaves_the_first_one_running(daemons: Workspace) -> None:
    first = daemons.start()
    first.wait_serving()

    second = daemons.start(log="second.log")

    assert second.proc.wait(timeout=30) == 1, second.output()
    assert second.output().splitlines() == [f"error: [daemon] health {daemons.health}: {BUSY}"]
    assert audit_actions(daemons).count("daemon.start") == 1
    beats = daemons.rows("SELECT pid FROM heartbeat")
    assert beats == [{"pid": first.proc.pid}]
    assert daemons.get("/metrics").status_code == 200  # still the first daemon's port
    assert first.terminate() == 0
    assert "Traceback" not in first.output() + second.output()


# --- damaged, missing and outdated databases ------------------------------------------------


def sqlite_config(folder: Path, db_file: Path) -> Path:
    """The test config pointing at ``db_file``, whatever engine the suite runs on."""
    return team_config(f"sqlite:///{db_file}").write(folder / "config.toml")


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app, ["--config", str(config), *args], env={"SIGNPOST_ACTOR": "carol"}
    )


def text_file() -> bytes:
    return b"campaign,text\nstop-it-now,Confidential help: 0808 1000 900\n" * 40


def random_bytes() -> bytes:
    return random.Random(9).randbytes(16_384)


def scrambled_signpost_database(folder: Path) -> bytes:
    """A real Signpost database with everything after SQLite's 100-byte header scrambled."""
    db = sqlite_database(folder / "made")
    db.path.parent.mkdir()
    assert run(sqlite_config(db.path.parent, db.path), "init").exit_code == 0
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = db.path.read_bytes()
    return data[:100] + random.Random(3).randbytes(len(data) - 100)


DAMAGE = {
    "text file": lambda _folder: text_file(),
    "random bytes": lambda _folder: random_bytes(),
    "scrambled pages": scrambled_signpost_database,
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """(config, database file) where the file holds something SQLite cannot read."""
    content = DAMAGE[request.param](tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    db_file = folder / "signpost.db"
    db_file.write_bytes(content)
    return sqlite_config(tmp_path, db_file), db_file


def damaged_line(db_file: Path) -> str:
    return f"database {db_file} is damaged or not a Signpost database: restore it from a backup"


@pytest.mark.parametrize("args", [["init"], *NEEDS_A_DATABASE], ids=" ".join)
def test_a_damaged_database_file_is_named_and_left_as_it_is(
    damaged: tuple[Path, Path], args: list[str]
) -> None:
    config, db_file = damaged
    before = db_file.read_bytes()

    result = run(config, *args)

    assert error_line(result) == damaged_line(db_file)
    assert db_file.read_bytes() == before
    assert os.listdir(db_file.parent) == ["signpost.db"]  # no -wal or -shm beside it


@pytest.mark.parametrize("args", NEEDS_A_DATABASE, ids=" ".join)
def test_before_init_a_command_says_so_and_creates_no_file(tmp_path: Path, args: list[str]):
    folder = tmp_path / "data"
    config = sqlite_config(tmp_path, folder / "signpost.db")

    result = run(config, *args)

    assert error_line(result) == (
        f"database {folder / 'signpost.db'} is not initialised: run 'signpost init' first"
    )
    assert not folder.exists()  # neither the file nor its folder
    assert sorted(os.listdir(tmp_path)) == ["config.toml"]


def test_an_empty_file_is_a_database_not_yet_initialised(tmp_path: Path) -> None:
    db_file = tmp_path / "signpost.db"
    db_file.touch()
    config = sqlite_config(tmp_path, db_file)

    refused = run(config, "status")
    created = run(config, "init")

    assert error_line(refused) == (
        f"database {db_file} is not initialised: run 'signpost init' first"
    )
    assert created.exit_code == 0, created.stderr
    assert created.stderr == f"database {db_file} created (schema {SCHEMA_REVISION})\n"


def test_an_older_schema_is_told_apart_from_damage(
    initialised: Signpost, database: TestDatabase
) -> None:
    database.execute("UPDATE alembic_version SET version_num = '0000'")
    before = dump(database)

    result = initialised("carol", "post", "list")

    assert error_line(result) == (
        f"database {where(database)} is at schema 0000, this signpost needs"
        f" {SCHEMA_REVISION}: run 'signpost init' to upgrade"
    )
    assert dump(database) == before


# --- daemon --once says when a delivery needs a person --------------------------------------


def test_daemon_once_exits_1_when_a_delivery_failed(tmp_path: Path, database: TestDatabase):
    with Receiver(SECRET, answers=(410,)) as receiver:
        ws = Workspace.create(tmp_path, receiver, database)
        delivery = ws.schedule(ws.approved_post(TEXT), "+1s")
        wait_until(delivery["due"])

        once = ws.start("--once")
        exit_code = once.proc.wait(timeout=30)

    output = once.output()
    assert exit_code == 1, output
    assert "sent 0, retrying 0, failed 1, uncertain 0, missed 0" in output
    assert output.splitlines()[-1] == (
        "error: 1 delivery failed: see 'signpost deliveries list --state failed'"
    )
    assert "Traceback" not in output
    assert ws.delivery(delivery["id"])["state"] == "failed"
