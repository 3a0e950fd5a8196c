"""Nothing the jobs run reads a whole table that grows with the years.

A municipality keeps cases, their mails, the outbox and the intake records for years;
a query without an index on one of those tables costs a little more every day, and a
morning's backlog pays it once per mail (issue 13: the receipt-limit count that scanned
the outbox took 150 s of a 10,000-mail run). Here a working day runs on the real servers
— complaints, a follow-up, an auto-reply, a bounce, a staff command, an answer from the
sent folder, delivery, reminders in both modes, retention — and every statement it sent
is asked for its query plan on the same SQLite database. SQLite's planner uses an index
whenever one fits, whatever the table's size, so an empty test database shows the plan a
large one gets (PostgreSQL's planner prefers a sequential scan of a small table, so its
plans here would say nothing)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Mailbox, SmtpSink
from sqlalchemy import event
from support.app import COORDINATOR, FROM_ADDRESS, new_app, write_config
from support.clock import FakeClock
from support.mails import ARRIVED, bounce_of, by_recipient, complaint
from support.staff import MX, SENT, staff_mail

from mailbot.app import App

# Tables that grow with every mail or case and are never emptied by the jobs.
GROWING = {
    "cases",
    "messages",
    "attachments",
    "blobs",
    "outbox",
    "mailbox_items",
    "audit",
    "reminders",
}
# The one walk allowed: the nightly sweep of blobs nothing points to any more reads each
# blob once (and finds whatever points to it by index); nothing smaller can find them.
SWEEP = "DELETE FROM blobs WHERE NOT"
CITIZEN = "an.peeters@burger.example"
OTHER = "bart.maes@burger.example"


def _capture(app: App) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        seen.append((statement, parameters[0] if many else parameters))

    event.listen(app.engine, "before_cursor_execute", record)
    return seen


def _full_scans(database: Path, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Statement -> the plan lines that walk a growing table from end to end."""
    found: dict[str, list[str]] = {}
    with closing(sqlite3.connect(database)) as plain:
        for statement, parameters in statements:
            verb = statement.split(None, 1)[0].upper()
            if verb not in {"SELECT", "UPDATE", "DELETE", "INSERT", "WITH"}:
                continue  # BEGIN, SAVEPOINT, PRAGMA: nothing to plan
            plan = plain.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
            scans = [
                detail
                for *_ids, detail in plan
                if detail.startswith("SCAN ") and detail.split()[1] in GROWING
            ]
            if statement.startswith(SWEEP):
                scans.remove("SCAN blobs")
            if scans:
                found[" ".join(statement.split())] = scans
    return found


def _day(
    tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, mode: str, clock: FakeClock
) -> tuple[App, Path]:
    database = tmp_path / "mailbot.sqlite3"
    mailbox.create(SENT)
    config = write_config(
        tmp_path,
        mailbox,
        smtp,
        f"sqlite:///{database}",
        mailbox={"sent_folder": SENT},
        staff={"authserv_ids": [MX]},
        reminders={"enabled": True, "mode": mode},
    )
    return new_app(config, clock), database


@pytest.mark.parametrize("reminders", ["per_case", "digest"])
def test_a_working_day_reads_no_growing_table_end_to_end(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, reminders: str
) -> None:
    clock = FakeClock(ARRIVED + timedelta(minutes=5))
    app, database = _day(tmp_path, mailbox, smtp_server, reminders, clock)
    statements = _capture(app)
    photo = ("foto.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)
    first = complaint(
        "An Peeters", CITIZEN, "Put in het fietspad", message_id="<an1@burger.example>"
    )
    mailbox.append("INBOX", first, when=ARRIVED)
    mailbox.append(
        "INBOX", complaint("Bart Maes", OTHER, "Sluikstort", attachment=photo), when=ARRIVED
    )
    app.run_once()
    clock.advance(hours=2)
    receipt = by_recipient(smtp_server, CITIZEN)[0]
    follow_up = complaint(
        "An Peeters",
        CITIZEN,
        f"Re: {receipt.subject}",
        "Ik stuur nog een foto.",
        in_reply_to=receipt.message["Message-ID"],
        attachment=photo,
    )
    auto_reply = complaint(
        "An Peeters",
        CITIZEN,
        f"Afwezig: {receipt.subject}",
        "Ik ben afwezig tot maandag.",
        headers={"Auto-Submitted": "auto-replied"},
        in_reply_to=receipt.message["Message-ID"],
    )
    bounce = bounce_of(by_recipient(smtp_server, OTHER)[0])
    command = staff_mail(
        COORDINATOR, "Re: Nieuwe klacht KL-2026-0002: Sluikstort", "#ontvankelijk\n#notitie Gebeld."
    )
    answer = staff_mail(
        f"Klachtendienst <{FROM_ADDRESS}>",
        f"Re: {receipt.subject}",
        "Beste An,\n\nHierbij ons gemotiveerd antwoord.\n",
        to=f"An Peeters <{CITIZEN}>",
        verified=False,
    )
    for mail in (follow_up, auto_reply, bounce, command, first):  # `first` again: a duplicate
        mailbox.append("INBOX", mail, when=ARRIVED + timedelta(hours=1))
    mailbox.append(SENT, answer, when=ARRIVED + timedelta(days=2))
    report = app.run_once()
    assert report.intake is not None
    # the follow-up and the auto-reply join An's case; the answer is the sent folder's
    assert dict(report.intake.outcomes) == {
        "follow_up": 2,
        "bounce": 1,
        "command": 1,
        "staff_mail": 1,
        "duplicate": 1,
    }
    for day in (date(2026, 12, 17), date(2026, 12, 24), date(2026, 12, 29)):
        app.reminders.run_pass(as_of=day)
    app.dispatch_pass()
    clock.advance(days=3 * 365)  # the answered case and the mail of no case are due
    purged = app.retention_pass()
    assert purged.cases == ["KL-2026-0001"] and purged.items > 0 and purged.blobs > 0

    scans = _full_scans(database, statements)

    assert len(statements) > 100  # the day really ran through these statements
    assert scans == {}, "\n\n".join(f"{s}\n  -> {p}" for s, p in scans.items())
