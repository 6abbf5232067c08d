"""Shared fixtures: a real config file, a real SQLite database and the real CLI in-process.

Tests read like a user's story: run ``signpost`` as alice or bob, then check what they saw
(stdout, stderr, exit code) and what is stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from scheduler.cli import app

pytest_plugins = ["tests.peers"]

HELPLINE = "0808 1000 900"

CONFIG = """\
[database]
url = "sqlite:///signpost.db"

[security]
allow_actor_override = true

[approval]
required = 1
roles = ["approver"]

[users.alice]
roles = ["author"]

[users.bob]
roles = ["approver"]

[users.carol]
roles = ["author", "approver", "admin"]

[users.dave]
roles = ["approver"]

[channels.newsroom]
type = "webhook"
url = "http://127.0.0.1:9/hook"
token_env = "SIGNPOST_TEST_WEBHOOK_SECRET"

[channels.feed]
type = "feed"
path = "feed.xml"
feed_id = "tag:signpost.test,2026:feed"
title = "Stop It Now test feed"

[channels.mastodon]
type = "mastodon"
url = "https://mastodon.example"
token_env = "SIGNPOST_TEST_MASTODON_TOKEN"

[channels.bluesky]
type = "bluesky"
url = "https://bsky.example"
handle = "stopitnow.test"
token_env = "SIGNPOST_TEST_BLUESKY_PASSWORD"

[channels.x]
type = "x"
username = "stopitnow"
token_env = "SIGNPOST_TEST_X_TOKEN"

[channels.telegram]
type = "telegram"
chat = "@stopitnow"
token_env = "SIGNPOST_TEST_TELEGRAM_TOKEN"
"""


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Restore os.environ after every test, and start without Signpost variables."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("SIGNPOST_")]:
        del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A config with alice (author), bob and dave (approvers), carol (all three roles)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def db_path(config_file: Path) -> Path:
    """The SQLite file the config points at (beside the config)."""
    return config_file.parent / "signpost.db"


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
        "campaign",
        "add",
        "stop-it-now",
        "--name",
        "Stop It Now",
        "--must-include",
        HELPLINE,
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


def dump(db_path: Path) -> list[str]:
    """Every row and schema statement of the database, to prove a command changed nothing."""
    with sqlite3.connect(db_path) as conn:
        return list(conn.iterdump())
