"""SQLite's log is copied into the database file beside the intake, not in its commits
(`mailbot/persistence/checkpoint.py`): real Dovecot, a real SQLite file, a real backlog of
mails with attachments. SQLite only: PostgreSQL has no such log to copy."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from harness import Mailbox, SmtpSink
from support.app import make_app
from support.mails import ARRIVED, complaint

from mailbot.persistence import checkpoint
from mailbot.persistence.checkpoint import WalCheckpointer

ATTACHMENT = 200_000  # bytes; each mail stores about twice that (original and attachment)


def _backlog(mailbox: Mailbox, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        photo = os.urandom(ATTACHMENT)  # every attachment its own: blobs are stored once
        raw = complaint(
            f"Burger {n}",
            f"burger{n}@burger.example",
            f"Put in de stoep ({n})",
            attachment=(f"stoep{n}.jpg", "image/jpeg", photo),
        )
        mailbox.append("INBOX", raw, when=ARRIVED)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    database = tmp_path / "mailbot.sqlite3"
    return database, Path(f"{database}-wal")


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"


def test_a_backlog_commit_leaves_the_copying_to_the_checkpointer_and_loses_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    app = make_app(tmp_path, mailbox, smtp_server, _sqlite(tmp_path))
    assert app.checkpointer is not None
    app.checkpointer.close()  # as if it had fallen behind
    database, wal = _files(tmp_path)
    before = database.stat().st_size
    _backlog(mailbox, 24)

    stats = app.intake_pass()

    assert stats.outcomes == {"new_case": 24} and mailbox.uids("INBOX") == []
    # The commits wrote the mails to the log and copied none of it into the database
    # file (SQLite's default copies in the commit once the log passes 1,000 pages).
    assert database.stat().st_size < before + 1_000_000
    assert wal.stat().st_size > 24 * 2 * ATTACHMENT
    # Another checkpointer (the next start) copies it all; the log then starts over.
    again = WalCheckpointer.attach(app.engine, app.sessions)
    assert again is not None
    try:
        assert again.settle(timeout=30)
        assert database.stat().st_size > before + 24 * 2 * ATTACHMENT
        log_size = wal.stat().st_size
        _backlog(mailbox, 4, start=24)
        assert app.intake_pass().outcomes == {"new_case": 4}
        assert again.settle(timeout=30)
        assert wal.stat().st_size == log_size  # written from its start again, not appended
    finally:
        again.close()
    with app.sessions() as session:
        from mailbot.persistence import cases as repo

        assert len(repo.list_cases(session)) == 28


def test_the_log_stays_small_over_a_morning_of_passes(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    app = make_app(tmp_path, mailbox, smtp_server, _sqlite(tmp_path))
    assert app.checkpointer is not None
    database, wal = _files(tmp_path)
    for round_ in range(4):
        _backlog(mailbox, 8, start=8 * round_)
        assert app.intake_pass().outcomes == {"new_case": 8}
        assert app.checkpointer.settle(timeout=30)
    # Four passes of 8 mails (about 3.5 MB each): the log holds no more than two passes'
    # worth, while the database file holds all of them.
    assert wal.stat().st_size < 2 * 8 * 3 * ATTACHMENT
    assert database.stat().st_size > 4 * 8 * 2 * ATTACHMENT


def test_without_a_checkpointer_commits_copy_the_log_themselves_past_the_safety_net(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "SAFETY_NET_PAGES", 256)  # 1 MB instead of 40
    app = make_app(tmp_path, mailbox, smtp_server, _sqlite(tmp_path))
    assert app.checkpointer is not None
    app.checkpointer.close()  # as if it had failed for good
    database, _wal = _files(tmp_path)
    _backlog(mailbox, 12)

    assert app.intake_pass().outcomes == {"new_case": 12}

    assert database.stat().st_size > 12 * 2 * ATTACHMENT


def test_a_checkpointer_that_cannot_read_the_database_says_so_once_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "mailbot.sqlite3"
    broken.write_bytes(b"not a database " * 1000)  # e.g. overwritten by mistake
    Path(f"{broken}-wal").write_bytes(b"")
    checkpointer = WalCheckpointer(str(broken))
    checkpointer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="mailbot.persistence.checkpoint"):
            for _ in range(3):
                assert checkpointer.settle(timeout=10)  # each attempt ends, none hangs
    finally:
        checkpointer.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(broken) in warnings[0]
    assert "commits copy it themselves" in warnings[0]


def test_closing_the_app_stops_the_checkpointer_and_leaves_one_complete_file(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    app = make_app(tmp_path, mailbox, smtp_server, _sqlite(tmp_path))
    database, wal = _files(tmp_path)
    _backlog(mailbox, 6)
    assert app.intake_pass().outcomes == {"new_case": 6}

    app.close()

    assert not [t for t in threading.enumerate() if t.name == "mailbot-checkpoint"]
    # The last connection to close copied the log back and removed it: a backup of the
    # database file alone (ops' `cp` after `systemctl stop`) holds every mail.
    assert not wal.exists()
    assert database.stat().st_size > 6 * 2 * ATTACHMENT
