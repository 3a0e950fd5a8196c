"""Engine, sessions and schema migrations (Alembic).

Alembic is imported only by what changes the schema (`upgrade`, `downgrade`): reading the
schema's revision is one SELECT, so that the read-only commands start quickly."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotCurrentError(Exception):
    """The database is behind (or ahead of) the code: run `mailbot db upgrade`."""


class DatabaseMissingError(Exception):
    """A read-only command found no database file: nothing was ever stored there."""


class DatabaseSetupError(Exception):
    """The database cannot be used as configured: a missing driver, an SQLite file that
    cannot be opened. The message says what to fix."""


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `url`. read_only=True never creates or changes anything: on SQLite
    the file is opened read-only (a missing file raises DatabaseMissingError), which also
    works for a user who may only read it; on PostgreSQL the sessions are read-only."""
    try:
        return _read_only_engine(url) if read_only else _engine(url)
    except ImportError as exc:  # create_engine imports the driver
        hint = " and write postgresql+psycopg://" if exc.name == "psycopg2" else ""
        raise DatabaseSetupError(
            f"the database driver {exc.name} is not installed: install mailbot[postgresql]{hint}"
        ) from None


def sqlite_problem(url: str) -> str | None:
    """Why the SQLite file of `url` cannot be opened, with its resolved path; None when
    nothing is visibly wrong (or the database is not SQLite)."""
    path = sqlite_path(url)
    if path is None:
        return None
    where = f"cannot open the SQLite database {path}"
    if path.is_dir():
        return f"{where}: it is a folder; name a file in [database] url"
    if not path.parent.is_dir():
        return f"{where}: the folder {path.parent} does not exist"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{where}: no permission to read and write it"
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        return f"{where}: no permission to create files in {path.parent}"
    return None


def unreachable_reason(url: str, exc: Exception) -> str:
    """One line for a database that cannot be reached: the SQLite file's problem with its
    resolved path, or the driver's first line (not SQLAlchemy's multi-line text)."""
    problem = sqlite_problem(url)
    if problem:
        return problem
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    shown = make_url(url).render_as_string(hide_password=True)
    return f"database {shown} unreachable: {lines[0] if lines else type(orig).__name__}"


def _engine(url: str) -> Engine:
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
            # FULL: a commit is on disk before it returns. Intake moves a mail out of the
            # inbox right after the commit that stored it; with NORMAL, WAL mode may roll
            # that commit back after a power cut or a host crash (sqlite.org/pragma.html
            # #pragma_synchronous), and the mail would be in the processed folder with no
            # case and no receipt. One fsync of the WAL per commit (a batch's, in a backlog).
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.close()
            _owner_only(engine.url.database)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _postgresql_session(dbapi_conn: Any, _record: Any) -> None:
        # Plan every statement for the values it is run with and the tables as they are
        # now. psycopg prepares a statement it runs often, and PostgreSQL then keeps one
        # generic plan for it: made on a new database while the tables were empty, that
        # plan stayed while a go-live's backlog filled them, and counting one citizen's
        # receipts read every receipt of the day (tests/test_query_work.py).
        if getattr(getattr(dbapi_conn, "info", None), "server_version", 0) < 120000:
            return  # plan_cache_mode is PostgreSQL 12's
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.autocommit = autocommit

    return engine


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


def _read_only_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise DatabaseMissingError(
                f"no database at {path} yet: the service creates it when it first starts "
                "(or run `mailbot db upgrade`)"
            )
        uri = f"{path.as_uri()}?mode=ro"
        return create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False),
            poolclass=NullPool,
        )
    if url.startswith("sqlite"):
        return make_engine(url)  # in memory: nothing to protect
    return create_engine(url, pool_pre_ping=True, execution_options={"postgresql_readonly": True})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run again. Alembic's own INFO lines are
    silenced (setup_logging); one line here says what changed, if anything."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), revision)
    after = current_revision(engine)
    if after != before:
        log.info("database: schema migrated from %s to %s", before or "nothing", after)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration: revisions are numbered like their files (0005_retention.py
    is revision "0005", each one's down_revision the one before; tests/test_storage.py
    checks this against Alembic's own view)."""
    return max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_current_schema(engine: Engine) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current or 'nothing (empty database)'}, the code needs "
            f"{head}: run `mailbot db upgrade`"
        )


def backup_sqlite(url: str, target: Path) -> int:
    """Copy the SQLite database of `url` to the new file `target` with SQLite's online
    backup API: a consistent snapshot of what was committed (WAL included), safe while the
    daemon writes. Returns the number of pages copied."""
    path = sqlite_path(url)
    if path is None:
        raise DatabaseSetupError("`db backup` copies SQLite databases; for PostgreSQL use pg_dump")
    if not path.exists():
        raise DatabaseMissingError(f"no database at {path} to back up")
    source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # one step: the read snapshot holds for the whole copy
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise DatabaseSetupError(f"the copy in {target} fails its check: {verdict}")
            (pages,) = copy.execute("PRAGMA page_count").fetchone()
        finally:
            copy.close()
    finally:
        source.close()
    return int(pages)
