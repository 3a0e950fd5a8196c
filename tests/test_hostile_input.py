"""Mail that tries to hurt (issue 10): a reused Message-ID, fields longer than any column,
a command sent from the shared mailbox to itself. End to end: Dovecot, the SMTP sink and
the test database (SQLite, and PostgreSQL in the second round of scripts/test)."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from hashlib import sha1
from pathlib import Path

import pytest
from harness import Mailbox, SmtpSink
from support.app import COORDINATOR, FROM_ADDRESS, mailbot, make_app, new_app, write_config
from support.mails import ARRIVED, body_text, by_recipient, complaint

from mailbot.app import App
from mailbot.persistence import cases as repo

SENT = "Verzonden items"


def with_sent_folder(tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, db_url: str) -> App:
    return new_app(write_config(tmp_path, mailbox, smtp, db_url, mailbox={"sent_folder": SENT}))


def test_a_different_complaint_with_a_reused_message_id_is_not_lost(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    same_id = "<1@mailer.example>"
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Put", message_id=same_id))
    mailbox.append(
        "INBOX",
        complaint("Bo", "bo@elders.example", "Lawaai", "Andere klacht.\n", message_id=same_id),
    )
    # and the very same mail again (delivered twice) is a duplicate
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Put", message_id=same_id))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    report = app.run_once()

    assert report.intake is not None
    assert dict(report.intake.outcomes) == {"new_case": 2, "duplicate": 1}
    assert len(by_recipient(smtp_server, "an@burger.example")) == 1
    assert len(by_recipient(smtp_server, "bo@elders.example")) == 1


def _long(field: str) -> bytes:
    msg = EmailMessage()
    name = "A" * 250 if field == "name" else "An"
    local = "a" * 330 if field == "address" else "an"
    msg["From"] = f"{name} <{local}@burger.example>"
    msg["To"] = FROM_ADDRESS
    msg["Subject"] = f"Te lang: {field}"
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = (
        f"<{'m' * 1100}@burger.example>" if field == "message-id" else (f"<{field}@burger.example>")
    )
    msg.set_content("Een gewone klacht met een te lang veld.\n")
    if field == "content-type":
        msg.add_attachment(b"data", maintype="application", subtype="x-" + "b" * 300)
    return msg.as_bytes(policy=SMTP)


def test_over_long_fields_never_block_the_inbox(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    for field in ("name", "address", "message-id", "content-type"):
        mailbox.append("INBOX", _long(field), when=ARRIVED)
    mailbox.append("INBOX", complaint("Gewoon", "gewoon@burger.example", "Daarna"), when=ARRIVED)
    config = write_config(tmp_path, mailbox, smtp_server, db_url)

    done = mailbot("--config", config, "run", "--once")

    assert done.returncode == 0, done.stderr
    assert mailbox.uids("INBOX") == []  # nothing left behind, nothing blocks the next mail
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    with app.sessions() as session:
        subjects = sorted(c.subject for c in repo.list_cases(session))
    assert "Daarna" in subjects
    assert len(subjects) + len(mailbox.uids("Quarantaine")) == 5
    assert by_recipient(smtp_server, "gewoon@burger.example")


def test_a_follow_up_with_a_long_message_id_joins_its_case(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    first = "<" + "x" * 240 + "@burger.example>"
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Put", message_id=first))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    reply_id = "<" + "y" * 240 + "@burger.example>"
    mailbox.append(
        "INBOX",
        complaint("An", "an@burger.example", "Nog iets", message_id=reply_id, in_reply_to=first),
    )

    report = app.run_once()

    assert report.intake is not None and dict(report.intake.outcomes) == {"follow_up": 1}
    with app.sessions() as session:
        case = repo.find_case_by_reference(session, "KL-2026-0001")
        assert case is not None and [m.kind for m in case.messages if m.direction == "in"] == [
            "complaint",
            "follow_up",
        ]


def _command_to_ourselves(sender: str, sender_header: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    if sender_header:
        msg["Sender"] = sender_header
    msg["To"] = FROM_ADDRESS
    msg["Subject"] = "Re: Ontvangstmelding van je klacht [KL-2026-0001]"
    msg["Date"] = "Wed, 25 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = "<cmd-1@gemeente.example>"
    msg.set_content("#onontvankelijk melding\n")
    return msg.as_bytes(policy=SMTP)


@pytest.mark.parametrize("sent_first", [True, False], ids=["sent-copy-first", "inbox-copy-first"])
@pytest.mark.parametrize(
    ("sender", "sender_header"),
    [(FROM_ADDRESS, None), (COORDINATOR, FROM_ADDRESS)],
    ids=["from-shared", "from-coordinator-sender-shared"],
)
def test_a_command_sent_from_the_shared_mailbox_to_itself_is_carried_out_once(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpSink,
    db_url: str,
    sent_first: bool,
    sender: str,
    sender_header: str | None,
) -> None:
    mailbox.create(SENT)
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Put"), when=ARRIVED)
    app = with_sent_folder(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()  # the case, and the sent folder is watched from now on
    raw = _command_to_ourselves(sender, sender_header)
    later = ARRIVED + timedelta(days=1)
    if sent_first:
        mailbox.append(SENT, raw, when=later)
        app.run_once()
        mailbox.append("INBOX", raw, when=later)
        app.run_once()
    else:
        mailbox.append("INBOX", raw, when=later)
        app.run_once()
        mailbox.append(SENT, raw, when=later)
        app.run_once()
    app.run_once()

    with app.sessions() as session:
        case = repo.find_case_by_reference(session, "KL-2026-0001")
        assert case is not None and case.state == "closed"
        assert case.inadmissible_reason == "melding"
    letters = [m for m in by_recipient(smtp_server, "an@burger.example")]
    assert [m.subject for m in letters].count(
        "Je klacht [KL-2026-0001]: beslissing over de ontvankelijkheid"
    ) == 1


def test_both_copies_in_one_pass_send_no_refusal(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.create(SENT)
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Put"), when=ARRIVED)
    app = with_sent_folder(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    raw = _command_to_ourselves(FROM_ADDRESS, None)
    mailbox.append("INBOX", raw)
    mailbox.append(SENT, raw)
    before = len(smtp_server.messages)

    app.run_once()

    subjects = [m.subject for m in smtp_server.messages[before:]]
    assert not [s for s in subjects if s.startswith("Niet uitgevoerd")], subjects
    assert any(s.startswith("Uitgevoerd") for s in subjects), subjects


def test_a_receipt_goes_only_to_the_sender_and_repeats_no_links(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.append(
        "INBOX",
        complaint(
            "Klantendienst http://evil.example",
            "victim@burger.example",
            "Uw betaling is mislukt: ga naar http://evil.example/pay of mail help@evil.example",
            headers={"Reply-To": "Other Victim <other@elders.example>"},
        ),
    )
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    app.run_once()

    receipts = by_recipient(smtp_server, "victim@burger.example")
    assert len(receipts) == 1 and by_recipient(smtp_server, "other@elders.example") == []
    text = body_text(receipts[0])
    assert "evil" not in text and "http" not in text and "@evil" not in text
    assert "Uw betaling is mislukt: ga naar [link] of mail [adres]" in " ".join(text.split())
    assert "evil" not in str(receipts[0].message["To"])
    notice = body_text(by_recipient(smtp_server, COORDINATOR)[0])
    assert "Reply-To): Other Victim <other@elders.example>" in notice


def _autoresponse(n: int, receipt_text: str | None) -> bytes:
    """A helpdesk robot that answers every mail from a new address, with a new subject and
    no threading headers, quoting what it got (or not)."""
    msg = EmailMessage()
    msg["From"] = f"Helpdesk <reply+{n}@helpdesk.example>"
    msg["To"] = FROM_ADDRESS
    msg["Subject"] = f"Ticket #{1000 + n} aangemaakt"
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = f"<ticket-{n}@helpdesk.example>"
    body = f"Bedankt, we hebben ticket {1000 + n} aangemaakt.\n"
    if receipt_text is not None:
        body += "\n" + "\n".join("> " + line for line in receipt_text.splitlines())
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def test_a_rotating_autoresponder_quoting_our_receipt_joins_its_case(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.append("INBOX", _autoresponse(0, None))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    for n in range(1, 21):  # twenty rounds of the robot answering whatever it received
        app.run_once()
        answers = [
            m for m in smtp_server.messages if f"reply+{n - 1}@helpdesk.example" in m.rcpt_tos
        ]
        if not answers:
            break
        text = body_text(answers[-1])
        mailbox.append("INBOX", _autoresponse(n, text))
    app.run_once()

    receipts = [m for m in smtp_server.messages if m.subject.startswith("Ontvangstmelding")]
    assert len(receipts) == 1, [m.rcpt_tos for m in receipts]
    with app.sessions() as session:
        assert len(repo.list_cases(session)) == 1


def test_a_rotating_autoresponder_that_quotes_nothing_is_stopped_per_domain(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.append("INBOX", _autoresponse(0, None))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    for n in range(1, 31):  # it answers whatever it received, from a new address each time
        app.run_once()
        if not [m for m in smtp_server.messages if f"reply+{n - 1}@" in m.rcpt_tos[0]]:
            break
        mailbox.append("INBOX", _autoresponse(n, None))
    app.run_once()

    to_robot = [m for m in smtp_server.messages if m.rcpt_tos[0].endswith("@helpdesk.example")]
    assert len(to_robot) == 10  # [receipts] max_per_domain_per_hour
    with app.sessions() as session:
        assert len(repo.list_cases(session)) == 11  # every mail is still recorded


def test_too_many_receipts_in_an_hour_pause_receipts_and_tell_the_coordinator_once(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    for n in range(8):
        mailbox.append("INBOX", complaint(f"Burger {n}", f"b{n}@domein{n}.example", f"Klacht {n}"))
    app = new_app(
        write_config(tmp_path, mailbox, smtp_server, db_url, receipts={"max_per_hour": 5})
    )

    app.run_once()

    receipts = [m for m in smtp_server.messages if m.subject.startswith("Ontvangstmelding")]
    assert len(receipts) == 5
    paused = [m for m in smtp_server.messages if "gepauzeerd" in m.subject]
    assert len(paused) == 1 and paused[0].rcpt_tos == (COORDINATOR,)
    with app.sessions() as session:
        assert len(repo.list_cases(session)) == 8


def test_a_mail_over_the_size_limit_is_quarantined_unread_and_the_coordinator_told(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    big = complaint(
        "An", "an@burger.example", "Foto's", attachment=("foto.jpg", "image/jpeg", b"x" * 3_000_000)
    )
    mailbox.append("INBOX", big)
    mailbox.append("INBOX", complaint("Bo", "bo@burger.example", "Gewoon"))
    app = new_app(write_config(tmp_path, mailbox, smtp_server, db_url, intake={"max_size_mb": 1}))

    report = app.run_once()

    assert report.intake is not None
    assert dict(report.intake.outcomes) == {"quarantined": 1, "new_case": 1}
    assert len(mailbox.uids("Quarantaine")) == 1  # the whole mail stays on the server
    notice = [m for m in by_recipient(smtp_server, COORDINATOR) if "quarantaine" in m.subject]
    text = body_text(notice[0])
    assert "max_size_mb = 1" in text and "Foto's" in text


def _raw(from_: str, subject: str, date: str = "Tue, 24 Nov 2026 10:00:00 +0100") -> bytes:
    """A mail exactly as a stranger's program wrote it: no library re-encodes the headers."""
    return (
        f"From: {from_}\r\nTo: {FROM_ADDRESS}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <{sha1((from_ + subject + date).encode()).hexdigest()}@burger.example>\r\n"
        "\r\nGoedemiddag, de straatlamp is stuk.\r\n"
    ).encode()


