"""Mail as the world sends it, end to end (issue 12): through Dovecot, intake and the SMTP
sink, on SQLite and PostgreSQL.

Every mail of tests/corpus/machine (bounces of each dialect, MDN, ARF, auto-reply, null
sender, list mail, and human mail that looks like machine mail) and of tests/corpus/world
(human mail with header oddities, stateful charsets, odd and internationalised addresses)
goes into the INBOX; one pass later each must have the outcome its expected.toml names.
A machine mail about one of our receipts is also sent a second time, with our receipt's
real Message-ID in place of the corpus one: then it must join the citizen's case.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Mailbox, SmtpSink
from sqlalchemy import select
from support.app import COORDINATOR, make_app
from support.mails import ARRIVED, body_text, by_recipient, complaint

from mailbot.app import App
from mailbot.inbound.parse import parse_mail
from mailbot.persistence.tables import CaseRow, IntakeRecordRow

CORPUS = Path(__file__).parent / "corpus"


def expectations(folder: str) -> dict[str, dict[str, Any]]:
    return tomllib.loads((CORPUS / folder / "expected.toml").read_text(encoding="utf-8"))


MACHINE = expectations("machine")
WORLD = expectations("world")


@dataclass(frozen=True)
class Sample:
    """One mail put in the INBOX and what intake must make of it."""

    name: str
    raw: bytes
    outcome: str
    receipt: bool
    sender: str  # whose receipt it would be ("" when none can be)
    case_id: int | None = None  # the case it must join
    expected: dict[str, Any] | None = None  # the world mail's expectations


def test_world_corpus_files_all_have_an_expectation() -> None:
    world = sorted(p.stem for p in (CORPUS / "world").glob("*.eml"))
    assert world == sorted(WORLD)
    assert all("joined" not in e or e["about"] for e in MACHINE.values())


def sender_of(raw: bytes) -> str:
    try:
        mail = parse_mail(raw)
    except Exception:
        return ""
    return mail.sender.email if mail.sender else ""


def corpus_samples() -> list[Sample]:
    """Every corpus mail as it is: the originals machine mail is about are nobody's."""
    samples = []
    for name, e in sorted(MACHINE.items()):
        raw = (CORPUS / "machine" / f"{name}.eml").read_bytes()
        samples.append(Sample(f"machine/{name}", raw, e["outcome"], e["receipt"], sender_of(raw)))
    for name, e in sorted(WORLD.items()):
        raw = (CORPUS / "world" / f"{name}.eml").read_bytes()
        samples.append(
            Sample(f"world/{name}", raw, e["outcome"], e["receipt"], sender_of(raw), None, e)
        )
    return samples


def seed_cases(app: App, mailbox: Mailbox, smtp: SmtpSink) -> dict[str, tuple[str, int]]:
    """A citizen's case for each machine mail that is about one of our receipts: the
    corpus name -> (our receipt's Message-ID, the case id)."""
    names = sorted(n for n, e in MACHINE.items() if "joined" in e)
    for i, name in enumerate(names):
        # One domain per citizen: the receipt limit per domain stays out of the way.
        mailbox.append(
            "INBOX",
            complaint(f"Burger {i}", f"b{i}@seed{i}.example", f"Klacht {name}"),
            when=ARRIVED,
        )
    app.run_once()
    seeded = {}
    with app.sessions() as session:
        for i, name in enumerate(names):
            [receipt] = by_recipient(smtp, f"b{i}@seed{i}.example")
            case_id = session.execute(
                select(CaseRow.id).where(CaseRow.citizen_email == f"b{i}@seed{i}.example")
            ).scalar_one()
            seeded[name] = (str(receipt.message["Message-ID"]).strip("<>"), case_id)
    return seeded


def joined_samples(seeded: dict[str, tuple[str, int]]) -> list[Sample]:
    """The machine mail again, now about our real receipt (and with a Message-ID of its own)."""
    samples = []
    for name, (receipt_id, case_id) in sorted(seeded.items()):
        e = MACHINE[name]
        raw = (CORPUS / "machine" / f"{name}.eml").read_bytes()
        own = parse_mail(raw).message_id
        assert e["about"].encode() in raw, name
        raw = raw.replace(e["about"].encode(), receipt_id.encode())
        raw = raw.replace(f"<{own}>".encode(), f"<joined.{own}>".encode())
        samples.append(Sample(f"machine/{name}+joined", raw, e["joined"], False, "", case_id))
    return samples


