"""Connecting to the store's database and bringing its schema up to date.

`db` is a file path (SQLite, the embedded default) or any SQLAlchemy URL, such as
`postgresql+psycopg://...` when several replicas share one database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("livewatch.store")
# Alembic narrates every migration step at info; our own "[STORE] migrated" line says enough.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in `migrations/versions` (a test holds the two together). A database at
# it needs no Alembic at all, and Alembic is not imported then: ~0.1 s before the port opens.
HEAD = "0006"
BUSY_TIMEOUT_MS = 5000
# Any constant: replicas starting together on one PostgreSQL database migrate one at a time.
PG_MIGRATION_LOCK = 0x6C69766577617463  # "livewatc"
IMMEDIATE = "livewatch_immediate"  # execution option: take SQLite's write lock at BEGIN


def database_url(db: str | Path) -> str:
    """An SQLAlchemy URL: kept as given when it has `://`, else `sqlite:///<absolute path>`."""
    if isinstance(db, str) and "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().absolute()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a `sqlite:///` URL; None for other databases and in-memory ones."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


def open_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine for `url`; on SQLite every connection is set up for a busy, crash-safe log."""
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms)
    return engine


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # sqlite3's own transaction handling skips BEGIN for DDL and SELECT; we emit BEGIN
        # ourselves (below), so migrations are atomic and reads see one snapshot.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer. WAL with synchronous=NORMAL survives the
        # process being SIGKILLed (a commit is in the OS's page cache when it returns); only
        # an OS crash or power cut may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Wait for another writer (another process, a CLI) instead of failing at once.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")  # runs and phases will refer to each other
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writer takes the lock at BEGIN: a transaction that reads first and writes later
        # would fail at once (SQLITE_BUSY, no waiting) if another writer committed meanwhile.
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction: committed on success, rolled back on error."""
    with engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():
            yield connection


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is needed, installed or not."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at; None before the first migration."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema in place to `revision` (the newest by default); idempotent."""
    with writing(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK}
            )
        before = current_revision(connection)
        # At head already (every open but the first after an upgrade): no Alembic at all.
        if revision in ("head", HEAD) and before == HEAD:
            return
        from alembic import command

        command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    if after != before:
        log.info("[STORE] migrated %s from %s to %s", _safe(engine), before or "empty", after)


def _safe(engine: Engine) -> str:
    """The URL without its password, for logs."""
    return engine.url.render_as_string(hide_password=True)
