"""Reminders and escalation by mail, counted on the statutory clock.

A pass looks at every open case whose deadline is near or past, asks the domain which
moment (before-14, due, overdue-2 ...) is due, and queues the staff mail through the
outbox. The moment is recorded in the same transaction (unique per case), so each goes
out at most once, across restarts, crashes and a second instance; after downtime only the
latest missed moment goes out. Nothing here ever writes to the citizen.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mailbot.config import Config
from mailbot.domain.model import Address, CaseState, MessageKind
from mailbot.domain.ports import Clock
from mailbot.domain.reminders import (
    Moment,
    MomentKind,
    ReminderRules,
    latest_moment,
    superseded,
)
from mailbot.persistence import cases as case_queries
from mailbot.persistence.cases import CaseDates, OpenCase
from mailbot.persistence.outbox import existing_keys
from mailbot.persistence.reminders import record_moments, sent_moments
from mailbot.persistence.session import Session, Sessions
from mailbot.persistence.tables import CaseRow
from mailbot.services.cases import CaseLine, case_line
from mailbot.services.outbox import Outbox
from mailbot.services.sentfolder import SentFolder

log = logging.getLogger(__name__)

DUE_SOON_DAYS = 7  # "due this week" in the digest
DIGEST_LINES = 100  # cases listed per group of a digest; the rest is counted


@dataclass(frozen=True)
class PlannedMail:
    key: str  # outbox key: the idempotency of the mail itself
    template: str
    to: tuple[str, ...]
    subject_hint: str
    cases: tuple[CaseLine, ...]
    groups: tuple[tuple[str, tuple[CaseLine, ...]], ...] = ()
    moment: Moment | None = None
    counts: tuple[tuple[str, int], ...] = ()  # cases per group, listed or not

    @property
    def total(self) -> int:
        """The cases the mail is about, listed or counted."""
        return sum(n for _name, n in self.counts) if self.counts else len(self.cases)


@dataclass
class ReminderPlan:
    day: date
    mails: list[PlannedMail] = field(default_factory=list)
    moments: list[tuple[int, Moment]] = field(default_factory=list)  # (case id, moment)


_Groups = tuple[tuple[str, list[CaseDates]], ...]


def _group(cases: Sequence[CaseDates], day: date, with_new: bool = True) -> _Groups:
    """The digest's groups, most urgent first, each in deadline order; empty ones left out."""
    overdue, soon, new, waiting = [], [], [], []
    due_soon = day + timedelta(days=DUE_SOON_DAYS)
    for case in cases:
        if case.deadline < day:
            overdue.append(case)
        elif case.deadline <= due_soon:
            soon.append(case)
        elif case.state == CaseState.RECEIVED.value and with_new:
            new.append(case)
        elif case.service_email:
            waiting.append(case)
    named = (
        ("Termijn overschreden", overdue),
        ("Termijn verloopt binnen 7 dagen", soon),
        ("Nieuw, nog niet beoordeeld", new),
        ("Wacht op de betrokken dienst", waiting),
    )
    return tuple((name, members) for name, members in named if members)


