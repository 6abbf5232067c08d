"""Alembic owns the schema (DESIGN §2): the migrations create every table, the code expects
their head revision, and the migrated schema is exactly what the SQLModel tables describe.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import posts.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from posts.store import MIGRATIONS, SCHEMA_REVISION, Store
from tests.database import TestDatabase

DESIGN_TABLES = {
    "campaign",
    "post",
    "revision",
    "approval",
    "delivery",
    "pause",
    "audit_event",
    "heartbeat",
    "password",
}


@pytest.fixture
def store(database: TestDatabase) -> Iterator[Store]:
    """A store on an empty database: a zero-byte SQLite file, or a fresh PostgreSQL one."""
    if database.path is not None:
        database.path.touch()
    assert database.tables() == []
    store = Store(database.url)
    yield store
    store.close()


def test_migrate_creates_every_table_of_the_design(store: Store) -> None:
    assert store.schema_revision() is None

    before, after = store.migrate()

    assert (before, after) == (None, SCHEMA_REVISION)
    assert store.schema_revision() == SCHEMA_REVISION
    assert set(sa.inspect(store.engine).get_table_names()) == DESIGN_TABLES | {"alembic_version"}


def test_migrate_again_changes_nothing(store: Store) -> None:
    store.migrate()

    assert store.migrate() == (SCHEMA_REVISION, SCHEMA_REVISION)
    assert store.schema_revision() == SCHEMA_REVISION


def test_schema_revision_is_the_migrations_head() -> None:
    script = ScriptDirectory(str(MIGRATIONS))

    assert script.get_heads() == [SCHEMA_REVISION]  # one head: no unmerged branches
    assert script.get_current_head() == SCHEMA_REVISION


def test_migrated_schema_matches_the_models(store: Store) -> None:
    store.migrate()

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)

    assert differences == []


def test_models_describe_exactly_the_design_tables() -> None:
    assert set(SQLModel.metadata.tables) == DESIGN_TABLES