def check(app: App, smtp: SmtpSink, uids: dict[int, Sample]) -> list[str]:
    """What differs from the expectations, one line per difference."""
    wrong = []
    with app.sessions() as session:
        items = {
            row.uid: row
            for row in session.execute(select(IntakeRecordRow)).scalars()
            if row.uid in uids
        }
        for uid, sample in uids.items():
            item = items.get(uid)
            if item is None:
                wrong.append(f"{sample.name}: not processed")
                continue
            if item.outcome != sample.outcome:
                wrong.append(f"{sample.name}: {item.outcome} ({item.reason}), not {sample.outcome}")
            if sample.case_id is not None and item.case_id != sample.case_id:
                wrong.append(f"{sample.name}: joined case {item.case_id}, not {sample.case_id}")
            if sample.expected is not None:
                case = session.get(CaseRow, item.case_id) if item.case_id else None
                wrong += check_world(smtp, sample, item, case)
    answered = {r for m in smtp.messages for r in m.rcpt_tos if r != COORDINATOR}
    for sample in uids.values():
        if sample.sender and (sample.sender in answered) != sample.receipt:
            got = "a receipt" if sample.sender in answered else "no receipt"
            wrong.append(f"{sample.name}: {got} to {sample.sender}")
    return wrong


def check_world(
    smtp: SmtpSink, sample: Sample, item: IntakeRecordRow, case: CaseRow | None
) -> list[str]:
    e = sample.expected
    assert e is not None
    if e["outcome"] == "quarantined":
        return [] if e["reason"] in item.reason else [f"{sample.name}: reason {item.reason!r}"]
    if case is None:
        return [f"{sample.name}: no case"]
    wrong = [
        f"{sample.name}: {field} {got!r}, not {e[field]!r}"
        for field, got in (
            ("citizen", case.citizen_email),
            ("name", case.citizen_name),
            ("subject", case.subject),
        )
        if got != e[field]
    ]
    notices = [
        body_text(m)
        for m in by_recipient(smtp, COORDINATOR)
        if m.subject.startswith(f"Nieuwe klacht {case.reference}:")
    ]
    if len(notices) != 1 or e["notice"] not in notices[0]:
        wrong.append(f"{sample.name}: the notice lacks {e['notice']!r}: {notices!r}")
    return wrong


