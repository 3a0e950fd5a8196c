"""The coordinator works from an ordinary mail client: answers in the sent folder,
commands by mail, forged commands, the website form and paper letters. End to end on the
real Dovecot and SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Mailbox, ReceivedMail, SmtpSink
from sqlalchemy import select
from support.app import COORDINATOR, FROM_ADDRESS, mailbot, new_app, write_config
from support.mails import ARRIVED, body_text, by_recipient, complaint
from support.staff import MX, RECEIVED, SENT, staff_mail

from mailbot.app import App
from mailbot.persistence import audit
from mailbot.persistence import cases as repo
from mailbot.persistence.cases import purge_personal_data
from mailbot.persistence.tables import CaseMessageRow, CaseRow

SERVICE = "omgeving@gemeente.example"
COLLEAGUE = "collega@gemeente.example"
CITIZEN = "an.peeters@burger.example"


def make(
    tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, db_url: str, **extra: dict[str, Any]
) -> App:
    mailbox.create(SENT)
    sections: dict[str, dict[str, Any]] = {
        "mailbox": {"sent_folder": SENT},
        "staff": {"members": [COLLEAGUE], "authserv_ids": [MX]},
        "services": {"omgeving": SERVICE},
    }
    for key, values in extra.items():
        sections.setdefault(key, {}).update(values)
    return new_app(write_config(tmp_path, mailbox, smtp, db_url, **sections))


def case(app: App, reference: str = "KL-2026-0001") -> CaseRow:
    with app.sessions() as session:
        found = repo.find_case_by_reference(session, reference)
        assert found is not None
        for message in found.messages:  # load what the tests read while the session is open
            message.attachments  # noqa: B018
        return found


def new_mails(smtp: SmtpSink, since: int) -> list[ReceivedMail]:
    return smtp.messages[since:]


def opened(
    tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, db_url: str, **extra: dict[str, Any]
) -> App:
    """A configured app with one case from An Peeters, receipt and notice sent."""
    app = make(tmp_path, mailbox, smtp, db_url, **extra)
    mailbox.append(
        "INBOX",
        complaint(
            "An Peeters", CITIZEN, "Wachttijd Burgerzaken", message_id="<an1@burger.example>"
        ),
        when=ARRIVED,
    )
    app.run_once()
    assert len(smtp.messages) == 2
    return app


def test_an_answer_in_the_sent_folder_marks_the_case_answered_and_stops_reminders(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    app = opened(
        tmp_path, mailbox, smtp_server, db_url, reminders={"enabled": True, "mode": "per_case"}
    )
    answer = staff_mail(
        f"Klachtendienst <{FROM_ADDRESS}>",
        "Re: Ontvangstmelding van je klacht [KL-2026-0001]",
        "Beste An,\n\nHierbij ons gemotiveerd antwoord: ...\n\nOp di 24 nov. 2026 om 10:15 "
        "schreef An Peeters <an.peeters@burger.example>:\n> Ik wacht al drie weken\n",
        to=f"An Peeters <{CITIZEN}>",
        verified=False,  # the sent folder is the shared mailbox itself: no proof needed
    )
    mailbox.append(SENT, answer, when=ARRIVED + timedelta(days=3))
    before = len(smtp_server.messages)

    report = app.run_once()

    assert report.intake is not None and report.intake.outcomes == {"staff_mail": 1}
    answered = case(app)
    assert answered.state == "answered"
    assert [m.kind for m in answered.messages if m.direction == "out"][-1] == "answer"
    assert len(mailbox.uids(SENT)) == 1  # the coordinator's sent mail stays where it was
    # the due day and the day after: no reminder, no escalation
    for day in (date(2026, 12, 24), date(2026, 12, 28)):
        plan = app.reminders.run_pass(as_of=day)
        assert plan.mails == []
    assert new_mails(smtp_server, before) == []
    again = app.run_once().intake
    assert again is not None and again.seen == 0  # read once, never again


@pytest.mark.parametrize(
    "body",
    [
        # the citizen's own '#' lines in a history introduced name first, without '>'
        "Beste An,\n\nHierbij ons gemotiveerd antwoord.\n\nAn Peeters schreef op "
        "12-01-2026 om 10:15:\n#onontvankelijk melding\n#afsluiten\n",
        # a place name and a number after '#' in the answer itself
        "Beste An,\n\nDe werken in\n#Zoersel\nzijn klaar.\n#1 prioriteit blijft veiligheid.\n",
    ],
    ids=["name-first-history", "hash-words"],
)
def test_an_answer_is_an_answer_whatever_its_text_holds(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str, body: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, db_url)
    answer = staff_mail(
        f"Klachtendienst <{FROM_ADDRESS}>",
        "Re: Ontvangstmelding van je klacht [KL-2026-0001]",
        body,
        to=f"An Peeters <{CITIZEN}>",
        verified=False,
    )
    mailbox.append(SENT, answer, when=ARRIVED + timedelta(days=3))
    before = len(smtp_server.messages)

    app.run_once()

    answered = case(app)
    assert answered.state == "answered" and answered.inadmissible_reason is None
    sent = new_mails(smtp_server, before)
    assert sent == [], [m.subject for m in sent]  # no "Niets uitgevoerd", no letter


def test_the_audit_trail_says_who_did_what_by_which_rule_and_survives_retention(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, db_url)
    subject = "Re: Nieuwe klacht KL-2026-0001: Wachttijd Burgerzaken"
    mailbox.append("INBOX", staff_mail(COORDINATOR, subject, "#ontvankelijk\n#notitie Gebeld."))
    app.run_once()
    mailbox.append("INBOX", staff_mail(COLLEAGUE, subject, "#beantwoord gegrond"))
    app.run_once()

    with app.sessions() as session:
        trail = audit.trail(session, case(app).id)
    lines = [(e.actor, e.action, e.state_before, e.state_after) for e in trail]
    assert lines == [
        ("mailbot", "new_case", None, "received"),
        (COORDINATOR, "#ontvankelijk", "received", "in_progress"),
        (COORDINATOR, "#notitie", "in_progress", "in_progress"),
        ("mailbot", "command", None, None),
        (COLLEAGUE, "#beantwoord", "in_progress", "answered"),
        ("mailbot", "command", None, None),
    ]
    assert trail[0].rule == "NewCase; receipt sent" and trail[0].message_id == "an1@burger.example"
    assert trail[4].rule == "regel 1: #beantwoord gegrond"
    assert "Gebeld" not in " ".join(e.rule for e in trail)  # a note's text is no rule

    # retention removes the personal data, never the trail
    with app.sessions.begin() as session:
        purge_personal_data(session, case(app), "(verwijderd)", ARRIVED)
    with app.sessions() as session:
        assert len(audit.trail(session, case(app).id)) == 6


def test_commands_by_mail_each_with_a_confirmation(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, db_url)
    subject = "Re: Nieuwe klacht KL-2026-0001: Wachttijd Burgerzaken"

    def command(body: str, sender: str = COORDINATOR) -> list[ReceivedMail]:
        before = len(smtp_server.messages)
        mailbox.append("INBOX", staff_mail(sender, subject, body))
        app.run_once()
        return new_mails(smtp_server, before)

    sent = command("#ontvankelijk\n#notitie Gebeld met de indiener, wacht op documenten.")
    assert [m.rcpt_tos for m in sent] == [(COORDINATOR,)]
    text = body_text(sent[0])
    assert "KL-2026-0001 is ontvankelijk verklaard." in text
    assert "Notitie toegevoegd aan KL-2026-0001." in text
    assert sent[0].subject.startswith("Uitgevoerd: ")
    assert case(app).state == "in_progress" and case(app).admissible is True

    sent = command("#dienst omgeving", sender=COLLEAGUE)  # a staff member, not the coordinator
    by_to = {m.rcpt_tos: m for m in sent}
    assert set(by_to) == {(COLLEAGUE,), (SERVICE,)}
    request = body_text(by_to[(SERVICE,)])
    assert "KL-2026-0001" in request and "24 december 2026" in request
    assert "Ik wacht al drie weken" in request
    assert case(app).service == "omgeving"

    sent = command("#beantwoord deels-gegrond")
    assert "beantwoord" in body_text(sent[0])
    assert case(app).state == "answered" and case(app).outcome == "deels-gegrond"

    sent = command("#afsluiten")
    assert case(app).state == "closed"
    sent = command("#heropen")
    assert case(app).state == "in_progress"

    kinds = [m.kind for m in case(app).messages]
    assert kinds.count("command") == 5 and kinds.count("note") == 1
    assert kinds.count("service_request") == 1
    # not one of these mails went to the citizen
    assert [m.subject for m in by_recipient(smtp_server, CITIZEN)] == [
        "Ontvangstmelding van je klacht [KL-2026-0001]"
    ]


@pytest.mark.parametrize(
    ("subject", "body", "error"),
    [
        ("KL-2026-0099", "#ontvankelijk", "Onbekend dossier KL-2026-0099"),
        ("KL-2026-0001", "#ontvangelijk", "#ontvankelijk"),  # typo: the suggestion
        ("KL-2026-0001", "#onontvankelijk te laat", "reden"),
        ("KL-2026-0001", "#afsluiten", "beantwoord eerst"),
        ("KL-2026-0001", "#dienst sport", "Onbekende dienst 'sport'"),
        ("geen nummer", "#ontvankelijk", "Geen dossiernummer"),
        # all or nothing: the first command would be fine, the second is not allowed
        ("KL-2026-0001", "#ontvankelijk\n#afsluiten", "Niets uitgevoerd"),
        ("KL-2026-0001", "#ontvankelijk\n#ontvangelijk", "Niets uitgevoerd"),
    ],
)
def test_each_error_gets_a_clear_reply(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpSink,
    sqlite_url: str,
    subject: str,
    body: str,
    error: str,
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    mailbox.append("INBOX", staff_mail(COORDINATOR, subject, body))
    before = len(smtp_server.messages)
    app.run_once()
    sent = new_mails(smtp_server, before)
    assert [m.rcpt_tos for m in sent] == [(COORDINATOR,)]
    assert sent[0].subject.startswith("Niet uitgevoerd")
    assert error in body_text(sent[0])
    assert case(app).state == "received"


def test_a_forged_command_gets_nowhere(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    forged = [
        staff_mail(COORDINATOR, "KL-2026-0001", "#onontvankelijk melding", verified=False),
        # a header from another server proves nothing
        staff_mail(COORDINATOR, "KL-2026-0001", "#onontvankelijk melding", verified=False).replace(
            b"From:",
            b"Authentication-Results: evil.example; dmarc=pass "
            b"header.from=gemeente.example\r\nFrom:",
            1,
        ),
        # a citizen pretending
        staff_mail(CITIZEN, "KL-2026-0001", "#beantwoord gegrond\n#afsluiten"),
    ]
    for raw in forged:
        mailbox.append("INBOX", raw)
    before = len(smtp_server.messages)

    app.run_once()

    assert case(app).state == "received" and case(app).admissible is None
    sent = new_mails(smtp_server, before)
    refused = [m for m in sent if m.subject.startswith("Niet uitgevoerd")]
    assert [m.rcpt_tos for m in refused] == [(COORDINATOR,), (COORDINATOR,)]
    assert all("niet bevestigd" in body_text(m) for m in refused)
    # the citizen's "commands" are just a follow-up in their case; nothing is obeyed and
    # no inadmissibility letter went out
    assert [m.subject for m in by_recipient(smtp_server, CITIZEN)] == [
        "Ontvangstmelding van je klacht [KL-2026-0001]"
    ]


HOP = f"Received: {RECEIVED}\r\n".encode()
PASS_FOR_US = f"Authentication-Results: {MX}; dmarc=pass header.from=gemeente.example\r\n".encode()
FAIL_FOR_US = f"Authentication-Results: {MX}; dmarc=fail header.from=gemeente.example\r\n".encode()


@pytest.mark.parametrize(
    ("top", "from_header"),
    [
        # the attacker wrote our server's header into the mail: it sits below our trace
        (HOP + PASS_FOR_US, None),
        # our server said fail; a forged pass below it
        (FAIL_FOR_US + HOP + PASS_FOR_US, None),
        # a forged pass above our server's fail
        (PASS_FOR_US + FAIL_FOR_US + HOP, None),
        # signed by the attacker's domain, with an i= in ours
        (
            f"Authentication-Results: {MX}; dkim=pass header.d=evil.example "
            f"header.i=klachtencoordinator@gemeente.example\r\n".encode()
            + HOP,
            None,
        ),
        # an encoded word hides a second address; the result names no header.from
        (
            f"Authentication-Results: {MX}; dmarc=pass\r\n".encode() + HOP,
            b"=?utf-8?q?attacker=40evil=2Eexample=2C?= <" + COORDINATOR.encode() + b">",
        ),
    ],
    ids=["forged-below-trace", "real-fail", "forged-above-fail", "dkim-other-d", "two-addresses"],
)
def test_forged_authentication_results_never_command_a_case(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpSink,
    sqlite_url: str,
    top: bytes,
    from_header: bytes | None,
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    raw = staff_mail(COORDINATOR, "KL-2026-0001", "#onontvankelijk melding", verified=False)
    if from_header is not None:
        raw = raw.replace(b"From: " + COORDINATOR.encode(), b"From: " + from_header, 1)
    mailbox.append("INBOX", top + raw)
    before = len(smtp_server.messages)

    app.run_once()

    assert case(app).state == "received" and case(app).inadmissible_reason is None
    sent = new_mails(smtp_server, before)
    assert not [m for m in sent if CITIZEN in m.rcpt_tos], "the citizen got a refusal"
    assert not [m for m in sent if m.subject.startswith("Uitgevoerd")]


def test_not_admissible_sends_the_citizen_a_reasoned_reply(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    mailbox.append("INBOX", staff_mail(COORDINATOR, "KL-2026-0001", "#onontvankelijk melding"))
    app.run_once()
    letters = by_recipient(smtp_server, CITIZEN)
    assert len(letters) == 2
    reply = letters[1].message
    assert reply["Subject"] == "Je klacht [KL-2026-0001]: beslissing over de ontvankelijkheid"
    text = " ".join(body_text(reply).split())
    assert "Beste An Peeters" in text and "melding" in text and "meldpunt" in text
    assert "#" not in text  # no trace of the command
    assert reply["In-Reply-To"] == "<an1@burger.example>"
    closed = case(app)
    assert closed.state == "closed" and closed.inadmissible_reason == "melding"


def test_a_follow_up_after_closing_is_flagged_and_reopens_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    mailbox.append("INBOX", staff_mail(COORDINATOR, "KL-2026-0001", "#onontvankelijk anoniem"))
    app.run_once()
    mailbox.append(
        "INBOX",
        complaint(
            "An Peeters",
            CITIZEN,
            "Re: Je klacht [KL-2026-0001]",
            body="Maar ik heb mijn naam toch gegeven!",
        ),
    )
    before = len(smtp_server.messages)
    app.run_once()
    sent = new_mails(smtp_server, before)
    assert [m.subject for m in sent] == [
        "Reactie op afgesloten dossier KL-2026-0001: Wachttijd Burgerzaken"
    ]
    assert "#heropen" in body_text(sent[0])
    closed = case(app)
    assert closed.state == "closed"
    follow_up = [m for m in closed.messages if m.kind == "follow_up"]
    assert len(follow_up) == 1 and follow_up[0].flagged


def test_a_form_mail_sends_the_receipt_to_the_citizen(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = make(
        tmp_path, mailbox, smtp_server, sqlite_url, form={"sender": "formulier@gemeente.example"}
    )
    form = complaint(
        "Website",
        "formulier@gemeente.example",
        "Nieuw klachtenformulier",
        body="Naam: Jef Janssens\nE-mail: jef@burger.example\nAdres: Kerkstraat 1, 2980 "
        "Zoersel\nOnderwerp: Afvalkalender\nKlacht: Ik kreeg geen antwoord van de "
        "dienst Omgeving\nop mijn vraag van vorige maand.\n",
    )
    mailbox.append("INBOX", form, when=ARRIVED)
    app.run_once()

    receipts = by_recipient(smtp_server, "jef@burger.example")
    assert len(receipts) == 1 and "KL-2026-0001" in receipts[0].subject
    assert by_recipient(smtp_server, "formulier@gemeente.example") == []
    found = case(app)
    assert (found.channel, found.citizen_name, found.citizen_email) == (
        "form",
        "Jef Janssens",
        "jef@burger.example",
    )
    assert found.subject == "Afvalkalender"
    assert found.citizen_address == "Kerkstraat 1, 2980 Zoersel"
    assert found.messages[0].body_text.startswith("Ik kreeg geen antwoord")


def test_a_letter_is_registered_without_a_receipt_mail(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = make(tmp_path, mailbox, smtp_server, sqlite_url)
    scan = b"%PDF-1.4 scanned letter" + bytes(range(200))
    mailbox.append(
        "INBOX",
        staff_mail(
            COORDINATOR,
            "Brief van mevrouw Maes",
            "#brief\nNaam: Maria Maes\nAdres: Dorp 5, 2980 Zoersel\nDatum: 16/11/2026\n"
            "Onderwerp: Parkeerkaart\n\nMevrouw Maes klaagt dat haar parkeerkaart niet werd "
            "verlengd.\n",
            attachment=("brief-maes.pdf", "application/pdf", scan),
        ),
        when=ARRIVED,
    )

    app.run_once()

    sent = smtp_server.messages
    assert [m.rcpt_tos for m in sent] == [(COORDINATOR,)]  # the confirmation, nothing else
    assert "Dossier KL-2026-0001 aangemaakt." in body_text(sent[0])
    letter = case(app)
    assert (letter.channel, letter.citizen_name, letter.citizen_email) == (
        "letter",
        "Maria Maes",
        "",
    )
    assert letter.received_at.astimezone(UTC).date() == date(2026, 11, 16)
    assert letter.deadline == date(2026, 12, 16)  # counted from the letter's date
    assert letter.messages[0].attachments[0].filename == "brief-maes.pdf"

    show = mailbot("--config", tmp_path / "config.toml", "cases", "show", "KL-2026-0001", "--json")
    data = json.loads(show.stdout)
    assert data["channel"] == "letter"
    assert data["messages"][0]["text"].startswith("Mevrouw Maes klaagt")


def test_the_new_case_notice_suggests_what_it_may_be(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = make(tmp_path, mailbox, smtp_server, sqlite_url)
    mailbox.append(
        "INBOX",
        complaint(
            "Piet",
            "piet@burger.example",
            "Lamp kapot",
            body="De straatlamp in onze straat is al weken kapot.\n",
        ),
        when=ARRIVED,
    )
    app.run_once()
    notice = body_text(by_recipient(smtp_server, COORDINATOR)[0])
    assert "straatlamp" in notice and "jij beslist" in notice


def test_timeline_trims_quoted_history(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = opened(tmp_path, mailbox, smtp_server, sqlite_url)
    mailbox.append(
        "INBOX",
        complaint(
            "An Peeters",
            CITIZEN,
            "Re: Ontvangstmelding van je klacht [KL-2026-0001]",
            body="Hier is nog een foto.\n\nVan: Klachtendienst <klachten@gemeente.example>\n"
            "Verzonden: dinsdag 24 november 2026 10:16\nAan: An Peeters\nOnderwerp: "
            "Ontvangstmelding\n\nBeste An Peeters, bedankt voor je bericht.\n",
        ),
    )
    app.run_once()
    shown = mailbot("--config", tmp_path / "config.toml", "cases", "show", "KL-2026-0001")
    assert shown.returncode == 0, shown.stderr
    assert "| Hier is nog een foto." in shown.stdout
    assert "bedankt voor je bericht" not in shown.stdout.split("follow_up", 1)[1]
    with app.sessions() as session:
        rows = session.execute(select(CaseMessageRow.kind)).scalars().all()
    assert "follow_up" in rows


def test_check_reports_a_missing_sent_folder(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, mailbox={"sent_folder": "Sent Items"}
    )
    missing = mailbot("--config", config, "check")
    assert missing.returncode == 1
    assert "imap: sent folder Sent Items: MISSING" in missing.stdout
    mailbox.create("Sent Items")
    found = mailbot("--config", config, "check")
    assert found.returncode == 0, found.stdout
    assert "sent folder Sent Items: exists" in found.stdout
