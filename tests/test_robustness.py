"""Nothing lost, nothing twice: fifty varied mails, broken mail, kill -9, SMTP failures."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from servers import Mailbox, SmtpSink
from support import COORDINATOR, FROM_ADDRESS, mailbot, write_config
from test_intake import ARRIVED, by_recipient, complaint, make_app

GARBAGE = [
    b"\xff\xfe\xfd\x80 this is not a mail at all \x81\r\n",
    b"just one line without any header\r\n",
]


def latin1_complaint(n: int) -> bytes:
    return (
        f"From: Fran\xe7oise Dubois {n} <francoise{n}@burger.example>\r\n"
        f"To: {FROM_ADDRESS}\r\n"
        f"Subject: Klacht over de d\xe9chetterie {n}\r\n"
        f"Message-ID: <latin{n}@burger.example>\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n"
        "\r\n"
        "Het containerpark was dicht zonder aankondiging.\r\n"
    ).encode("latin-1")


def fifty_mails() -> tuple[list[bytes], dict[str, int]]:
    """35 complaints, 8 follow-ups, 2 list mails, 1 out-of-office, 1 spam, 1 no-reply,
    2 broken. Returns the mails in arrival order and the expected figures."""
    mails: list[bytes] = []
    for n in range(1, 36):
        if n % 7 == 0:
            mails.append(latin1_complaint(n))
        elif n % 5 == 0:
            mails.append(
                complaint(
                    f"Burger {n}",
                    f"burger{n}@burger.example",
                    f"Klacht {n}",
                    html=f"<p>Klacht <b>nummer {n}</b> over de bib</p>",
                    message_id=f"<c{n}@burger.example>",
                )
            )
        elif n % 3 == 0:
            mails.append(
                complaint(
                    f"Burger {n}",
                    f"burger{n}@burger.example",
                    f"Klacht {n}",
                    message_id=f"<c{n}@burger.example>",
                    attachment=("foto.jpg", "image/jpeg", b"\xff\xd8" + b"x" * 900),
                )
            )
        else:
            mails.append(
                complaint(
                    f"Burger {n}",
                    f"burger{n}@burger.example",
                    f"Klacht {n}",
                    message_id=f"<c{n}@burger.example>",
                )
            )
    for n in (1, 2, 4, 8, 11):  # replies to their own first mail
        mails.append(
            complaint(
                f"Burger {n}",
                f"burger{n}@burger.example",
                f"Re: Klacht {n}",
                in_reply_to=f"<c{n}@burger.example>",
                body="Nog dit.",
            )
        )
    for ref in ("KL-2026-0003", "KL-2026-0010", "KL-2026-0016"):  # replies to the receipt
        mails.append(
            complaint(
                "Iemand", "iemand@burger.example", f"Antw: Ontvangstmelding van je klacht [{ref}]"
            )
        )
    mails.append(
        complaint(
            "Vereniging",
            "nieuws@club.example",
            "Nieuwsbrief",
            headers={"List-Unsubscribe": "<mailto:uit@club.example>"},
        )
    )
    mails.append(
        complaint("Vereniging", "info@club.example", "Aanbieding", headers={"Precedence": "bulk"})
    )
    mails.append(
        complaint(
            "Afwezig", "x@burger.example", "Afwezig", headers={"Auto-Submitted": "auto-replied"}
        )
    )
    mails.append(complaint("", "spam@spam.example", "WIN", headers={"X-Spam-Flag": "YES"}))
    mails.append(complaint("Shop", "noreply@shop.example", "Bestelling"))
    mails.extend(GARBAGE)
    assert len(mails) == 50
    expected = {"cases": 35 + 2 + 1 + 1, "receipts": 35, "quarantined": 2, "follow_ups": 8}
    return mails, expected


def test_fifty_varied_mails_then_a_second_run_does_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mails, expected = fifty_mails()
    for i, raw in enumerate(mails):
        mailbox.append("INBOX", raw, when=ARRIVED + timedelta(seconds=i))
    config = write_config(tmp_path, mailbox, smtp_server, db_url)

    first = mailbot("--config", config, "run", "--once")
    assert first.returncode == 0, first.stderr

    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    with app.sessions() as session:
        from mailbot.persistence import cases as repo

        cases = repo.list_cases(session)
    assert len(cases) == expected["cases"]
    assert len({c.reference for c in cases}) == len(cases)
    receipts = [m for m in smtp_server.messages if m.message["Auto-Submitted"] == "auto-replied"]
    assert len(receipts) == expected["receipts"]
    per_case = Counter(m.subject for m in receipts)
    assert max(per_case.values()) == 1  # exactly one receipt per new case
    for n in (7, 14, 21, 28, 35):  # raw Latin-1 headers kept their accents
        assert any(c.citizen_name == f"Françoise Dubois {n}" for c in cases)
    assert any(c.subject == "Klacht over de déchetterie 7" for c in cases)
    notices = by_recipient(smtp_server, COORDINATOR)
    quarantine_notices = [n for n in notices if n.subject.startswith("Mail in quarantaine")]
    assert len(quarantine_notices) == expected["quarantined"]
    follow_up_notices = [n for n in notices if n.subject.startswith("Nieuwe reactie in dossier")]
    assert len(follow_up_notices) == expected["follow_ups"]
    assert len(notices) == expected["cases"] + expected["quarantined"] + expected["follow_ups"]
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Verwerkt")) == 50 - expected["quarantined"]
    assert sorted(mailbox.fetch_all("Quarantaine")) == sorted(GARBAGE)

    sent_before = len(smtp_server.messages)
    second = mailbot("--config", config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "intake: 0 messages" in second.stdout
    assert len(smtp_server.messages) == sent_before
    with app.sessions() as session:
        assert len(repo.list_cases(session)) == expected["cases"]


def test_a_broken_mail_goes_to_quarantine_and_the_run_goes_on(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append("INBOX", GARBAGE[1], when=ARRIVED)
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url)

    report = app.run_once()

    assert report.intake is not None
    assert report.intake.outcomes == {"quarantined": 1, "new_case": 1}
    assert mailbox.fetch_all("Quarantaine") == [GARBAGE[1]]
    notice = [
        n
        for n in by_recipient(smtp_server, COORDINATOR)
        if n.subject == "Mail in quarantaine: niet leesbaar"
    ]
    assert len(notice) == 1
    text = notice[0].message.get_body(("plain",)).get_content()
    assert "Quarantaine" in text and "Reden:" in text
    assert len(by_recipient(smtp_server, "jan@burger.example")) == 1


def test_temporary_smtp_failure_is_retried_and_permanent_one_reported(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    mailbox.append("INBOX", complaint("Weg", "weg@burger.example", "Klacht 2"), when=ARRIVED)
    smtp_server.fail_next(1, code=451)  # first delivery: "try again later"
    smtp_server.reject_recipient("weg@burger.example")  # 550 for good
    app = make_app(
        tmp_path, mailbox, smtp_server, sqlite_url, outbox={"retry_initial": 0.2, "retry_max": 0.2}
    )

    first = app.run_once()
    assert first.dispatch.retried == 1 and first.dispatch.failed == 1
    time.sleep(0.3)
    second = app.dispatch_pass()
    assert second.sent >= 1

    assert len(by_recipient(smtp_server, "jan@burger.example")) == 1
    assert by_recipient(smtp_server, "weg@burger.example") == []
    failures = [
        n
        for n in by_recipient(smtp_server, COORDINATOR)
        if n.subject.startswith("Versturen mislukt in dossier KL-2026-0002")
    ]
    assert len(failures) == 1
    assert "550" in failures[0].message.get_body(("plain",)).get_content()
    assert app.dispatch_pass().sent == 0  # nothing left, nothing twice


def test_kill_9_in_the_middle_of_a_batch_loses_nothing_and_doubles_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    total = 60
    for n in range(total):
        mailbox.append(
            "INBOX",
            complaint(f"Burger {n}", f"b{n}@burger.example", f"Klacht {n}"),
            when=ARRIVED + timedelta(seconds=n),
        )
    db_file = tmp_path / "mailbot.sqlite3"
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        f"sqlite:///{db_file}",
        mailbox={"batch_size": 25},
        receipts={"max_per_domain_per_hour": 1000, "max_per_hour": 1000},  # 60 citizens
    )
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _count(db_file, "SELECT count(*) FROM cases") >= 10:
                break
            time.sleep(0.02)
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()
    stored_at_kill = _count(db_file, "SELECT count(*) FROM cases")
    assert 10 <= stored_at_kill < total, "the kill must land in the middle of the work"

    again = mailbot("--config", config, "run", "--once")
    assert again.returncode == 0, again.stderr

    assert _count(db_file, "SELECT count(*) FROM cases") == total
    assert _count(db_file, "SELECT count(DISTINCT citizen_email) FROM cases") == total
    receipts = [m for m in smtp_server.messages if m.message["Auto-Submitted"] == "auto-replied"]
    per_address = Counter(m.rcpt_tos[0] for m in receipts)
    assert len(per_address) == total and set(per_address.values()) == {1}
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Verwerkt")) == total


def _count(db_file: Path, sql: str) -> int:
    if not db_file.exists():
        return 0
    try:
        with sqlite3.connect(db_file, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_sigterm_stops_the_daemon_within_seconds(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        smtp_server.wait_for(2, timeout=30)  # receipt and notice: it is working
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        if daemon.poll() is None:
            daemon.kill()
    stderr = daemon.stderr.read() if daemon.stderr else ""
    if daemon.stderr:
        daemon.stderr.close()
    assert code == 0, stderr
    assert elapsed < 10
    assert "daemon: stopped" in stderr


def test_config_errors_and_login_failure_have_clear_messages_and_exit_codes(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    text = config.read_text()

    config.write_text(text.replace("host = ", "hots = ", 1))
    typo = mailbot("--config", config, "run", "--once")
    assert typo.returncode == 2
    assert str(config) in typo.stderr and "[mailbox] hots" in typo.stderr
    assert "host" in typo.stderr

    config.write_text(text.replace(f'coordinator = "{COORDINATOR}"', ""))
    missing = mailbot("--config", config, "check")
    assert missing.returncode == 2 and "[staff] coordinator" in missing.stderr

    config.write_text(text.replace(f'password = "{mailbox.password}"', 'password = "fout"'))
    wrong = mailbot("--config", config, "run", "--once")
    assert wrong.returncode == 1
    assert "login refused" in wrong.stderr and "fout" not in wrong.stderr

    config.write_text(text)
    ok = mailbot("--config", config, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "all checks passed" in ok.stdout
    assert mailbox.password not in ok.stdout + ok.stderr

    none = subprocess.run(
        [sys.executable, "-m", "mailbot", "cases", "list"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"},
    )
    assert none.returncode == 2 and "MAILBOT_CONFIG" in none.stderr


def test_started_at_utc_midnight_the_local_year_decides_the_reference(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    # 23:30 UTC on 31 December 2025 is already 1 January 2026 in Brussels. (Dovecot
    # ignores an INTERNALDATE in the future, so the test uses the past new year.)
    new_year = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Vuurwerk"), when=new_year)
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url)
    app.run_once()
    receipt = by_recipient(smtp_server, "jan@burger.example")[0]
    assert "KL-2026-0001" in receipt.subject
    assert "1 januari 2026" in receipt.message.get_body(("plain",)).get_content()
    assert "1 februari 2026" in receipt.message.get_body(("plain",)).get_content()


def test_a_mail_that_trips_an_error_goes_to_quarantine_instead_of_blocking_the_inbox(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    # An operator's own receipt template with a typo: every new case fails to render.
    own = tmp_path / "templates"
    own.mkdir()
    (own / "receipt.subject.txt").write_text("Ontvangen [{{ referentie }}]\n")
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    mailbox.append("INBOX", complaint("Piet", "piet@burger.example", "Klacht 2"), when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url, templates={"folder": str(own)})

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"quarantined": 2}
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Quarantaine")) == 2
    notices = by_recipient(smtp_server, COORDINATOR)
    assert len(notices) == 2
    text = notices[0].message.get_body(("plain",)).get_content()
    assert "referentie" in text and "is undefined" in text
    with app.sessions() as session:
        from mailbot.persistence import cases as repo

        assert repo.list_cases(session) == []  # rolled back: no half case


def test_secrets_never_reach_the_log_even_at_debug_level(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    secret = "Zeer-Geheim-7f3a"
    (tmp_path / "mailbox-password").write_text(secret + "\n")
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    # the real password through a file, a wrong one first: both paths must stay silent
    text = config.read_text().replace(
        f'password = "{mailbox.password}"', 'password_file = "mailbox-password"'
    )
    config.write_text(text)
    refused = mailbot("--config", config, "-v", "run", "--once")
    assert refused.returncode == 1 and secret not in refused.stdout + refused.stderr
    (tmp_path / "mailbox-password").write_text(mailbox.password + "\n")
    ok = mailbot("--config", config, "-v", "run", "--once")
    assert ok.returncode == 0, ok.stderr
    assert "DEBUG" in ok.stderr  # it really logged at debug level
    assert mailbox.password not in ok.stderr + ok.stdout


def test_an_unreachable_smtp_server_stops_the_pass_and_loses_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    from servers import free_port

    for n in range(3):
        mailbox.append("INBOX", complaint("B", f"b{n}@burger.example", f"Klacht {n}"), when=ARRIVED)
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, outbox={"retry_initial": 0.1, "retry_max": 0.1}
    )
    working = config.read_text()
    config.write_text(working.replace(f"port = {smtp_server.port}", f"port = {free_port()}"))

    first = mailbot("--config", config, "run", "--once")
    assert first.returncode == 0, first.stderr
    # one attempt, then the pass stopped: the other five mails (three receipts, three
    # notices in all) did not each wait out a dead server
    assert "sent 0, retry later 1, failed 0" in first.stdout

    config.write_text(working)  # the server is back
    time.sleep(0.2)
    second = mailbot("--config", config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert len(smtp_server.messages) == 6  # every receipt and notice went out after all
