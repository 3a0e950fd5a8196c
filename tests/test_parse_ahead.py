"""Parsing ahead on the second core (mailbot/inbound/parse/ahead.py, issue 13): a backlog's
mails are parsed in a worker process exactly as they would be in the daemon; a worker that
dies loses nothing; a daemon killed with kill -9 leaves no worker behind, and one stopped
like `systemctl stop` in the middle of a backlog stops cleanly."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from harness import Mailbox, SmtpSink
from support.app import NO_RECEIPT_LIMITS, make_app, write_config
from support.daemon import daemon
from support.mails import ARRIVED, complaint
from support.waiting import wait_until

from mailbot.domain.model import FetchedMail
from mailbot.inbound.parse.ahead import ParseAhead, ParseFailure, parse_outcome

NOT_A_MAIL = b"\xff\xfe\xfd\x80 this is not a mail at all \x81\r\n"


def backlog(count: int) -> list[bytes]:
    """Complaints with and without an attachment, one from a Latin-1 mailer, one non-mail."""
    mails = [
        complaint(
            f"Burger {n}",
            f"burger{n}@burger.example",
            f"Klacht {n} over de straatverlichting",
            attachment=("foto.jpg", "image/jpeg", bytes(range(256)) * 40) if n % 3 == 0 else None,
        )
        for n in range(count - 2)
    ]
    latin1 = (
        "From: Fran\xe7oise Dubois <francoise@burger.example>\r\n"
        "Subject: Klacht over de d\xe9chetterie\r\n"
        "Message-ID: <latin@burger.example>\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n\r\n"
        "Het containerpark was dicht.\r\n"
    ).encode("latin-1")
    return [*mails, latin1, NOT_A_MAIL]


def fetched(raws: list[bytes]) -> list[FetchedMail]:
    return [FetchedMail("INBOX", 7, uid, raw, ARRIVED) for uid, raw in enumerate(raws, 1)]


def test_the_worker_parses_a_batch_exactly_as_this_process_would() -> None:
    raws = backlog(30)
    ahead = ParseAhead(workers=1)
    try:
        outcomes = list(ahead.outcomes(fetched(raws)))
    finally:
        ahead.close()

    assert ahead.in_worker == 30
    assert outcomes == [parse_outcome(raw) for raw in raws]
    assert isinstance(outcomes[-1], ParseFailure) and not outcomes[-1].crashed
    latin = outcomes[-2]
    assert latin is not None and not isinstance(latin, ParseFailure)
    assert latin.subject == "Klacht over de déchetterie"


def test_oversize_mails_between_the_chunks_keep_every_outcome_in_its_place() -> None:
    """The worker gets the mails in chunks of 1, 2, 4, 8 (fewer round trips); a mail over
    the size limit is not parsed (None), wherever it falls, and the rest line up."""
    raws = backlog(45)
    items = [
        FetchedMail(
            "INBOX", 7, uid, raw, ARRIVED, oversize=9_000_000 if uid in (1, 3, 9, 30) else None
        )
        for uid, raw in enumerate(raws, 1)
    ]
    ahead = ParseAhead(workers=1)
    try:
        outcomes = list(ahead.outcomes(items))
    finally:
        ahead.close()
    assert ahead.in_worker == 41
    assert outcomes == [None if i.oversize else parse_outcome(i.raw) for i in items]


def test_a_small_batch_is_parsed_here_without_starting_a_worker() -> None:
    """The daemon's usual one or two new mails: no process start delays their receipt."""
    raws = backlog(5)
    ahead = ParseAhead(workers=1)
    outcomes = list(ahead.outcomes(fetched(raws)))
    ahead.close()

    assert ahead.in_worker == 0
    assert outcomes == [parse_outcome(raw) for raw in raws]


