"""Engine, sessions and schema migrations (Alembic)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotCurrentError(Exception):
    """The database is behind (or ahead of) the code: run `mailbot db upgrade`."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # 30 s busy timeout: two processes may write at once (e.g. a CLI command beside the
        # daemon); SQLite serialises them and this makes the second wait instead of failing.
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN until the first write, which
            # lets two writers both read the same counter; BEGIN IMMEDIATE takes the write
            # lock up front (see SQLAlchemy's "Serializable isolation / Savepoints" notes).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()
            _owner_only(engine.url.database)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _owner_only(database: str | None) -> None:
    """The database holds citizens' mail: readable by its owner only (0600), with its WAL
    and shared-memory files. Files someone else owns are left alone."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            info = os.stat(path)
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                os.chmod(path, 0o600)
        except OSError:
            continue


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run again."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current or 'nothing (empty database)'}, the code needs "
            f"{head}: run `mailbot db upgrade`"
        )
