"""Bad input changes nothing: the database is byte-for-byte as it was, the exit code is
non-zero and stderr holds one line that says what was wrong (never a traceback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from posts import audit, workflow
from posts.errors import UserError
from posts.models import AuditEvent, Campaign
from posts.policy import Actor
from posts.store import SCHEMA_REVISION, Store
from tests.conftest import HELPLINE, Signpost, add_post, dump, error_line, team_config, where
from tests.database import TestDatabase

TEXT = f"Worried about your thoughts? Confidential help: {HELPLINE}"
CHANNELS = "bluesky, feed, mastodon, newsroom, telegram, x"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def has_no_tables(db: TestDatabase) -> bool:
    """Nothing was created: no SQLite file at all, or a database without a single table."""
    if db.path is not None and not db.path.exists():
        return True  # (looking inside would create the file)
    return db.tables() == []


@pytest.fixture
def submitted(campaign: str, signpost: Signpost) -> int:
    """Post 1, written and submitted by alice: a realistic database to leave untouched."""
    post = add_post(signpost, TEXT)
    result = signpost("alice", "post", "submit", str(post["id"]))
    assert result.exit_code == 0, result.stderr
    return post["id"]


# (what is wrong, actor, command line, exit code, the message after "error: ").
# Each word of the command line is filled in: {text} a valid post's words, {tmp} the test's
# folder, {post} the submitted post's id, {bad_slug} "Stop It", {blank} a space.
BAD_INPUT = [
    (
        "unknown campaign",
        "alice", "post add --campaign stop-it --text {text}", 1,
        "no campaign 'stop-it' (see 'signpost campaign list')",
    ),
    (
        "both --text and --file",
        "alice", "post add --campaign stop-it-now --text {text} --file {tmp}/post.txt", 1,
        "give either --text or --file, not both",
    ),
    (
        "missing --file",
        "alice", "post add --campaign stop-it-now --file {tmp}/nope.txt", 1,
        "--file {tmp}/nope.txt: no such file",
    ),
    (
        "missing --image",
        "alice", "post add --campaign stop-it-now --text {text} --image {tmp}/nope.png --alt A", 1,
        "--image {tmp}/nope.png: no such file",
    ),
    (
        "variant for an unconfigured channel",
        "alice", "post add --campaign stop-it-now --text {text} --variant slack={text}", 1,
        f"--variant slack=...: no channel named 'slack' is configured (configured: {CHANNELS})",
    ),
    (
        "variant without '='",
        "alice", "post add --campaign stop-it-now --text {text} --variant mastodon", 1,
        "--variant 'mastodon': expected CHANNEL=TEXT, e.g. mastodon=\"...\"",
    ),
    (
        "non-http link",
        "alice", "post add --campaign stop-it-now --text {text} --link ftp://stopitnow.org.uk/", 1,
        "--link 'ftp://stopitnow.org.uk/': expected an http(s) URL such as"
        " https://www.stopitnow.org.uk/",
    ),
    (
        "edit a missing post",
        "alice", "post edit 99 --text {text}", 1,
        "no post with id 99 (see 'signpost post list')",
    ),
    (
        "show a missing post",
        "alice", "post show 99", 1,
        "no post with id 99 (see 'signpost post list')",
    ),
    (
        "submit a missing post",
        "alice", "post submit 99", 1,
        "no post with id 99 (see 'signpost post list')",
    ),
    (
        "approve a missing post",
        "bob", "post approve 99", 1,
        "no post with id 99 (see 'signpost post list')",
    ),
    (
        "edit that changes nothing",
        "alice", "post edit {post} --text {text}", 1,
        "post {post}: nothing changed (same content as revision 1)",
    ),
    (
        "campaign slug taken",
        "carol", "campaign add stop-it-now --name Again", 1,
        "campaign 'stop-it-now' already exists",
    ),
    (
        "campaign slug with capitals and a space",
        "carol", "campaign add {bad_slug} --name Stop", 1,
        "campaign slug 'Stop It': expected lower-case letters, digits and '-', starting with a"
        " letter or digit (e.g. stop-it-now)",
    ),
    (
        "campaign with an unknown time zone",
        "carol", "campaign add winter --name Winter --tz Europe/Londn", 1,
        "--tz: unknown time zone 'Europe/Londn' (expected e.g. Europe/London)",
    ),
    (
        "campaign ending before it starts",
        "carol", "campaign add winter --name Winter --start 2026-12-01 --end 2026-11-30", 1,
        "--end 2026-11-30 is before --start 2026-12-01",
    ),
    (
        "campaign with a bad date",
        "carol", "campaign add winter --name Winter --start 2026-13-01", 1,
        "--start '2026-13-01': expected a date as YYYY-MM-DD",
    ),
    (
        "post list with a bogus state",
        "alice", "post list --state bogus", 1,
        "--state 'bogus': expected one of draft, submitted, approved, rejected, cancelled,"
        " published, partly_published",
    ),
    (
        "reject with an empty comment",
        "bob", "post reject {post} --revision 1 --comment {blank}", 1,
        "--comment: a rejection needs a reason the author can act on",
    ),
    (
        "unknown user writes a post",
        "mallory", "post add --campaign stop-it-now --text {text}", 3,
        "user 'mallory' is not in the config's [users]: unknown users can read but not"
        " write posts",
    ),
    (
        "unknown user approves",
        "mallory", "post approve {post} --revision 1", 3,
        "user 'mallory' is not in the config's [users]: unknown users can read but not"
        " approve posts",
    ),
    (
        "approve with no terminal to ask on and no --revision",
        "bob", "post approve {post}", 3,
        "post 1 is at revision 1: check it with 'signpost post preview 1', then approve it"
        " with --revision 1",
    ),
    (
        "approve a revision the post never had",
        "bob", "post approve {post} --revision 7", 1,
        "post 1 has no revision 7 (its current revision is 1)",
    ),
    (
        "unknown user adds a campaign",
        "mallory", "campaign add winter --name Winter", 3,
        "user 'mallory' is not in the config's [users]: unknown users can read but not"
        " add campaigns",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("actor", "command", "exit_code", "expected"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_changes_nothing(
    signpost: Signpost,
    db_path: TestDatabase,
    tmp_path: Path,
    submitted: int,
    actor: str,
    command: str,
    exit_code: int,
    expected: str,
) -> None:
    (tmp_path / "post.txt").write_text(TEXT, encoding="utf-8")
    fill = {"text": TEXT, "tmp": tmp_path, "post": submitted, "bad_slug": "Stop It", "blank": " "}
    before = dump(db_path)

    result = signpost(actor, *(word.format(**fill) for word in command.split()))

    assert error_line(result, exit_code) == expected.format(**fill)
    assert dump(db_path) == before


def test_campaign_time_zone_that_is_a_zone_group(
    signpost: Signpost, db_path: TestDatabase, campaign: str
) -> None:
    before = dump(db_path)

    result = signpost("carol", "campaign", "add", "winter", "--name", "Winter", "--tz", "Europe")

    assert error_line(result) == "--tz: unknown time zone 'Europe' (expected e.g. Europe/London)"
    assert dump(db_path) == before


def test_unknown_user_can_still_read(signpost: Signpost, submitted: int) -> None:
    result = signpost("mallory", "post", "list", "--format", "json")

    assert result.exit_code == 0, result.stderr
    assert [(p["id"], p["state"]) for p in json.loads(result.stdout)] == [(submitted, "submitted")]


# --- SIGNPOST_ACTOR when config does not allow it --------------------------------------------


@pytest.fixture
def strict_config(tmp_path: Path, database: TestDatabase) -> Path:
    """The test config with [security] allow_actor_override = false, in its own folder.

    It points at the test's database, which nothing else has initialised.
    """
    folder = tmp_path / "strict"
    folder.mkdir()
    return replace(team_config(database.url), actor_override=False).write(folder / "config.toml")


def test_actor_override_refused_when_config_forbids_it(
    signpost: Signpost, strict_config: Path, database: TestDatabase
) -> None:
    db = database
    result = signpost(None, "init", config=strict_config)  # as the OS login: allowed
    assert result.exit_code == 0, result.stderr
    before = dump(db)

    result = signpost(
        "carol", "campaign", "add", "winter", "--name", "Winter", config=strict_config
    )

    assert error_line(result, 3) == (
        f"SIGNPOST_ACTOR is set but [security] allow_actor_override is false in {strict_config}:"
        " unset it to act as yourself"
    )
    assert dump(db) == before


def test_refused_init_creates_nothing(
    signpost: Signpost, strict_config: Path, database: TestDatabase
) -> None:
    result = signpost("carol", "init", config=strict_config)

    assert error_line(result, 3).startswith("SIGNPOST_ACTOR is set but")
    assert has_no_tables(database)


# --- a database that is not initialised, and init twice --------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["post", "list"],
        ["post", "show", "1"],
        ["post", "add", "--campaign", "stop-it-now", "--text", TEXT],
        ["campaign", "add", "winter", "--name", "Winter"],
        ["campaign", "list"],
        ["audit", "verify"],
    ],
    ids=" ".join,
)
def test_uninitialised_database_says_run_init(
    signpost: Signpost, db_path: TestDatabase, args: list[str]
) -> None:
    result = signpost("carol", *args)

    assert error_line(result) == (
        f"database {where(db_path)} is not initialised: run 'signpost init' first"
    )
    assert has_no_tables(db_path)


def test_init_twice_is_safe(initialised: Signpost, db_path: TestDatabase) -> None:
    before = dump(db_path)

    result = initialised("carol", "init")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"database {where(db_path)} is up to date (schema {SCHEMA_REVISION})\n"
    assert dump(db_path) == before


# --- one transaction: all or nothing ---------------------------------------------------------


def stored_counts(session: Session) -> tuple[int, int]:
    """(campaigns, audit events) as this session sees them."""
    return (
        session.exec(select(func.count()).select_from(Campaign)).one(),
        session.exec(select(func.count()).select_from(AuditEvent)).one(),
    )


def counts(store: Store) -> tuple[int, int]:
    """(campaigns, audit events) as committed."""
    with store.read() as session:
        return stored_counts(session)


@pytest.fixture
def store(initialised: Signpost, db_path: TestDatabase) -> Iterator[Store]:
    """The initialised database, opened directly (one event: database.init)."""
    store = Store(db_path.url)
    yield store
    store.close()


def test_exception_in_transaction_keeps_no_row_and_no_audit_event(
    store: Store, db_path: TestDatabase
) -> None:
    before = counts(store)
    assert before == (0, 1)  # the database.init event
    stored = dump(db_path)

    with pytest.raises(RuntimeError, match="disk on fire"), store.transaction() as session:
        session.add(Campaign(slug="winter", name="Winter", created=NOW, created_by="carol"))
        audit.record(
            session, now=NOW, actor="carol", action="campaign.add", subject="campaign:winter"
        )
        audit.link(session)  # as the commit would, so the event is written too
        session.flush()
        assert stored_counts(session) == (1, 2)  # written, not yet committed
        raise RuntimeError("disk on fire")

    assert counts(store) == before
    assert dump(db_path) == stored


def test_refused_step_rolls_back_the_whole_command(store: Store, db_path: TestDatabase) -> None:
    carol = Actor(name="carol", roles=("author", "approver", "admin"))
    stored = dump(db_path)

    with pytest.raises(UserError, match="campaign 'winter' already exists"):
        with store.transaction() as session:
            workflow.add_campaign(session, carol, NOW, slug="winter", name="Winter", tz="UTC")
            workflow.add_campaign(session, carol, NOW, slug="winter", name="Again", tz="UTC")

    assert counts(store) == (0, 1)
    assert dump(db_path) == stored