def test_when_the_worker_dies_the_batch_is_parsed_here_and_the_next_gets_a_new_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raws = backlog(40)
    items = fetched(raws)
    expected = [parse_outcome(raw) for raw in raws]
    ahead = ParseAhead(workers=1)
    try:
        before = set(multiprocessing.active_children())
        assert list(ahead.outcomes(items)) == expected  # the worker is up
        workers = [p for p in multiprocessing.active_children() if p not in before]
        assert len(workers) == 1
        os.kill(workers[0].pid or 0, signal.SIGKILL)  # the OOM killer, say
        workers[0].join(10)

        with caplog.at_level(logging.WARNING, logger="mailbot.inbound.parse.ahead"):
            assert list(ahead.outcomes(items)) == expected
        assert "parse worker died" in caplog.text or "no parse worker" in caplog.text

        parsed_there = ahead.in_worker
        assert list(ahead.outcomes(items)) == expected
        assert ahead.in_worker == parsed_there + 40  # a new worker for the next batch
    finally:
        ahead.close()


def test_a_backlog_in_the_inbox_is_parsed_in_the_worker_and_handled_as_always(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    raws = backlog(24)
    for i, raw in enumerate(raws):
        mailbox.append("INBOX", raw, when=ARRIVED + timedelta(minutes=i))
    app = make_app(
        tmp_path,
        mailbox,
        smtp_server,
        db_url,
        intake={"backlog_limit": 100},
        receipts=NO_RECEIPT_LIMITS,  # 23 receipts to one mail domain within the hour
    )

    report = app.run_once()

    assert app.ahead.in_worker == 24
    assert report.intake is not None
    assert report.intake.outcomes == {"new_case": 23, "quarantined": 1}
    assert mailbox.uids("INBOX") == []
    assert mailbox.fetch_all("Quarantaine") == [NOT_A_MAIL]
    receipts = [m for m in smtp_server.messages if m.message["Auto-Submitted"] == "auto-replied"]
    assert len(receipts) == 23


def _children(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*")
        for child in (task / "children").read_text().split()
    ]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_daemon_killed_with_kill_9_leaves_no_parse_worker_behind(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    for i, raw in enumerate(backlog(30)):
        mailbox.append("INBOX", raw, when=ARRIVED + timedelta(minutes=i))
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url, intake={"backlog_limit": 100})
    with daemon(config, tmp_path / "daemon.log") as process:
        log = tmp_path / "daemon.log"
        wait_until(lambda: mailbox.uids("INBOX") == [], 60, "the backlog handled", log)
        workers = [p for p in _children(process.pid) if _alive(p)]
        assert workers, "the daemon parsed its backlog without a worker"
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_until(lambda: not any(_alive(p) for p in workers), 10, "the worker gone")


def test_systemctl_stop_in_the_middle_of_a_backlog_ends_daemon_and_worker_cleanly(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    """`systemctl stop` sends SIGTERM to every process of the unit at once, here while a
    backlog is being parsed ahead: the daemon finishes the mail in hand, stops its worker
    and exits 0, with no traceback and no orphan; every mail is handled once or still
    waits in the inbox for the next start."""
    total = 400
    for i, raw in enumerate(backlog(total)):
        mailbox.append("INBOX", raw, when=ARRIVED + timedelta(seconds=i))
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, intake={"backlog_limit": 1000}
    )
    log = tmp_path / "daemon.log"
    with daemon(config, log) as process:
        wait_until(
            lambda: "parser" in log.read_text() or "outcome=" in log.read_text(), 60, "intake", log
        )
        wait_until(lambda: _children(process.pid) != [], 30, "a parse worker", log)
        workers = [p for p in _children(process.pid) if _alive(p)]
        for pid in [process.pid, *workers]:  # the whole unit, as systemd's KillMode does
            os.kill(pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        wait_until(lambda: not any(_alive(p) for p in workers), 10, "the worker gone")
    text = log.read_text()
    assert "Traceback" not in text and "parse worker died" not in text, text[-3000:]
    left = len(mailbox.uids("INBOX"))
    assert 0 < left < total, "the stop came after the backlog, not in the middle of it"
    assert len(mailbox.uids("Verwerkt")) + len(mailbox.uids("Quarantaine")) + left == total
