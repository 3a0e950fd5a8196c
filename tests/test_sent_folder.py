"""The sent folder is found without configuration: the folder the IMAP server marks \\Sent
(RFC 6154 SPECIAL-USE), else a commonly used name. `check` says which folder is watched, the
reminders name it, and an answer put there closes the case. End to end on the real Dovecot,
whose folder "Verzonden berichten" has the \\Sent attribute (tests/servers.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import make_msgid
from pathlib import Path

from harness import DovecotServer, Mailbox, SmtpSink
from sqlalchemy import select
from support.app import FROM_ADDRESS, mailbot, new_app, write_config
from support.mails import body_text

from mailbot.inbound.imap import pick_sent_folder
from mailbot.persistence import cases as repo
from mailbot.persistence.tables import OutboxRow

SPECIAL = DovecotServer.SPECIAL_SENT
CITIZEN = "an.peeters@burger.example"
ARRIVED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def mail(sender: str, to: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = make_msgid(domain="example")
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


# -- choosing among the server's folders (pure) -------------------------------------------


def test_the_special_use_attribute_wins_over_every_name() -> None:
    listing = [((b"\\HasNoChildren",), "Sent"), ((b"\\HasNoChildren", b"\\Sent"), "Postvak UIT")]
    assert pick_sent_folder(listing) == "Postvak UIT"


def test_without_the_attribute_a_common_name_is_taken_in_any_case() -> None:
    assert pick_sent_folder([((), "INBOX"), ((), "verzonden ITEMS")]) == "verzonden ITEMS"
    assert pick_sent_folder([((), "INBOX.Sent"), ((), "Sent Items")]) == "Sent Items"
    assert pick_sent_folder([((), "INBOX"), ((), "Archief")]) is None


# -- end to end on Dovecot ----------------------------------------------------------------


def test_check_and_intake_use_the_special_use_folder(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.create(SPECIAL)
    mailbox.create("Sent")  # a common name: the \Sent attribute must win over it
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, reminders={"enabled": True, "mode": "per_case"}
    )

    checked = mailbot("--config", config, "check")
    assert checked.returncode == 0, checked.stdout
    assert f"imap: sent folder {SPECIAL}: found on the server, watched" in checked.stdout
    assert "WARNING" not in checked.stdout

    app = new_app(config)
    mailbox.append(
        "INBOX",
        mail(f"An Peeters <{CITIZEN}>", FROM_ADDRESS, "Wachttijd Burgerzaken", "Ik wacht al."),
        when=ARRIVED,
    )
    app.run_once()  # the case; the sent folder is watched from now on
    plan = app.reminders.run_pass(as_of=date(2026, 12, 10))  # 14 days before the deadline
    assert plan.mails
    with app.sessions() as session:
        content = session.execute(
            select(OutboxRow.content).where(OutboxRow.kind == "reminder")
        ).scalar_one()
    text = body_text(message_from_bytes(content, policy=default))
    assert f"de map {SPECIAL}" in " ".join(text.split())
    assert "Verzonden items" not in text

    answer = mail(
        FROM_ADDRESS,
        f"An Peeters <{CITIZEN}>",
        "Re: Ontvangstmelding van je klacht [KL-2026-0001]",
        "Beste An,\n\nHierbij ons gemotiveerd antwoord.\n",
    )
    mailbox.append(SPECIAL, answer, when=ARRIVED + timedelta(days=3))
    mailbox.append("Sent", answer.replace(b"gemotiveerd", b"ander"), when=ARRIVED)
    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"staff_mail": 1}
    with app.sessions() as session:
        found = repo.find_case_by_reference(session, "KL-2026-0001")
        assert found is not None and found.state == "answered"
    assert len(mailbox.uids(SPECIAL)) == 1  # read, never moved


def test_check_warns_when_nothing_sent_by_staff_can_be_trusted(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    bare = mailbot("--config", config, "check")
    assert bare.returncode == 0, bare.stdout
    assert "imap: sent folder: none found" in bare.stdout
    assert "WARNING: no sent folder and no [staff] authserv_ids" in bare.stdout

    trusted = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, staff={"authserv_ids": ["mx.example"]}
    )
    assert "WARNING" not in mailbot("--config", trusted, "check").stdout

    mailbox.create("Sent Items")
    named = mailbot("--config", config, "check").stdout
    assert "imap: sent folder Sent Items: found on the server" in named
