"""Intake end to end: real Dovecot, real SMTP server (aiosmtpd), real databases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from harness import Mailbox, SmtpSink
from support.app import COORDINATOR, FROM_ADDRESS, mailbot, make_app, write_config
from support.mails import ARRIVED, body_text, bounce_of, by_recipient, complaint


def test_a_complaint_becomes_a_case_with_a_dutch_receipt(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    original_id = "<eerste.klacht@burger.example>"
    mailbox.append(
        "INBOX",
        complaint(
            "José Peeters",
            "jose.peeters@burger.example",
            "Wachttijd bij Burgerzaken",
            message_id=original_id,
        ),
        when=ARRIVED,
        flags=[b"\\Seen"],  # somebody read it already in the shared mailbox
    )
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url)

    report = app.run_once()

    assert report.dispatch.sent == 2
    receipt = by_recipient(smtp_server, "jose.peeters@burger.example")
    assert len(receipt) == 1
    msg = receipt[0].message
    assert msg["Subject"] == "Ontvangstmelding van je klacht [KL-2026-0001]"
    assert msg["In-Reply-To"] == original_id
    assert original_id in msg["References"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Message-ID"].endswith("@gemeente.example>")
    assert receipt[0].mail_from == FROM_ADDRESS
    text = " ".join(body_text(msg).split())
    html = body_text(msg, "html")
    assert "Beste José Peeters" in text
    assert "24 november 2026" in text  # received
    assert "ten laatste op 24 december 2026 een gemotiveerd antwoord" in text
    assert "ontvankelijk" in text and "betrokken dienst" in text
    assert "KL-2026-0001" in text and "Antwoord dan gewoon op deze mail" in text
    assert "24 december 2026" in html and "Jos&eacute;" not in html and "José" in html

    notice = by_recipient(smtp_server, COORDINATOR)
    assert len(notice) == 1
    notice_text = body_text(notice[0])
    assert notice[0].message["Subject"] == "Nieuwe klacht KL-2026-0001: Wachttijd bij Burgerzaken"
    assert "jose.peeters@burger.example" in notice_text
    assert "24 december 2026" in notice_text
    assert "Ik wacht al drie weken" in notice_text

    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Verwerkt")) == 1
    assert "Quarantaine" in mailbox.folders()


def test_cli_lists_and_shows_the_case_as_json(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append(
        "INBOX", complaint("An Janssens", "an@burger.example", "Onbeleefd onthaal"), when=ARRIVED
    )
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    run = mailbot("--config", config, "run", "--once")
    assert run.returncode == 0, run.stderr

    listed = mailbot("--config", config, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    cases = json.loads(listed.stdout)
    assert [c["reference"] for c in cases] == ["KL-2026-0001"]
    case = cases[0]
    assert case["state"] == "received"
    assert case["channel"] == "email"
    assert case["citizen_email"] == "an@burger.example"
    assert case["citizen_name"] == "An Janssens"
    assert case["subject"] == "Onbeleefd onthaal"
    assert case["received_at"] == "2026-11-24T10:15:00+01:00"
    assert case["deadline"] == "2026-12-24"

    shown = mailbot("--config", config, "cases", "show", "KL-2026-0001", "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    kinds = [(m["direction"], m["kind"]) for m in detail["messages"]]
    assert kinds == [("in", "complaint"), ("out", "receipt"), ("out", "notice")]
    assert all(m["message_id"] and m["at"] for m in detail["messages"])

    text = mailbot("--config", config, "cases", "show", "KL-2026-0001")
    assert "KL-2026-0001" in text.stdout and "an@burger.example" in text.stdout
    missing = mailbot("--config", config, "cases", "show", "KL-2026-9999")
    assert missing.returncode == 1 and "no case KL-2026-9999" in missing.stderr


def test_follow_ups_join_their_case_without_a_new_receipt(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    first_id = "<begin@burger.example>"
    mailbox.append(
        "INBOX",
        complaint("Els", "els@burger.example", "Vergunning te laat", message_id=first_id),
        when=ARRIVED,
    )
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    receipt = by_recipient(smtp_server, "els@burger.example")[0].message

    later = ARRIVED + timedelta(days=2)
    # 1. a reply to the receipt: reference in the subject after a Dutch prefix
    mailbox.append(
        "INBOX",
        complaint("Els", "els@burger.example", f"Antw: {receipt['Subject']}", body="Nog een foto."),
        when=later,
    )
    # 2. a reply to her own first mail, no reference in the subject
    mailbox.append(
        "INBOX",
        complaint("Els", "els@burger.example", "Re: Vergunning te laat", in_reply_to=first_id),
        when=later,
    )
    # 3. a reply to the receipt's Message-ID from another client that rewrote the subject
    mailbox.append(
        "INBOX",
        complaint("Els", "els@burger.example", "nog iets", in_reply_to=receipt["Message-ID"]),
        when=later,
    )
    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"follow_up": 3}
    assert len(by_recipient(smtp_server, "els@burger.example")) == 1  # still one receipt
    with app.sessions() as session:
        from mailbot.persistence import cases as repo

        cases = repo.list_cases(session)
        assert [c.reference for c in cases] == ["KL-2026-0001"]
        case = repo.find_case_by_reference(session, "KL-2026-0001")
        assert case is not None
        kinds = [m.kind for m in case.messages if m.direction == "in"]
        assert kinds == ["complaint", "follow_up", "follow_up", "follow_up"]
        assert case.deadline.isoformat() == "2026-12-24"  # a follow-up never moves it


def test_no_receipt_to_robots_lists_spam_or_ourselves(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mails = [
        complaint(
            "Afwezig",
            "piet@burger.example",
            "Afwezig: uw bericht",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        complaint(
            "Nieuwsbrief",
            "nieuws@vereniging.example",
            "Nieuwsbrief november",
            headers={"List-Id": "<nieuws.vereniging.example>", "Precedence": "list"},
        ),
        complaint("", "spammer@spam.example", "WIN NU", headers={"X-Spam-Flag": "YES"}),
        complaint("Webshop", "no-reply@webshop.example", "Je bestelling"),
        complaint("Klachtendienst", FROM_ADDRESS, "Ontvangstmelding van je klacht"),
    ]
    for raw in mails:
        mailbox.append("INBOX", raw, when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url)

    report = app.run_once()

    assert report.intake is not None
    assert report.intake.outcomes == {"no_case": 2, "new_case": 3}
    citizens = [m for m in smtp_server.messages if COORDINATOR not in m.rcpt_tos]
    assert citizens == []  # not one automatic reply went out
    notices = by_recipient(smtp_server, COORDINATOR)
    assert len(notices) == 3  # list, spam and no-reply still reach the coordinator
    for notice in notices:
        assert "GEEN ontvangstmelding" in body_text(notice)
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Verwerkt")) == 5


def test_receipts_per_sender_per_day_are_limited(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    for i in range(5):
        mailbox.append(
            "INBOX", complaint("Boze Burger", "boos@burger.example", f"Klacht {i}"), when=ARRIVED
        )
    app = make_app(
        tmp_path, mailbox, smtp_server, sqlite_url, receipts={"max_per_sender_per_day": 3}
    )
    app.run_once()
    assert len(by_recipient(smtp_server, "boos@burger.example")) == 3
    assert len(by_recipient(smtp_server, COORDINATOR)) == 5  # five cases all the same


def test_a_bounce_of_our_receipt_joins_the_case(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append("INBOX", complaint("Typo", "tipo@burger.example", "Rioolwerken"), when=ARRIVED)
    # A clock of its own, so that the timeline of `cases show` (in time order) is the
    # story: receipt at 10:16, the bounce arrives at 10:20, the pass at 10:25 handles it.
    now = [ARRIVED + timedelta(minutes=1)]
    app = make_app(tmp_path, mailbox, smtp_server, sqlite_url, clock=lambda: now[0])
    app.run_once()
    receipt = by_recipient(smtp_server, "tipo@burger.example")[0]
    dsn = bounce_of(receipt)
    mailbox.append("INBOX", dsn, when=ARRIVED + timedelta(minutes=5))

    now[0] = ARRIVED + timedelta(minutes=10)
    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"bounce": 1}
    assert len(by_recipient(smtp_server, "tipo@burger.example")) == 1  # nothing to the robot
    notices = by_recipient(smtp_server, COORDINATOR)
    assert [n.subject for n in notices][-1] == "Mail niet afgeleverd in dossier KL-2026-0001"
    show = mailbot("--config", tmp_path / "config.toml", "cases", "show", "KL-2026-0001", "--json")
    kinds = [m["kind"] for m in json.loads(show.stdout)["messages"]]
    assert kinds == ["complaint", "receipt", "notice", "bounce", "notice"]


def test_attachments_are_kept_and_the_same_mail_twice_opens_one_case(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    raw = complaint(
        "Mia",
        "mia@burger.example",
        "Put in de stoep",
        attachment=("stoep.jpg", "image/jpeg", photo),
    )
    mailbox.append("INBOX", raw, when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    # The same mail lands again (a mail client's retry, a UIDVALIDITY reset, a copy
    # dragged back from Verwerkt): it is recognised by its Message-ID.
    mailbox.append("INBOX", raw, when=ARRIVED + timedelta(hours=1))
    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"duplicate": 1}
    assert len(by_recipient(smtp_server, "mia@burger.example")) == 1
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids("Verwerkt")) == 2
    with app.sessions() as session:
        from mailbot.persistence import blobs
        from mailbot.persistence import cases as repo

        case = repo.find_case_by_reference(session, "KL-2026-0001")
        assert case is not None
        stored = case.messages[0].attachments
        assert [(a.filename, a.content_type, a.size) for a in stored] == [
            ("stoep.jpg", "image/jpeg", len(photo))
        ]
        assert blobs.load_blob(session, stored[0].sha256) == photo
        # the original is kept as received, so the case can always be re-read
        assert case.messages[0].raw_sha256 is not None
        assert blobs.load_blob(session, case.messages[0].raw_sha256) == raw
        assert len(repo.list_cases(session)) == 1
