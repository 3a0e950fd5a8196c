"""Storage on SQLite and PostgreSQL: migrations, references under concurrency, blobs."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from harness import Mailbox, SmtpSink
from sqlalchemy import inspect, select, text
from support.app import new_app, write_config

from mailbot.persistence import blobs, rows
from mailbot.persistence.db import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    make_sessionmaker,
    upgrade,
)
from mailbot.persistence.lock import Leadership
from mailbot.persistence.session import UnstorableValue, WriteConflict
from mailbot.persistence.tables import AuditRow, Base, CaseRow


def test_migrations_go_down_and_up_and_match_the_model(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        upgrade(engine)  # a second upgrade is a no-op
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"tables.py and the migrations disagree: {diff}"
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert {"cases", "messages", "outbox", "mailbox_items", "blobs"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


def test_blobs_are_stored_once_by_content(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            first = blobs.store_blob(session, b"dezelfde bijlage")
            second = blobs.store_blob(session, b"dezelfde bijlage")
        assert first == second
        with sessions() as session:
            assert blobs.load_blob(session, first) == b"dezelfde bijlage"
    finally:
        engine.dispose()


def test_a_row_reads_back_as_intake_wrote_it_and_a_bad_one_fails_as_before(db_url: str) -> None:
    # rows.py compiles its INSERTs once and runs them past the session's statement cache:
    # the values still go through their column types, the columns left out still get
    # their defaults, and a row the database refuses still raises SQLAlchemy's error,
    # which intake tells apart (another writer: look again; a bad value: quarantine).
    brussels = ZoneInfo("Europe/Brussels")
    at = datetime(2026, 11, 24, 9, 15, 30, tzinfo=brussels)
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            case_id = rows.insert_row_id(session, CaseRow, **_case("KL-2026-0001", at))
            second = rows.insert_row_id(session, CaseRow, **_case("KL-2026-0002", at))
            rows.insert_row(session, AuditRow, case_id=case_id, at=at, actor="mailbot", action="o")
        with sessions() as session:
            audit = session.scalars(select(AuditRow)).one()
            case = session.get(CaseRow, case_id)
        assert second == case_id + 1
        assert audit.at == at and audit.at.tzinfo is not None  # the same moment, aware
        assert audit.rule == "" and audit.message_id is None  # default, and NULL
        assert case is not None and case.deadline == date(2026, 12, 24)

        with pytest.raises(WriteConflict), sessions.begin() as session:
            rows.insert_row(session, CaseRow, **_case("KL-2026-0001", at))
        with pytest.raises(ValueError, match="naive"), sessions.begin() as session:
            rows.insert_row(
                session, AuditRow, case_id=case_id, at=datetime(2026, 1, 1), actor="x", action="o"
            )
        if engine.dialect.name == "postgresql":  # SQLite keeps any length
            with pytest.raises(UnstorableValue), sessions.begin() as session:
                rows.insert_row(
                    session, AuditRow, case_id=case_id, at=at, actor="x" * 400, action="o"
                )
        with sessions() as session:
            assert len(session.scalars(select(AuditRow)).all()) == 1
    finally:
        engine.dispose()


def _case(reference: str, at: datetime) -> dict[str, object]:
    return {
        "reference": reference,
        "state": "received",
        "channel": "email",
        "citizen_email": "burger@telenet.be",
        "citizen_name": "Burger",
        "subject": "Klacht",
        "received_at": at,
        "deadline": date(2026, 12, 24),
        "created_at": at,
    }


WORKER = textwrap.dedent(
    """
    import sys
    from mailbot.persistence.db import make_engine, make_sessionmaker
    from mailbot.persistence import blobs, cases as repo

    engine = make_engine(sys.argv[1])
    sessions = make_sessionmaker(engine)
    numbers = []
    for _ in range(int(sys.argv[2])):
        with sessions.begin() as session:
            numbers.append(repo.next_reference_number(session, "KL", 2026))
    engine.dispose()
    print(" ".join(map(str, numbers)))
    """
)


def test_postgresql_stores_originals_without_trying_to_compress_them(pg_url: str) -> None:
    # pglz cannot shrink photos, PDFs or base64, and trying cost the server a millisecond
    # a mail, on the cores intake shares with it (migration 0011, bench/README.md).
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        text_mail = ("Beste, de straatlamp in de Kerkstraat brandt niet. " * 2000).encode()
        with make_sessionmaker(engine).begin() as session:
            digest = blobs.store_blob(session, text_mail)
        with engine.connect() as conn:
            method, stored = conn.execute(
                text("SELECT pg_column_compression(data), pg_column_size(data) FROM blobs")
            ).one()
        assert method is None and stored >= len(text_mail)
        with make_sessionmaker(engine)() as session:
            assert blobs.load_blob(session, digest) == text_mail
        downgrade(engine, "0010")  # and back: compressed again, as before
        with make_sessionmaker(engine).begin() as session:
            blobs.store_blob(session, text_mail + b".")
        with engine.connect() as conn:
            methods = conn.execute(text("SELECT pg_column_compression(data) FROM blobs")).all()
        assert sorted(str(m) for (m,) in methods) == ["None", "pglz"]
    finally:
        engine.dispose()


def test_two_processes_never_get_the_same_reference(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    per_process = 150
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), db_url, str(per_process)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results: list[int] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.extend(int(n) for n in out.split())
    assert len(results) == 2 * per_process
    assert sorted(results) == list(range(1, 2 * per_process + 1))  # unique and no gaps


def test_the_sqlite_database_and_its_lock_are_readable_by_their_owner_only(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    """Citizens' mail is in there (issue 10.8): 0600, also for the WAL and the lock file."""
    url = f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    app = new_app(write_config(tmp_path, mailbox, smtp_server, url))
    mailbox.append(
        "INBOX", b"From: a@b.example\r\nSubject: x\r\nMessage-ID: <p@b>\r\n\r\nTekst\r\n"
    )
    app.run_once()
    leadership = Leadership(app.engine)
    assert leadership.acquire()  # what `mailbot run` holds
    leadership.release()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("mailbot.sqlite3")]
    assert any(p.name.endswith("-wal") for p in files)
    assert any(p.name.endswith(".lock") for p in files), [p.name for p in files]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_commit_is_on_disk_before_intake_moves_the_mail(tmp_path: Path) -> None:
    """The never-lose rule moves a mail out of the inbox only after its commit; that holds
    across a power cut only if the commit reached the disk (SQLite's WAL mode with
    synchronous=NORMAL may roll back the last commits then; FULL syncs every commit)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'mailbot.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()


def test_head_revision_is_alembics_head() -> None:
    """head_revision() reads the migrations' file names (fast, no Alembic): it must agree
    with Alembic's own view of the newest revision."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from mailbot.persistence.db import MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == head_revision()
