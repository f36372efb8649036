"""The schema comes from Alembic revisions run at open time, and upgrades old files in place."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from store_helpers import event

from livewatch.store import EventStore, database_url, migrate, open_engine
from livewatch.store.database import HEAD, MIGRATIONS, alembic_config, current_revision
from livewatch.store.schema import metadata


def revision_of(path: Path) -> str | None:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_database_url_takes_paths_and_urls(tmp_path: Path) -> None:
    assert database_url(tmp_path / "a.db") == f"sqlite:///{tmp_path}/a.db"
    assert database_url("rel.db") == f"sqlite:///{Path('rel.db').absolute()}"
    url = "postgresql+psycopg://lw:secret@db:5432/livewatch"
    assert database_url(url) == url


def test_head_is_the_newest_revision() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_current_head() == HEAD
    assert MIGRATIONS.is_dir() and (MIGRATIONS / "env.py").is_file()


def test_a_database_at_head_is_opened_without_importing_alembic(tmp_path: Path) -> None:
    migrate(open_engine(database_url(tmp_path / "a.db")))  # at head now
    opens_again = (
        "import sys; from livewatch.store import migrate, open_engine; "
        f"migrate(open_engine({database_url(tmp_path / 'a.db')!r})); "
        "print(any(name.split('.')[0] == 'alembic' for name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", opens_again], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert revision_of(tmp_path / "a.db") == HEAD


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_creates_the_schema_of_the_metadata(
    request: pytest.FixtureRequest, db: Path, dialect: str
) -> None:
    db.parent.mkdir()
    url = database_url(db) if dialect == "sqlite" else request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    migrate(engine)
    with engine.connect() as connection:
        assert current_revision(connection) == HEAD
        # The revisions and schema.py describe the same tables, indexes and constraints.
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        inspector = inspect(connection)
        assert {"events", "transcript_offsets", "meta", "alembic_version"} <= set(
            inspector.get_table_names()
        )
        indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("events")}
        for columns in [("adw_id", "seq"), ("agent", "seq"), ("adw_id", "agent", "seq")]:
            assert columns in indexes
        assert ("app", "seq") in indexes and ("ts",) in indexes
        assert ("kind", "seq") not in indexes  # 0003: no query needs it, every insert paid
        assert inspector.get_unique_constraints("events")[0]["column_names"] == ["origin"]
    engine.dispose()


def test_sqlite_connections_are_tuned(db: Path) -> None:
    db.parent.mkdir()
    engine = open_engine(database_url(db), busy_timeout_ms=1234)
    with engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").scalar() == 1234
        assert pragma("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_reopening_is_idempotent(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EventStore.open(db) as store:
        store.submit([event(1), event(2)])
        assert store.flush_sync(timeout=5)
    caplog.set_level(logging.INFO, logger="livewatch.store")
    for _ in range(2):
        with EventStore.open(db) as store:
            assert store.max_seq() == 2
    assert revision_of(db) == HEAD
    assert not [r for r in caplog.records if "migrated" in r.getMessage()]


def test_an_old_file_is_upgraded_in_place(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file written by a livewatch that knew only revision 0001 (no `meta` table)."""
    db.parent.mkdir()
    engine = open_engine(database_url(db))
    migrate(engine, "0001")
    engine.dispose()
    with sqlite3.connect(db) as connection:
        assert (
            connection.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchall() == []
        )
        connection.execute(
            "INSERT INTO events (seq, ts, source, agent, kind, summary, is_error, payload, origin)"
            " VALUES (7, 1, 'file', 'planner', 'message', 'kept', 0, 'raw', 'file:x@0')"
        )
    assert revision_of(db) == "0001"

    caplog.set_level(logging.INFO, logger="livewatch.store")
    with EventStore.open(db, retention_days=None) as store:
        assert revision_of(db) == HEAD
        assert "[STORE] migrated" in caplog.text and f"from 0001 to {HEAD}" in caplog.text
        kept = store.get(7)
        assert kept is not None and kept["summary"] == "kept" and kept["payload"] == "raw"
        store.set_meta("epoch", "abc")
        assert store.get_meta("epoch") == "abc"
        assert store.max_seq() == 7