class ReminderService:
    def __init__(self, config: Config, sessions: Sessions, outbox: Outbox, clock: Clock) -> None:
        self.config = config
        # The folder the how-to names; the App shares the one intake finds on the server.
        self.sent = SentFolder(config.mailbox)
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        r = config.reminders
        self.rules = ReminderRules(before_days=r.before_days, overdue_every=r.overdue_every)
        self.calendar = config.cases.calendar
        self.tz = config.cases.timezone

    # -- what is due ------------------------------------------------------------------

    def effective_day(self, now: datetime) -> date | None:
        """The latest day whose reminders may go out now: today once `send_at` has
        passed, yesterday before that (a catch-up at 07:00 still sends yesterday's)."""
        local = now.astimezone(self.tz)
        if local.time() >= self.config.reminders.send_at:
            return local.date()
        return local.date() - timedelta(days=1)

    def plan(self, session: Session, day: date, today_is_send_day: bool = True) -> ReminderPlan:
        """Every mail the pass for `day` would queue, without queueing anything."""
        plan = ReminderPlan(day)
        cases = case_queries.open_case_dates(session)
        due = self._due(session, cases, day)
        plan.moments.extend((case.id, moment) for case, moment in due)
        if self.config.reminders.mode == "per_case":
            full = case_queries.open_cases_by_id(session, [case.id for case, _m in due])
            plan.mails.extend(self._per_case(full[case.id], moment, day) for case, moment in due)
        elif today_is_send_day and self.calendar.is_working_day(day):
            digests = list(self._digests(session, day, cases, due))
            done = existing_keys(session, [d.key for d in digests])
            plan.mails.extend(d for d in digests if d.key not in done)
        return plan

    def _due(
        self, session: Session, cases: Sequence[CaseDates], day: date
    ) -> list[tuple[CaseDates, Moment]]:
        """The moment due today per case. Cases sharing a deadline and a filing day share
        their latest moment, so it is computed once per pair, not once per case."""
        horizon = day + timedelta(days=max(self.rules.before_days, default=0) + 1)
        sent = sent_moments(session, horizon)
        latest: dict[tuple[date, date], Moment | None] = {}
        due: list[tuple[CaseDates, Moment]] = []
        for case in cases:
            if case.deadline > horizon:
                break  # earliest deadline first
            pair = (case.deadline, case.received_at.astimezone(self.tz).date())
            if pair not in latest:
                latest[pair] = latest_moment(*pair, self.rules, self.calendar, day)
            moment = latest[pair]
            if moment is not None and not superseded(moment, sent.get(case.id, ())):
                due.append((case, moment))
        return due

    def _line(self, case: OpenCase, day: date, moment: Moment | None = None) -> CaseLine:
        return case_line(case, day, moment.key if moment else None)

    def _recipients(self, case: OpenCase, overdue: bool) -> tuple[str, ...]:
        to = [self.config.staff.coordinator]
        if case.service_email:
            to.append(case.service_email)
        if overdue and self.config.reminders.escalation:
            to.append(self.config.reminders.escalation)
        return tuple(dict.fromkeys(a.lower() for a in to))

    def _per_case(self, case: OpenCase, moment: Moment, day: date) -> PlannedMail:
        overdue = moment.kind is MomentKind.OVERDUE
        return PlannedMail(
            key=f"reminder:{case.reference}:{moment.key}",
            template="reminder",
            to=self._recipients(case, overdue),
            subject_hint=f"{case.reference} {moment.key}",
            cases=(self._line(case, day, moment),),
            moment=moment,
        )

    def _digests(
        self,
        session: Session,
        day: date,
        cases: Sequence[CaseDates],
        due: list[tuple[CaseDates, Moment]],
    ) -> Iterable[PlannedMail]:
        """One mail per recipient per working day: the coordinator sees every open case
        that needs attention, a service its own, the escalation address the overdue ones
        on days an escalation moment falls. Each group lists its DIGEST_LINES most
        urgent cases and counts the rest, so a digest stays a mail one can read (and
        send: 100,000 cases in full would be tens of megabytes)."""
        due_soon = day + timedelta(days=DUE_SOON_DAYS)
        wanted = [
            c
            for c in cases
            if c.deadline <= due_soon or c.state == CaseState.RECEIVED.value or c.service_email
        ]
        coordinator = self.config.staff.coordinator.lower()
        digests: list[tuple[str, _Groups]] = [(coordinator, _group(wanted, day))]
        by_service: dict[str, list[CaseDates]] = defaultdict(list)
        for case in wanted:
            if case.service_email and case.service_email.lower() != coordinator:
                by_service[case.service_email.lower()].append(case)
        for address, own in sorted(by_service.items()):
            digests.append((address, _group(own, day, with_new=False)))
        escalation = self.config.reminders.escalation
        if escalation and any(m.kind is MomentKind.OVERDUE for _c, m in due):
            overdue = [c for c in wanted if c.deadline < day]
            digests.append((escalation.lower(), (("Termijn overschreden", overdue),)))
        shown = {
            c.id for _a, groups in digests for _n, members in groups for c in members[:DIGEST_LINES]
        }
        full = case_queries.open_cases_by_id(session, sorted(shown))
        for address, groups in digests:
            if groups:
                yield self._digest(address, day, groups, full)

    def _digest(
        self, address: str, day: date, groups: _Groups, full: Mapping[int, OpenCase]
    ) -> PlannedMail:
        lines = tuple(
            (name, tuple(self._line(full[c.id], day) for c in members[:DIGEST_LINES]))
            for name, members in groups
        )
        counts = tuple((name, len(members)) for name, members in groups)
        return PlannedMail(
            key=f"digest:{address}:{day.isoformat()}",
            template="digest",
            to=(address,),
            subject_hint=f"digest {day.isoformat()}",
            cases=tuple(line for _name, shown in lines for line in shown),
            groups=lines,
            counts=counts,
        )

    # -- doing it ---------------------------------------------------------------------

    def run_pass(self, as_of: date | None = None, dry_run: bool = False) -> ReminderPlan:
        """Queue what is due (or, with dry_run, only say it). Idempotent."""
        now = self.clock()
        day = as_of if as_of is not None else self.effective_day(now)
        if day is None or not self.config.reminders.enabled:
            return ReminderPlan(day or now.date())
        # A digest belongs to its own day: a pass before send_at (day = yesterday) sends
        # yesterday's missed per-case moments but no stale digest.
        send_day = as_of is not None or day == now.astimezone(self.tz).date()
        if dry_run:
            with self.sessions() as session:
                return self.plan(session, day, send_day)
        with self.sessions.begin() as session:
            plan = self.plan(session, day, send_day)
            record_moments(session, plan.moments, self.config.reminders.mode, now)
            by_ref: dict[str, CaseRow] = {}
            if plan.mails and self.config.reminders.mode == "per_case":
                refs = [m.cases[0].reference for m in plan.mails]
                by_ref = case_queries.cases_by_reference(session, refs)
            for mail in plan.mails:
                self._enqueue(session, mail, day, now, by_ref.get(mail.cases[0].reference))
        if plan.mails:
            log.info("reminders: %s mails queued for %s", len(plan.mails), day.isoformat())
        return plan

    def _enqueue(
        self, session: Session, mail: PlannedMail, day: date, now: datetime, case: CaseRow | None
    ) -> None:
        self.outbox.enqueue(
            session,
            key=mail.key,
            kind=MessageKind.REMINDER,
            template=mail.template,
            to=[Address(a) for a in mail.to],
            now=now,
            case=case,
            auto_submitted="auto-generated",
            day=day,
            cases=mail.cases,
            groups=mail.groups,
            counts=dict(mail.counts),
            total=mail.total,
            moment=mail.moment,
            coordinator=self.config.staff.coordinator,
            mailbox=self.config.smtp.from_address,
            sent_folder=self.sent.name,
        )
