"""A year (and a bit of the year before) of complaints, driven through mailbot's real
intake on the real Dovecot and SMTP server with an injected clock: complaints by mail,
by the website form and by letter, coordinator commands, answers from the sent folder,
late answers, inadmissible ones, automatic replies and unreadable mail.

`Year.expected(year)` counts the figures of the yearly report from the scenario itself,
without mailbot's code: the tests compare the report with it."""

from __future__ import annotations

import calendar
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from harness import Mailbox, SmtpSink
from sqlalchemy import select

from mailbot.app import App
from mailbot.persistence.tables import CaseRow
from support.app import COORDINATOR, FROM_ADDRESS, new_app, write_config
from support.mails import complaint
from support.staff import MX, SENT, staff_mail

BRUSSELS = ZoneInfo("Europe/Brussels")
FORM_SENDER = "no-reply@gemeente.example"
SERVICES = {
    "omgeving": "omgeving@gemeente.example",
    "burgerzaken": "burgerzaken@gemeente.example",
    "financien": "financien@gemeente.example",
}
# Belgian public holidays, 11 July and the configured closing days (24 and 31 December),
# written out by hand: the independent count must not ask mailbot's calendar.
CLOSED = {
    date(2024, 1, 1), date(2024, 4, 1), date(2024, 5, 1), date(2024, 5, 9), date(2024, 5, 20),
    date(2024, 7, 11), date(2024, 7, 21), date(2024, 8, 15), date(2024, 11, 1),
    date(2024, 11, 11), date(2024, 12, 24), date(2024, 12, 25), date(2024, 12, 31),
    date(2025, 1, 1), date(2025, 4, 21), date(2025, 5, 1), date(2025, 5, 29), date(2025, 6, 9),
    date(2025, 7, 11), date(2025, 7, 21), date(2025, 8, 15), date(2025, 11, 1),
    date(2025, 11, 11), date(2025, 12, 24), date(2025, 12, 25), date(2025, 12, 31),
    date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 14), date(2026, 5, 25),
    date(2026, 7, 11), date(2026, 7, 21), date(2026, 8, 15), date(2026, 11, 1),
    date(2026, 11, 11), date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31),
}  # fmt: skip
NOT_A_COMPLAINT = {"informatie", "melding", "suggestie"}
# The year the report is about. In the past: Dovecot gives a mail APPENDed with a date in
# the future the present time as INTERNALDATE.
YEAR = 2025


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def one_month_later(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def working_days(start: date, end: date) -> int:
    days = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in CLOSED:
            days += 1
    return days


@dataclass
class Planned:
    """One case as the scenario means it to go."""

    received: datetime  # local
    channel: str
    kind: str  # answered | sent-answer | inadmissible | open
    name: str
    email: str
    delay: int = 0  # days from receipt to the answer or decision
    reason: str | None = None
    outcome: str | None = None
    service: str | None = None
    reference: str = ""

    @property
    def received_on(self) -> date:
        return self.received.date()

    @property
    def deadline(self) -> date:
        return one_month_later(self.received_on)

    @property
    def decided(self) -> datetime:
        return self.received + timedelta(days=self.delay)

    @property
    def answered_on(self) -> date | None:
        return None if self.kind == "open" else self.decided.date()


@dataclass
class Year:
    app: App
    mailbox: Mailbox
    clock: Clock
    config: Path
    cases: list[Planned] = field(default_factory=list)
    other_mails: Counter[int] = field(default_factory=Counter)  # year -> count

    def at(self, when: datetime) -> None:
        self.clock.now = when.astimezone(UTC)

    def deliver(self, folder: str, raw: bytes, when: datetime) -> None:
        self.at(when)
        self.mailbox.append(folder, raw, when=when.astimezone(UTC))
        self.app.run_once()

    def newest_reference(self) -> str:
        with self.app.sessions() as session:
            return str(
                session.execute(
                    select(CaseRow.reference).order_by(CaseRow.id.desc()).limit(1)
                ).scalar_one()
            )

    def open_case(self, case: Planned) -> None:
        if case.channel == "email":
            raw = complaint(case.name, case.email, f"Klacht {len(self.cases) + 1}")
            self.deliver("INBOX", raw, case.received)
        elif case.channel == "form":
            body = (
                "Nieuwe inzending van het klachtenformulier\n\n"
                f"Naam: {case.name}\nE-mail: {case.email}\nOnderwerp: Formulier\n"
                "Klacht:\nIk werd aan het loket onbeleefd behandeld.\n"
            )
            self.deliver("INBOX", staff_mail(FORM_SENDER, "Klachtenformulier", body), case.received)
        else:
            body = (
                f"#brief\nNaam: {case.name}\nE-mail: {case.email}\n"
                f"Datum: {case.received:%d/%m/%Y}\nOnderwerp: Brief\n\nDe brief zegt dat ...\n"
            )
            self.deliver("INBOX", staff_mail(COORDINATOR, "Brief", body), case.received)
        case.reference = self.newest_reference()
        self.cases.append(case)

    def command(self, case: Planned, when: datetime, *lines: str) -> None:
        body = "\n".join(lines) + "\n"
        self.deliver("INBOX", staff_mail(COORDINATOR, f"Re: [{case.reference}]", body), when)

    def decide(self, case: Planned) -> None:
        when = case.decided
        if case.kind == "answered":
            lines = [f"#dienst {case.service}"] if case.service else []
            self.command(case, when, "#ontvankelijk", *lines, f"#beantwoord {case.outcome}")
        elif case.kind == "sent-answer":
            answer = staff_mail(
                FROM_ADDRESS,
                f"Re: Ontvangstmelding van je klacht [{case.reference}]",
                "Beste,\n\nHierbij ons gemotiveerd antwoord.\n",
                to=case.email,
                verified=False,
            )
            self.deliver(SENT, answer, when)
            self.command(case, when + timedelta(days=1), f"#beantwoord {case.outcome}")
        elif case.kind == "inadmissible":
            self.command(case, when, f"#onontvankelijk {case.reason}")

    def noise(self, when: datetime) -> None:
        """Mail that opens no case: an out-of-office reply and an unreadable mail."""
        auto = complaint(
            "Afwezig",
            "afwezig@elders.example",
            "Afwezig",
            headers={"Auto-Submitted": "auto-replied"},
        )
        self.deliver("INBOX", auto, when)
        self.deliver("INBOX", b"garbage without any header line\r\n", when + timedelta(hours=1))
        self.other_mails[when.year] += 2

    def expected(self, year: int) -> dict[str, Any]:
        today = self.clock.now.astimezone(BRUSSELS).date()
        cases = [c for c in self.cases if c.received.year == year]
        return expected_figures(cases, self.other_mails[year], today)


def expected_figures(cases: list[Planned], other: int, today: date) -> dict[str, Any]:
    decided = [c for c in cases if c.answered_on is not None]
    days = [(c.answered_on - c.received_on).days for c in decided if c.answered_on]
    work = [working_days(c.received_on, c.answered_on) for c in decided if c.answered_on]
    in_time = sum(1 for c in decided if c.answered_on and c.answered_on <= c.deadline)
    reasons = Counter(c.reason for c in cases if c.kind == "inadmissible")
    not_complaints = sum(n for r, n in reasons.items() if r in NOT_A_COMPLAINT)
    still_open = [c for c in cases if c.kind == "open"]
    figures: dict[str, Any] = {
        "total": len(cases),
        "complaints": len(cases) - not_complaints,
        "not_complaints": not_complaints,
        "other_mails": other,
        "admissible": sum(1 for c in cases if c.kind in ("answered", "sent-answer")),
        "inadmissible": sum(reasons.values()),
        "undecided": len(still_open),
        "answered": len(decided),
        "in_time": in_time,
        "share_in_time": round(100 * in_time / len(decided), 1) if decided else None,
        "median_days": float(statistics.median(days)) if days else None,
        "p90_days": sorted(days)[math.ceil(0.9 * len(days)) - 1] if days else None,
        "median_working_days": float(statistics.median(work)) if work else None,
        "p90_working_days": sorted(work)[math.ceil(0.9 * len(work)) - 1] if work else None,
        "open_cases": len(still_open),
        "open_overdue": sum(1 for c in still_open if c.deadline < today),
    }
    for channel, n in Counter(c.channel for c in cases).items():
        figures[f"channel:{channel}"] = n
    for reason, n in reasons.items():
        figures[f"reason:{reason}"] = n
    for service, n in Counter(c.service or "(geen dienst aangeduid)" for c in cases).items():
        figures[f"service:{service}"] = n
    for outcome, n in Counter(c.outcome for c in cases if c.outcome).items():
        figures[f"outcome:{outcome}"] = n
    months = Counter(c.received.month for c in cases)
    for month in range(1, 13):
        figures[f"month:{month}"] = months.get(month, 0)
    return figures


KINDS = ("answered", "sent-answer", "inadmissible", "answered", "open", "inadmissible", "answered")
REASONS = ("melding", "geen-eerder-contact", "informatie", "anoniem", "suggestie")
OUTCOMES = ("gegrond", "deels-gegrond", "ongegrond")
DELAYS = (4, 9, 16, 23, 30, 34, 47)


def plan(year: int, count: int, rng: random.Random) -> list[Planned]:
    cases = []
    for i in range(count):
        month = 1 + (i * 7 + rng.randrange(3)) % 12
        day = 1 + rng.randrange(28)
        received = datetime(year, month, day, 9 + rng.randrange(8), 15, tzinfo=BRUSSELS)
        kind = KINDS[i % len(KINDS)]
        channel = ("email", "email", "form", "email", "letter")[i % 5]
        case = Planned(
            received, channel, kind, f"Burger {year}-{i}", f"burger{year}.{i}@burger.example"
        )
        case.delay = rng.choice(DELAYS)
        if kind == "inadmissible":
            case.reason = REASONS[(i // 2) % len(REASONS)]
            case.delay = 1 + rng.randrange(6)
        elif kind in ("answered", "sent-answer"):
            case.outcome = OUTCOMES[i % 3]
            case.service = (None, "omgeving", "burgerzaken", "financien")[i % 4]
            if kind == "sent-answer":
                case.service = None
        cases.append(case)
    return sorted(cases, key=lambda c: c.received)


def build_year(
    tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink, db_url: str, *, count: int = 24,
    previous: int = 6, seed: int = 14,
) -> Year:  # fmt: skip
    mailbox.create(SENT)
    config = write_config(
        tmp_path, mailbox, smtp, db_url,
        mailbox={"sent_folder": SENT},
        staff={"authserv_ids": [MX]},
        services=SERVICES,
        form={"sender": FORM_SENDER},
        cases={"closing_days": ["12-24", "12-31"]},
    )  # fmt: skip
    clock = Clock(datetime(YEAR - 1, 1, 1, tzinfo=UTC))
    year = Year(new_app(config, clock), mailbox, clock, config)
    rng = random.Random(seed)
    planned = plan(YEAR - 1, previous, rng) + plan(YEAR, count, rng)
    events: list[tuple[datetime, int, Planned]] = []
    for case in planned:
        events.append((case.received, 0, case))
        if case.kind != "open":
            events.append((case.decided, 1, case))
    events.sort(key=lambda e: (e[0], e[1]))
    for _when, step, case in events:
        (year.decide if step else year.open_case)(case)
    year.noise(datetime(YEAR, 3, 3, 10, 0, tzinfo=BRUSSELS))
    end = datetime(YEAR + 1, 1, 20, 9, 0, tzinfo=BRUSSELS)
    year.at(max(events[-1][0] + timedelta(days=2), end))
    return year
