"""The database a test runs on: a SQLite file, or a fresh PostgreSQL database.

``pytest --database postgresql`` (or ``SIGNPOST_TEST_DATABASE=postgresql``) runs the suite on
PostgreSQL: each test gets its own database in a throwaway cluster on loopback (the
``pg_server`` fixture in tests/peers.py). Tests reach the stored rows through this object,
so the same assertions hold on both engines.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa


@dataclass
class TestDatabase:
    """A database URL plus helpers to read, tamper with and snapshot it behind our back."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    url: str
    kind: str  # "sqlite" | "postgresql"
    path: Path | None = None  # the SQLite file
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        return self._engine

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run raw SQL in its own committed transaction; the rows it returned, if any."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []

    def tables(self) -> list[str]:
        """The tables that exist, sorted."""
        return sorted(sa.inspect(self.engine).get_table_names())

    def dump(self) -> list[str]:
        """Every table's schema and every row, in a stable order: equal dumps, equal data."""
        inspector = sa.inspect(self.engine)
        lines = []
        with self.engine.connect() as conn:
            for table in sorted(inspector.get_table_names()):
                columns = [c["name"] for c in inspector.get_columns(table)]
                lines.append(f"{table}({', '.join(columns)})")
                indexes = sorted(i["name"] or "" for i in inspector.get_indexes(table))
                lines.append(f"  indexes {indexes}")
                order = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)  # json has no order
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY {order}'))
                lines.extend(f"  {tuple(row)!r}" for row in rows)
        return lines

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def sqlite_database(folder: Path) -> TestDatabase:
    path = folder / "signpost.db"
    return TestDatabase(url=f"sqlite:///{path}", kind="sqlite", path=path)


def postgres_database(server_url: str) -> TestDatabase:
    """CREATE a fresh database on the test cluster; ``drop_postgres`` removes it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name)
    return TestDatabase(url=f"{server_url}/{name}", kind="postgresql")


def drop_postgres(database: TestDatabase, server_url: str) -> None:
    database.close()
    name = database.url.rsplit("/", 1)[1]
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(server_url: str, name: str, template: str | None = None) -> None:
    """A new database on the server, empty or a copy of ``template`` (which no one may be
    connected to); the benchmarks copy one workspace for each run this way."""
    _admin(
        server_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    )


def _admin(server_url: str, statement: str) -> None:
    """One statement outside a transaction, as CREATE and DROP DATABASE need, on ``postgres``."""
    admin = sa.create_engine(
        f"{server_url}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        admin.dispose()
