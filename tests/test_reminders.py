"""Reminders and escalation on the statutory clock, end to end on the real servers,
with a controlled clock (an injected one, or MAILBOT_FAKE_NOW for the command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from harness import Mailbox, ReceivedMail, SmtpSink
from sqlalchemy import insert, update
from support.app import COORDINATOR, new_app, write_config
from support.clock import FakeClock
from support.mails import body_text, by_recipient, complaint

from mailbot.app import App
from mailbot.persistence.tables import CaseRow

BRUSSELS = ZoneInfo("Europe/Brussels")
ESCALATION = "directeur@gemeente.example"
SERVICE = "omgeving@gemeente.example"


def setup(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp: SmtpSink,
    db_url: str,
    arrivals: list[tuple[str, datetime]],
    mode: str = "per_case",
    **extra: dict[str, object],
) -> tuple[App, FakeClock]:
    """Cases from real mail arriving at the given moments; then a controllable clock."""
    for address, when in arrivals:
        mailbox.append("INBOX", complaint("Burger", address, f"Klacht van {address}"), when=when)
    reminders: dict[str, object] = {"enabled": True, "mode": mode, "escalation": ESCALATION}
    reminders.update(extra.pop("reminders", {}))
    clock = FakeClock(max(w for _a, w in arrivals) + timedelta(minutes=1))
    app = new_app(
        write_config(tmp_path, mailbox, smtp, db_url, reminders=reminders, **extra), clock
    )
    app.run_once()
    return app, clock


def run_on(
    app: App, clock: FakeClock, day: date, smtp: SmtpSink, hh: int = 8, mm: int = 30
) -> list[ReceivedMail]:
    before = len(smtp.messages)
    clock.set_local(day, hh, mm)
    app.run_once()
    return smtp.messages[before:]


FILED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday 2 November 2026; deadline 2 December


def test_per_case_moments_go_to_the_right_people_and_never_to_the_citizen(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    app, clock = setup(tmp_path, mailbox, smtp_server, db_url, [("an@burger.example", FILED)])
    deadline = date(2026, 12, 2)  # a Wednesday

    # 14 days before: Wednesday 18 November
    sent = run_on(app, clock, deadline - timedelta(days=14), smtp_server)
    assert [m.rcpt_tos for m in sent] == [(COORDINATOR,)]
    assert sent[0].subject == "Herinnering KL-2026-0001: antwoord uiterlijk 2 december 2026"
    text = body_text(sent[0])
    assert "nog 14 dagen" in text and "an@burger.example" in text
    assert "ontvangen, nog niet beoordeeld" in text
    assert sent[0].message["Auto-Submitted"] == "auto-generated"

    # the same day again, and a restart the same day: nothing twice
    assert run_on(app, clock, deadline - timedelta(days=14), smtp_server, 15, 0) == []
    # before send_at the next day: nothing yet
    assert run_on(app, clock, deadline - timedelta(days=13), smtp_server, 7, 0) == []

    # the due day: a mail to the coordinator only
    sent = run_on(app, clock, deadline, smtp_server)
    assert [m.subject for m in sent] == ["Vandaag uiterste antwoorddatum: KL-2026-0001"]
    assert sent[0].rcpt_tos == (COORDINATOR,)

    # first working day after: the escalation, to the coordinator and the director
    sent = run_on(app, clock, deadline + timedelta(days=1), smtp_server)
    assert [m.subject for m in sent] == ["Termijn overschreden: KL-2026-0001 (1 dag te laat)"]
    assert set(sent[0].rcpt_tos) == {COORDINATOR, ESCALATION}

    # every 5 working days after that: Thursday 3 December + 5 working days = 10 December
    assert run_on(app, clock, date(2026, 12, 9), smtp_server) == []
    sent = run_on(app, clock, date(2026, 12, 10), smtp_server)
    assert [m.subject for m in sent] == ["Termijn overschreden: KL-2026-0001 (8 dagen te laat)"]

    citizen = by_recipient(smtp_server, "an@burger.example")
    assert [m.subject for m in citizen] == ["Ontvangstmelding van je klacht [KL-2026-0001]"]


def test_an_answered_case_gets_no_more_reminders(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app, clock = setup(tmp_path, mailbox, smtp_server, sqlite_url, [("an@burger.example", FILED)])
    assert len(run_on(app, clock, date(2026, 11, 18), smtp_server)) == 1  # before-14
    with app.sessions.begin() as session:
        session.execute(update(CaseRow).values(state="answered"))
    for day in (date(2026, 11, 25), date(2026, 11, 30), date(2026, 12, 2), date(2026, 12, 3)):
        assert run_on(app, clock, day, smtp_server) == []


def test_after_a_week_of_downtime_only_the_latest_moment_goes_out(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app, clock = setup(tmp_path, mailbox, smtp_server, sqlite_url, [("an@burger.example", FILED)])
    assert len(run_on(app, clock, date(2026, 11, 18), smtp_server)) == 1  # before-14
    # down from 19 November to 3 December: before-7, before-2, due and overdue-1 were missed
    sent = run_on(app, clock, date(2026, 12, 3), smtp_server, 10, 0)
    assert [m.subject for m in sent] == ["Termijn overschreden: KL-2026-0001 (1 dag te laat)"]
    assert run_on(app, clock, date(2026, 12, 3), smtp_server, 11, 0) == []


def test_digest_lists_what_needs_attention_once_per_working_day(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    arrivals = [
        ("oud@burger.example", datetime(2026, 10, 1, 9, 0, tzinfo=UTC)),  # due 1 Nov
        ("bijna@burger.example", datetime(2026, 10, 27, 9, 0, tzinfo=UTC)),  # due 27 Nov
        ("nieuw@burger.example", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),  # due 20 Dec
    ]
    app, clock = setup(tmp_path, mailbox, smtp_server, db_url, arrivals, mode="digest")
    with app.sessions.begin() as session:
        session.execute(
            update(CaseRow)
            .where(CaseRow.citizen_email == "nieuw@burger.example")
            .values(state="in_progress", service="Omgeving", service_email=SERVICE)
        )
    # Tuesday 24 November 2026, 08:30
    sent = run_on(app, clock, date(2026, 11, 24), smtp_server)
    by_to = {m.rcpt_tos: m for m in sent}
    assert set(by_to) == {(COORDINATOR,), (SERVICE,), (ESCALATION,)}
    coordinator = body_text(by_to[(COORDINATOR,)])
    assert coordinator.index("Termijn overschreden (1)") < coordinator.index("KL-2026-0001")
    assert coordinator.index("Termijn verloopt binnen 7 dagen (1)") < coordinator.index(
        "KL-2026-0002"
    )
    assert "Wacht op de betrokken dienst (1)" in coordinator and "KL-2026-0003" in coordinator
    assert "23 dagen te laat" in coordinator and "nog 3 dagen" in coordinator
    service = body_text(by_to[(SERVICE,)])
    assert "KL-2026-0003" in service and "KL-2026-0001" not in service  # only its own
    director = body_text(by_to[(ESCALATION,)])
    assert "KL-2026-0001" in director and "KL-2026-0003" not in director

    assert run_on(app, clock, date(2026, 11, 24), smtp_server, 16, 0) == []  # once a day
    # Saturday: no digest
    assert run_on(app, clock, date(2026, 11, 28), smtp_server) == []
    # Monday 30 November: KL-2026-0002 (due Friday 27th) is now overdue: escalation
    sent = run_on(app, clock, date(2026, 11, 30), smtp_server)
    by_to = {m.rcpt_tos: m for m in sent}
    assert set(by_to) == {(COORDINATOR,), (SERVICE,), (ESCALATION,)}
    director = body_text(by_to[(ESCALATION,)])
    assert "KL-2026-0001" in director and "KL-2026-0002" in director
    # Tuesday 1 December: KL-2026-0001's fifth escalation (every 5 working days, and
    # 11 November is a holiday): the director again
    sent = run_on(app, clock, date(2026, 12, 1), smtp_server)
    assert (ESCALATION,) in {m.rcpt_tos for m in sent}
    # Wednesday 2 December: no escalation moment falls, so no mail to the director
    sent = run_on(app, clock, date(2026, 12, 2), smtp_server)
    assert {m.rcpt_tos for m in sent} == {(COORDINATOR,), (SERVICE,)}
    assert all(
        m.rcpt_tos[0].endswith("@gemeente.example")
        for m in smtp_server.messages
        if m.message["Auto-Submitted"] == "auto-generated"
    )


def test_no_digest_when_nothing_needs_attention(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app, clock = setup(
        tmp_path, mailbox, smtp_server, sqlite_url, [("an@burger.example", FILED)], mode="digest"
    )
    with app.sessions.begin() as session:
        session.execute(update(CaseRow).values(state="closed"))
    assert run_on(app, clock, date(2026, 11, 24), smtp_server) == []


def test_deadline_shifted_to_the_next_working_day_when_configured(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    # Filed Sunday 11 October 2026 -> one month is Wednesday 11 November (Armistice day)
    # -> Thursday 12 November; filed 14 October -> Saturday 14 November -> Monday 16 November.
    arrivals = [
        ("a@burger.example", datetime(2026, 10, 11, 10, 0, tzinfo=UTC)),
        ("b@burger.example", datetime(2026, 10, 14, 10, 0, tzinfo=UTC)),
    ]
    _app, _clock = setup(
        tmp_path,
        mailbox,
        smtp_server,
        sqlite_url,
        arrivals,
        cases={"shift_to_working_day": True, "closing_days": ["12-24"]},
    )
    receipts = {
        m.rcpt_tos[0]: body_text(m)
        for m in smtp_server.messages
        if m.message["Auto-Submitted"] == "auto-replied"
    }
    assert "ten laatste op 12 november 2026" in " ".join(receipts["a@burger.example"].split())
    assert "ten laatste op 16 november 2026" in " ".join(receipts["b@burger.example"].split())


def cli(config: Path, *args: str, now: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAILBOT_FAKE_NOW=now)
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_command_line_under_a_faked_clock_on_the_due_day(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    mailbox.append("INBOX", complaint("An", "an@burger.example", "Klacht"), when=FILED)
    mailbox.append(
        "INBOX", complaint("Bo", "bo@burger.example", "Klacht"), when=FILED + timedelta(days=3)
    )
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        sqlite_url,
        reminders={"enabled": True, "mode": "per_case", "escalation": ESCALATION},
    )
    first = cli(config, "run", "--once", now="2026-11-05T10:00:00+01:00")
    assert first.returncode == 0, first.stderr
    start = len(smtp_server.messages)

    due_before = cli(
        config, "cases", "list", "--due-before", "2026-12-03", now="2026-12-02T09:00:00+01:00"
    )
    assert "KL-2026-0001" in due_before.stdout and "KL-2026-0002" not in due_before.stdout

    dry = cli(
        config, "reminders", "--dry-run", "--as-of", "2026-12-02", now="2026-12-02T09:00:00+01:00"
    )
    assert dry.returncode == 0, dry.stderr
    assert "would send 2 mail(s)" in dry.stdout
    assert f"due        to {COORDINATOR}: KL-2026-0001" in dry.stdout
    # KL-2026-0002 is due Saturday 5 December: its 7-days-before moment fell on Saturday
    # 28 November, moved to Friday 27th, and nobody ran mailbot since: it goes out now.
    assert f"before-7   to {COORDINATOR}: KL-2026-0002" in dry.stdout
    assert len(smtp_server.messages) == start  # a dry run sends nothing

    run = cli(config, "run", "--once", now="2026-12-02T09:00:00+01:00")
    assert run.returncode == 0, run.stderr
    sent = smtp_server.messages[start:]
    assert sorted(m.subject for m in sent) == [
        "Herinnering KL-2026-0002: antwoord uiterlijk 5 december 2026",
        "Vandaag uiterste antwoorddatum: KL-2026-0001",
    ]
    assert all(m.rcpt_tos == (COORDINATOR,) for m in sent)
    again = cli(config, "run", "--once", now="2026-12-02T14:00:00+01:00")
    assert again.returncode == 0 and len(smtp_server.messages) == start + 2


def test_a_digest_over_a_large_backlog_lists_the_most_urgent_and_counts_the_rest(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    """After a go-live on a neglected mailbox 250 cases are overdue: the coordinator's
    digest names the 100 with the oldest deadline, counts the other 150, and stays a
    mail a mail server accepts and a person reads."""
    app, clock = setup(
        tmp_path, mailbox, smtp_server, db_url, [("echt@burger.example", FILED)], mode="digest"
    )
    old = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    with app.sessions.begin() as session:
        session.execute(
            insert(CaseRow),
            [
                {
                    "reference": f"KL-2026-{n:04d}",
                    "state": "in_progress",
                    "channel": "email",
                    "citizen_email": f"burger{n}@burger.example",
                    "citizen_name": f"Burger {n}",
                    "subject": f"Klacht {n}",
                    "received_at": old + timedelta(hours=n),
                    "deadline": date(2026, 10, 1) + timedelta(days=(n - 1000) // 10),
                    "created_at": old,
                }
                for n in range(1000, 1250)
            ],
        )
    sent = run_on(app, clock, date(2026, 11, 24), smtp_server)
    (coordinator,) = [m for m in sent if m.rcpt_tos == (COORDINATOR,)]
    text = body_text(coordinator)
    assert "Termijn overschreden (250)" in text
    listed = {f"KL-2026-{n:04d}" for n in range(1000, 1100)}
    counted = {f"KL-2026-{n:04d}" for n in range(1100, 1250)}
    assert all(ref in text for ref in listed)
    assert not any(ref in text for ref in counted)
    assert "en nog 150 dossiers in deze groep" in " ".join(text.split())
    assert "KL-2026-0001" in text  # the real complaint, new, not yet assessed
    assert "251 dossiers" in str(coordinator.message["Subject"])
    assert len(coordinator.data) < 300_000
    (director,) = [m for m in sent if m.rcpt_tos == (ESCALATION,)]
    assert "Termijn overschreden (250)" in body_text(director)