def test_a_literal_encoded_word_from_a_stranger_stays_literal_in_our_mail(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    # Encoded-words with an empty charset stay text when parsed; our outgoing headers must
    # not decode them a second time (to CR LF, a second address, or lone surrogates).
    mailbox.append("INBOX", _raw("=??q?a=0D=0Ab?= <an@burger.example>", "Lamp"))
    mailbox.append("INBOX", _raw("=??q?x=2C_y@evil.example?= <bo@burger.example>", "Put"))
    mailbox.append("INBOX", _raw("Cas <cas@burger.example>", "=??b?ojWs?= café"))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    report = app.run_once()

    assert report.intake is not None
    assert dict(report.intake.outcomes) == {"new_case": 3}
    for who in ("an", "bo", "cas"):
        receipts = by_recipient(smtp_server, f"{who}@burger.example")
        assert len(receipts) == 1, who
        assert receipts[0].rcpt_tos == (f"{who}@burger.example",)
        to = str(receipts[0].message["To"])
        assert "\r" not in to and "\n" not in to and "evil" not in to.split("<")[-1]
    notices = [m.subject + body_text(m) for m in by_recipient(smtp_server, COORDINATOR)]
    assert any("café" in n and "ojWs" in n for n in notices), notices  # shown, not decoded
    assert all("evil.example" not in r for m in smtp_server.messages for r in m.rcpt_tos)


def test_a_date_beyond_the_calendar_is_a_case_with_a_defect(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.append("INBOX", _raw("An <an@burger.example>", "Lamp", "31 Dec 9999 23:59:59 -1200"))
    mailbox.append("INBOX", _raw("Bo <bo@burger.example>", "Put", "1 Jan 0001 00:00:00 +1400"))
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    report = app.run_once()

    assert report.intake is not None
    assert dict(report.intake.outcomes) == {"new_case": 2}
    assert mailbox.uids("Quarantaine") == []
    assert len(by_recipient(smtp_server, "an@burger.example")) == 1
