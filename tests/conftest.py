"""Shared fixtures: a real config file, a real SQLite database and the real CLI in-process.

Tests read like a user's story: run ``signpost`` as alice or bob, then check what they saw
(stdout, stderr, exit code) and what is stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from scheduler.cli import app
from scheduler.configfile import ConfigFile
from tests.database import TestDatabase, drop_postgres, postgres_database, sqlite_database

pytest_plugins = ["tests.peers"]

HELPLINE = "0808 1000 900"
#: ``signpost`` arguments that add the campaign most tests use, its helpline a must
ADD_CAMPAIGN = (
    "campaign",
    "add",
    "stop-it-now",
    "--name",
    "Stop It Now",
    "--must-include",
    HELPLINE,
)

#: the test team: alice writes, bob and dave approve, carol holds every role
TEAM = {
    "alice": ["author"],
    "bob": ["approver"],
    "carol": ["author", "approver", "admin"],
    "dave": ["approver"],
}


def team_config(database_url: str) -> ConfigFile:
    """The tests' config: the team above and six channels that nothing here sends to.

    (Not named ``test_config``: pytest would collect it in every module that imports it.)
    """
    return (
        ConfigFile(database_url, users=TEAM)
        .with_channel(
            "newsroom",
            "webhook",
            url="http://127.0.0.1:9/hook",
            token_env="SIGNPOST_TEST_WEBHOOK_SECRET",
        )
        .with_channel(
            "feed",
            "feed",
            path="feed.xml",
            feed_id="tag:signpost.test,2026:feed",
            title="Stop It Now test feed",
        )
        .with_channel(
            "mastodon",
            "mastodon",
            url="https://mastodon.example",
            token_env="SIGNPOST_TEST_MASTODON_TOKEN",
        )
        .with_channel(
            "bluesky",
            "bluesky",
            url="https://bsky.example",
            handle="stopitnow.test",
            token_env="SIGNPOST_TEST_BLUESKY_PASSWORD",
        )
        .with_channel("x", "x", username="stopitnow", token_env="SIGNPOST_TEST_X_TOKEN")
        .with_channel(
            "telegram", "telegram", chat="@stopitnow", token_env="SIGNPOST_TEST_TELEGRAM_TOKEN"
        )
    )


#: a channel of a type known to config but without an adapter (see ``future_type``)
FUTURE_CHANNEL = """
[channels.page]
type = "pigeon"
"""


@pytest.fixture
def future_type(monkeypatch: pytest.MonkeyPatch) -> str:
    """A channel type the registry knows but cannot publish to, as a type registered for a
    coming release would be (every real type has an adapter now)."""
    from channels import registry

    monkeypatch.setitem(registry.TYPES, "pigeon", registry.ChannelType("pigeon"))
    return "pigeon"


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Restore os.environ after every test, and start without Signpost variables."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("SIGNPOST_")]:
        del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("both", "sqlite", "postgresql"),
        default=os.environ.get("SIGNPOST_TEST_DATABASE", "both"),
        help="the engine(s) the suite runs on (default: $SIGNPOST_TEST_DATABASE or both:"
        " every test that uses a database runs once on each)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses the ``database`` fixture on the chosen engine(s)."""
    if "database" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--database")
        engines = ["sqlite", "postgresql"] if chosen == "both" else [chosen]
        metafunc.parametrize("database", engines, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """The test's own database: a SQLite file under tmp_path, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        db = sqlite_database(tmp_path)
        yield db
        db.close()
        return
    server = request.getfixturevalue("pg_server")
    db = postgres_database(server)
    yield db
    drop_postgres(db, server)


@pytest.fixture
def config_file(tmp_path: Path, database: TestDatabase) -> Path:
    """A config with alice (author), bob and dave (approvers), carol (all three roles)."""
    return team_config(database.url).write(tmp_path / "config.toml")


@pytest.fixture
def db_path(database: TestDatabase) -> TestDatabase:
    """The database the config points at (name kept from when it was always a file)."""
    return database


Signpost = Callable[..., Result]


@pytest.fixture
def signpost(config_file: Path) -> Signpost:
    """Run the CLI as a user: ``signpost("alice", "post", "list")``."""
    runner = CliRunner()

    def run(
        actor: str | None,
        *args: str,
        input: str | None = None,
        obj: dict | None = None,
        config: Path | None = None,
    ) -> Result:
        env = {"SIGNPOST_ACTOR": actor} if actor else {}
        return runner.invoke(
            app, ["--config", str(config or config_file), *args], input=input, env=env, obj=obj
        )

    return run


@pytest.fixture
def initialised(signpost: Signpost) -> Signpost:
    """A database created by 'signpost init'."""
    result = signpost("carol", "init")
    assert result.exit_code == 0, result.stderr
    return signpost


@pytest.fixture
def campaign(initialised: Signpost) -> str:
    """The stop-it-now campaign with the helpline rule, two forbidden terms, one domain."""
    result = initialised(
        "carol",
        *ADD_CAMPAIGN,
        "--forbid",
        "kiddie porn",
        "--forbid",
        "paedo",
        "--link-domain",
        "stopitnow.org.uk",
    )
    assert result.exit_code == 0, result.stderr
    return "stop-it-now"


def add_post(signpost: Signpost, text: str, *extra: str, actor: str = "alice") -> dict:
    """Add a post as ``actor`` and return it as the JSON the CLI printed."""
    result = signpost(
        actor,
        "post",
        "add",
        "--campaign",
        "stop-it-now",
        "--text",
        text,
        *extra,
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def error_line(result: Result, exit_code: int = 1) -> str:
    """The one ``error: ...`` line a refused command printed, without the prefix."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), f"not a clean exit: {result.exception!r}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")


def where(db: TestDatabase) -> str:
    """How messages name the database: the SQLite file, or the PostgreSQL URL."""
    return str(db.path) if db.kind == "sqlite" else db.url


def dump(database: TestDatabase) -> list[str]:
    """Every table and row of the database, to prove a command changed nothing."""
    return database.dump()


def outgoing(channel_type: str, text: str, key: str, link: str | None = None, **extra: Any) -> Any:
    """A message as the engine's composer makes it for a channel of ``channel_type``.

    Adapters send ``Message.text`` as they get it, so adapter tests build their messages the
    way the engine does (link appended where the type shows it in the words).
    """
    from dataclasses import replace

    from channels.outgoing import compose_message

    message = compose_message(
        channel_type,
        channel_type,
        text=text,
        variants={},
        link=link,
        media=[],
        utm={},
        idempotency_key=key,
    )
    return replace(message, **extra)
