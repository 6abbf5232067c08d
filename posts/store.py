"""The database: engine set-up, one transaction per command, and migrations.

SQLite is the embedded default. CLI and daemon share the file, so it runs in WAL mode with a
busy timeout, and every write transaction starts with ``BEGIN IMMEDIATE``: the write lock is
taken up front, so two writers queue instead of failing half-way with "database is locked".
The schema is owned by Alembic; ``signpost init`` creates or upgrades it and every other
command refuses to touch a database whose schema is not the one this code expects. Only
``signpost init`` creates the SQLite file: every connection opens it with ``mode=rw``, so a
read command run before ``init`` (or against a mistyped path) leaves nothing behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from posts import audit
from posts.errors import UserError

#: The Alembic revision this code expects; a test keeps it equal to the migrations' head.
SCHEMA_REVISION = "0007"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK = 7_400_171  # PostgreSQL advisory lock key: exclusive for a person's writes
_WRITE_LOCK = sa.text(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
_SHARED_WRITE_LOCK = sa.text(f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK})")
#: SQLite's primary result codes for a file it cannot read as a database.
DAMAGED_CODES = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}


class DatabaseUnreachable(UserError):
    """The database could not be reached or answered with an operational error."""


class DatabaseDamaged(DatabaseUnreachable):
    """The SQLite file is not a database SQLite can read: only a backup brings it back.

    A kind of :class:`DatabaseUnreachable` so that a running daemon treats it the same way
    (no claims, one log line, try again later: the file may be restored meanwhile).
    """


def unreachable(url: str) -> str:
    """The one-line "database unreachable at host:port" message (or the SQLite file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"database {parsed.database} unreachable"
    return f"database unreachable at {parsed.host or 'localhost'}:{parsed.port or 5432}"


def damaged(url: str) -> str:
    """The one-line message for a file that is damaged or not a database at all."""
    return (
        f"database {describe(url)} is damaged or not a Signpost database: restore it from a backup"
    )


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def describe(url: str) -> str:
    """The database's location for messages, with any password hidden."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


class Store:
    """One database: hands out write transactions and read sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.file = sqlite_file(url)
        self.engine = _make_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, concurrent: bool = False) -> Iterator[Session]:
        """A session whose changes are all committed together, or none on any exception.

        Its audit events are linked into the chain just before the commit (posts.audit).
        On PostgreSQL a transaction runs alone, as SQLite's ``BEGIN IMMEDIATE`` gives, unless
        it is ``concurrent``: the delivery engine's claims, lease renewals and outcomes,
        which touch only rows they lock themselves (``SKIP LOCKED`` claims, guarded moves of
        their own leases), run beside each other's and wait for one another only to append
        to the audit chain. Everything else (a person's commands, housekeeping) waits until
        no concurrent one is running, and they for it (docs/delivery.md).
        """
        with self._database_errors_as_user_errors():
            with Session(self.engine.execution_options(signpost_write=True)) as session:
                with session.begin():
                    if self.is_postgres:
                        session.execute(_SHARED_WRITE_LOCK if concurrent else _WRITE_LOCK)
                    yield session
                    audit.link(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; it is rolled back, never committed."""
        with self._database_errors_as_user_errors():
            with Session(self.engine) as session:
                try:
                    yield session
                finally:
                    session.rollback()

    @contextmanager
    def _database_errors_as_user_errors(self) -> Iterator[None]:
        """One line instead of a traceback for a database that is away or damaged."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if _is_damaged(exc):
                raise DatabaseDamaged(damaged(self.url)) from None
            if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"
            raise DatabaseUnreachable(f"{unreachable(self.url)} ({reason})") from None

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at, or None if it was never initialised."""
        if self.file is not None and not self.file.exists():
            return None  # (connecting would only fail: connections never create the file)
        with self._database_errors_as_user_errors(), self.engine.connect() as conn:
            return _revision(conn)

    def require_current(self) -> None:
        """Refuse to work on a database that ``signpost init`` has not created or upgraded."""
        revision = self.schema_revision()
        if revision is None:
            raise UserError(
                f"database {describe(self.url)} is not initialised: run 'signpost init' first"
            )
        if revision != SCHEMA_REVISION:
            raise UserError(
                f"database {describe(self.url)} is at schema {revision}, this signpost needs "
                f"{SCHEMA_REVISION}: run 'signpost init' to upgrade"
            )

    def migrate(
        self, on_change: Callable[[Session, str | None], None] | None = None
    ) -> tuple[str | None, str]:
        """Create or upgrade the schema to the newest revision; safe to run again.

        ``on_change(session, before)`` runs in the same transaction as the migration when
        the schema changed, so the audit event of an upgrade is kept only with the upgrade.
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        self._create_file()
        with self._database_errors_as_user_errors():
            with self.engine.execution_options(signpost_write=True).begin() as conn:
                if self.is_postgres:  # two 'signpost init' at once: one waits for the other
                    conn.execute(_WRITE_LOCK)
                before = _revision(conn)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                if before != SCHEMA_REVISION and on_change is not None:
                    with Session(bind=conn) as session:
                        on_change(session, before)
                        audit.link(session)
                        session.flush()
        return before, SCHEMA_REVISION

    def _create_file(self) -> None:
        """An empty SQLite file (SQLite's empty database) if there is none; one that exists
        is left byte for byte as it is, so a damaged file is refused untouched."""
        if self.file is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileExistsError):
            self.file.touch(exist_ok=False)


def _is_damaged(exc: sa.exc.DBAPIError) -> bool:
    """SQLite said the file is not a database, or that its pages are corrupt."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in DAMAGED_CODES


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    file = sqlite_file(url)
    if file is not None:
        existing_only = f"{file.absolute().as_uri()}?mode=rw"

        @event.listens_for(engine, "do_connect")
        def _open_existing(_dialect, _record, cargs, cparams) -> None:  # type: ignore[no-untyped-def]
            # The driver's default would create a missing file; Store.migrate creates it.
            cargs[:] = [existing_only]
            cparams["uri"] = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("signpost_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
