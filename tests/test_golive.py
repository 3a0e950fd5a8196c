"""The first day (issue 11.1): a mailbox that already holds last year's mail. End to end on
Dovecot, the SMTP sink and the test database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import Mailbox, SmtpSink
from support.app import COORDINATOR, new_app, write_config
from support.mails import body_text, complaint

from mailbot.app import App
from mailbot.domain.model import CaseState
from mailbot.persistence import cases as repo

OLD = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def old_mailbox(mailbox: Mailbox, count: int = 40) -> None:
    for n in range(count):
        mailbox.append(
            "INBOX",
            complaint(f"Burger {n}", f"b{n}@burger{n % 5}.example", f"Oude klacht {n}"),
            when=OLD + timedelta(hours=n),
            flags=[b"\\Seen"],  # read long ago in the shared mailbox
        )


def app_for(tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, db_url: str) -> App:
    return new_app(write_config(tmp_path, mailbox, smtp, db_url))


def test_backlog_import_records_everything_and_mails_nobody_but_one_summary(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    old_mailbox(mailbox)
    app = app_for(tmp_path, mailbox, smtp_server, db_url)
    assert app.backlog_waiting().blocks_start  # the guard would stop `mailbot run`

    stats = app.backlog_import(None)

    assert stats.seen == 40 and dict(stats.outcomes) == {"new_case": 40}
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids("Verwerkt")) == 40
    assert [m.rcpt_tos for m in smtp_server.messages] == [(COORDINATOR,)]
    summary = smtp_server.messages[0]
    assert "40 oude mails" in summary.subject
    assert "cases list --state imported" in body_text(summary)
    with app.sessions() as session:
        cases = repo.list_cases(session)
    assert len(cases) == 40 and {c.state for c in cases} == {CaseState.IMPORTED}
    assert cases[0].received_at == OLD  # its real arrival
    assert not app.backlog_waiting().blocks_start  # a restart is no go-live

    # nobody is reminded of last year's mail, in either mode
    plan = app.reminders.run_pass(as_of=date.today())
    assert plan.mails == []
    assert app.run_once().intake is not None
    assert [m.rcpt_tos for m in smtp_server.messages] == [(COORDINATOR,)]


def test_a_dry_run_changes_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    old_mailbox(mailbox, 5)
    app = app_for(tmp_path, mailbox, smtp_server, db_url)

    stats = app.backlog_import(None, dry_run=True)

    assert stats.seen == 5 and dict(stats.outcomes) == {"new_case": 5}
    assert len(mailbox.uids("INBOX")) == 5
    assert smtp_server.messages == []
    with app.sessions() as session:
        assert repo.list_cases(session) == []


def test_only_mail_before_the_moment_is_imported_and_new_mail_is_answered(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    old_mailbox(mailbox, 3)
    mailbox.append("INBOX", complaint("Nieuw", "nieuw@burger.example", "Vandaag"))
    app = app_for(tmp_path, mailbox, smtp_server, db_url)

    app.backlog_import(datetime.now(UTC) - timedelta(days=1))
    assert len(mailbox.uids("INBOX")) == 1  # today's mail waits for the daemon
    app.run_once()

    receipts = [m for m in smtp_server.messages if m.subject.startswith("Ontvangstmelding")]
    assert [m.rcpt_tos for m in receipts] == [("nieuw@burger.example",)]


def test_without_import_old_mail_gets_no_receipt_with_a_date_gone_by(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    old_mailbox(mailbox, 2)
    app = app_for(tmp_path, mailbox, smtp_server, db_url)

    app.run_once()

    assert [m for m in smtp_server.messages if COORDINATOR not in m.rcpt_tos] == []
    notice = body_text(smtp_server.messages[0])
    assert "GEEN ontvangstmelding" in notice and "has already passed" in notice


def test_acting_on_an_imported_case_brings_it_into_the_reminders(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    old_mailbox(mailbox, 1)
    app = new_app(
        write_config(
            tmp_path,
            mailbox,
            smtp_server,
            db_url,
            staff={"authserv_ids": ["mx.gemeente.example"]},
            reminders={"enabled": True, "mode": "digest"},
        )
    )
    app.backlog_import(None)
    mailbox.append(
        "INBOX",
        (
            "Authentication-Results: mx.gemeente.example; dmarc=pass "
            "header.from=gemeente.example\r\n"
            "Received: from mail.gemeente.example by mx.gemeente.example; "
            "Wed, 2 Dec 2026 09:00 +0100\r\n"
            f"From: {COORDINATOR}\r\nTo: klachten@gemeente.example\r\n"
            "Subject: Re: KL-2025-0001\r\nMessage-ID: <act-1@gemeente.example>\r\n\r\n"
            "#ontvankelijk\r\n"
        ).encode(),
    )
    app.run_once()

    with app.sessions() as session:
        case = repo.find_case_by_reference(session, "KL-2025-0001")
        assert case is not None and case.state == CaseState.IN_PROGRESS.value