def test_the_corpus_end_to_end(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    seeded = seed_cases(app, mailbox, smtp_server)
    samples = corpus_samples() + joined_samples(seeded)
    uids = {mailbox.append("INBOX", s.raw, when=ARRIVED + timedelta(minutes=5)): s for s in samples}

    app.run_once()

    wrong = check(app, smtp_server, uids)
    assert not wrong, "\n".join(wrong)
    assert mailbox.uids("INBOX") == []


# --- a bounce of our own receipt, as three kinds of mail server send it back -----------------


def qmail_bounce(receipt: bytes, rcpt: str) -> bytes:
    """qmail-send's "failure notice": plain text, the whole original below a marker line."""
    return (
        b"Return-Path: <>\r\nDate: 24 Nov 2026 09:20:00 -0000\r\n"
        b"From: MAILER-DAEMON@mx.burger.example\r\nTo: klachten@gemeente.example\r\n"
        b"Subject: failure notice\r\nMessage-ID: <20261124092000.4242.qmail@mx.burger.example>\r\n"
        b"\r\nHi. This is the qmail-send program at mx.burger.example.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        b"<" + rcpt.encode() + b">:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"Return-Path: <klachten@gemeente.example>\r\n" + receipt
    )


def exim_bounce(receipt: bytes, rcpt: str) -> bytes:
    """Exim's "Mail delivery failed": X-Failed-Recipients, the original after a marker."""
    return (
        b"Return-path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mx.burger.example>\r\n"
        b"To: klachten@gemeente.example\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n"
        b"Message-Id: <E1vXyZa-0004Qm-2b@mx.burger.example>\r\n"
        b"X-Failed-Recipients: " + rcpt.encode() + b"\r\nAuto-Submitted: auto-replied\r\n"
        b"Date: Tue, 24 Nov 2026 10:20:00 +0100\r\n"
        b"\r\nThis message was created automatically by mail delivery software.\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        b"  " + rcpt.encode() + b"\r\n    host mx.burger.example [192.0.2.25]\r\n"
        b"    SMTP error from remote mail server after RCPT TO:<" + rcpt.encode() + b">:\r\n"
        b"    550 5.1.1 User unknown\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        b"Return-path: <klachten@gemeente.example>\r\n" + receipt
    )


def dsn_bounce(receipt: bytes, rcpt: str) -> bytes:
    """An RFC 3464 DSN with the whole original as message/rfc822 (RFC 6522 §3)."""
    return (
        b"Return-Path: <>\r\n"
        b"From: Mail Delivery System <MAILER-DAEMON@mx.burger.example>\r\n"
        b"To: klachten@gemeente.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <20261124092000.ABC42@mx.burger.example>\r\n"
        b"Date: Tue, 24 Nov 2026 10:20:00 +0100\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn42"\r\n'
        b"\r\n--dsn42\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"This is the mail system at host mx.burger.example.\r\n"
        b"I'm sorry to have to inform you that your message could not be delivered.\r\n"
        b"\r\n--dsn42\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.burger.example\r\n\r\n"
        b"Final-Recipient: rfc822; " + rcpt.encode() + b"\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        b"\r\n--dsn42\r\nContent-Type: message/rfc822\r\n\r\n" + receipt + b"\r\n--dsn42--\r\n"
    )


@pytest.mark.parametrize("shape", [qmail_bounce, exim_bounce, dsn_bounce], ids=lambda f: f.__name__)
def test_a_bounce_of_our_receipt_joins_the_citizens_case(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpSink,
    db_url: str,
    shape: Callable[[bytes, str], bytes],
) -> None:
    citizen = "tipo@burger.example"
    mailbox.append("INBOX", complaint("Typo", citizen, "Rioolwerken"), when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    [receipt] = by_recipient(smtp_server, citizen)
    mailbox.append("INBOX", shape(receipt.data, citizen), when=ARRIVED + timedelta(minutes=5))

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"bounce": 1}
    assert by_recipient(smtp_server, citizen) == [receipt]  # nothing to the mail daemon
    assert not [m for m in smtp_server.messages if "burger.example" in m.rcpt_tos[0]][1:]
    notices = by_recipient(smtp_server, COORDINATOR)
    assert [n.subject for n in notices] == [
        "Nieuwe klacht KL-2026-0001: Rioolwerken",
        "Mail niet afgeleverd in dossier KL-2026-0001",
    ]
    with app.sessions() as session:
        assert session.execute(select(CaseRow.reference)).scalars().all() == ["KL-2026-0001"]


# --- internationalised addresses (RFC 6532, RFC 6531) -------------------------------------

EAI = "jdöe@mächine.example"
EAI_MAIL = (CORPUS / "world" / "eai_address.eml").read_bytes()


def test_an_internationalised_address_gets_its_receipt_over_smtputf8(
    tmp_path: Path, mailbox: Mailbox, smtp_server_smtputf8: SmtpSink, db_url: str
) -> None:
    mailbox.append("INBOX", EAI_MAIL, when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server_smtputf8, db_url)

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"new_case": 1}
    [receipt] = by_recipient(smtp_server_smtputf8, EAI)
    assert "SMTPUTF8" in receipt.mail_options  # RFC 6531 §3.4: MAIL FROM ... SMTPUTF8
    assert receipt.message["To"].addresses[0].addr_spec == EAI
    assert receipt.message["To"].addresses[0].display_name == "Jörg Döe"
    assert "Beste Jörg Döe" in body_text(receipt)
    [notice] = by_recipient(smtp_server_smtputf8, COORDINATOR)
    assert "De indiener kreeg een ontvangstmelding" in body_text(notice)
    assert "SMTPUTF8" not in notice.mail_options  # plain mail stays plain


def test_without_smtputf8_an_internationalised_address_gets_no_receipt_and_staff_hear_why(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    mailbox.append("INBOX", EAI_MAIL, when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"new_case": 1}
    assert report.dispatch.failed == 0  # decided before queueing: nothing fails for ever
    [notice] = smtp_server.messages
    assert notice.rcpt_tos == (COORDINATOR,)
    text = " ".join(body_text(notice).split())
    assert f"Indiener: Jörg Döe <{EAI}>" in text
    assert "GEEN ontvangstmelding" in text and "SMTPUTF8" in text
    with app.sessions() as session:
        from mailbot.persistence.tables import OutboxRow

        kinds = session.execute(select(OutboxRow.kind)).scalars().all()
        assert kinds == ["notice"]


def test_the_smtp_adapter_refuses_an_internationalised_address_for_good_without_smtputf8(
    smtp_server: SmtpSink,
) -> None:
    # A receipt queued while the server could not be asked (it was down) and then sent to
    # a server without SMTPUTF8: a permanent failure with the reason, never a retry loop.
    from mailbot.domain.errors import SendPermanentError
    from mailbot.outbound.smtp import SmtpSender, SmtpSettings

    sender = SmtpSender(
        SmtpSettings(smtp_server.host, smtp_server.port, "plain", None, None, timeout=10)
    )
    assert sender.offers_smtputf8() is False
    with pytest.raises(SendPermanentError, match="SMTPUTF8"):
        sender.send("klachten@gemeente.example", [EAI], b"Subject: x\r\n\r\nx\r\n")
    assert smtp_server.messages == []


def test_a_delay_warning_about_our_receipt_joins_the_case_without_alarm(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    # RFC 3464 §2.3.3: "Action: delayed" says the mail is still on its way (Postfix's
    # "Delayed Mail (still being retried)"); telling the coordinator it was not delivered
    # would be wrong. It joins the case as an automatic message, silently.
    citizen = "traag@burger.example"
    mailbox.append("INBOX", complaint("Traag", citizen, "Stoep kapot"), when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, db_url)
    app.run_once()
    [receipt] = by_recipient(smtp_server, citizen)
    delayed = (
        dsn_bounce(receipt.data, citizen)
        .replace(b"Action: failed", b"Action: delayed")
        .replace(b"Status: 5.1.1", b"Status: 4.4.1")
        .replace(b"Undelivered Mail Returned to Sender", b"Delayed Mail (still being retried)")
    )
    mailbox.append("INBOX", delayed, when=ARRIVED + timedelta(hours=4))

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"follow_up": 1}
    assert [n.subject for n in by_recipient(smtp_server, COORDINATOR)] == [
        "Nieuwe klacht KL-2026-0001: Stoep kapot"
    ]
    assert by_recipient(smtp_server, citizen) == [receipt]
    with app.sessions() as session:
        from mailbot.persistence.tables import CaseMessageRow

        kinds = session.execute(
            select(CaseMessageRow.kind)
            .where(CaseMessageRow.direction == "in")
            .order_by(CaseMessageRow.id)
        ).scalars()
        assert list(kinds) == ["complaint", "auto_reply"]


def test_without_smtputf8_an_internationalised_domain_is_reached_by_its_a_labels(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    # RFC 5890/5891: only the local part needs SMTPUTF8; a domain has an ASCII form.
    mailbox.append("INBOX", EAI_MAIL.replace("jdöe@".encode(), b"jan@"), when=ARRIVED)
    app = make_app(tmp_path, mailbox, smtp_server, db_url)

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"new_case": 1}
    [receipt] = by_recipient(smtp_server, "jan@xn--mchine-bua.example")
    assert "SMTPUTF8" not in receipt.mail_options
    assert receipt.message["To"].addresses[0].display_name == "Jörg Döe"
    # Our mail's headers stay ASCII: no encoded word where a msg-id belongs (RFC 5322 §3.6.4).
    assert b"In-Reply-To: =?" not in receipt.data and b"References: =?" not in receipt.data
    [notice] = by_recipient(smtp_server, COORDINATOR)
    assert "jan@xn--mchine-bua.example" in body_text(notice)
