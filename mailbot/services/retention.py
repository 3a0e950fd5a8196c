"""The retention period (GDPR): personal data of finished cases is not kept forever.

After `[retention] keep_for` from the moment a case was answered or closed, its personal
data goes: the citizen's name, address and e-mail, the subject, every message with its
attachments and stored original, the mails sent about it, and the originals in the
mailbox's processed and quarantine folders. What the yearly report to the council counts
stays (reference, dates, channel, admissibility and reason, outcome). Mail that opened no
case (quarantined, automatic, duplicates) loses its stored original after the same time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbot.config import Config
from mailbot.domain.deadline import add_months
from mailbot.domain.ports import Clock
from mailbot.persistence import cases as case_queries
from mailbot.persistence.blobs import drop_orphans
from mailbot.persistence.mailbox import items_to_purge
from mailbot.persistence.outbox import delete_unlinked_before
from mailbot.persistence.records import scrub_free_space, secure_delete
from mailbot.persistence.session import Session, Sessions
from mailbot.persistence.tables import CaseRow

log = logging.getLogger(__name__)

PURGED_SUBJECT = "(verwijderd na de bewaartermijn)"


@dataclass
class RetentionReport:
    cutoff: datetime
    cases: list[str] = field(default_factory=list)
    items: int = 0
    blobs: int = 0
    # folder -> Message-IDs whose originals must leave the mailbox too
    originals: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class RetentionService:
    def __init__(self, config: Config, sessions: Sessions, clock: Clock) -> None:
        self.config = config
        self.sessions = sessions
        self.clock = clock

    def cutoff(self) -> datetime:
        period = self.config.retention.keep_for
        now = self.clock()
        if period.months:
            local = now.astimezone(self.config.cases.timezone)
            day = add_months(local.date(), -period.months)
            return datetime.combine(day, local.timetz()).astimezone(now.tzinfo)
        return now - timedelta(days=period.days)

    def due(self, session: Session, cutoff: datetime) -> list[CaseRow]:
        return case_queries.finished_before(session, cutoff)

    def run_pass(self, dry_run: bool = False) -> RetentionReport:
        report = RetentionReport(cutoff=self.cutoff())
        with self.sessions.begin() as session:
            secure_delete(session)
            cases = self.due(session, report.cutoff)
            report.cases = [c.reference for c in cases]
            items = items_to_purge(session, [c.id for c in cases], report.cutoff)
            report.items = len(items)
            for item in items:
                if item.moved_to:
                    report.originals[item.moved_to].append(item.message_id)
            if dry_run:
                session.rollback()
                return report
            for item in items:
                item.raw_sha256 = None
            for case in cases:
                self._purge(session, case)
            # staff notices about mail that opened no case (quarantine) quote its headers
            delete_unlinked_before(session, report.cutoff)
            report.blobs = drop_orphans(session)
        if report.cases or report.items:
            # deleted rows linger in SQLite's free pages and write-ahead log
            with self.sessions() as session:
                engine = session.get_bind().engine
            scrub_free_space(engine)
            log.info(
                "retention: personal data removed from %s cases and %s mails (%s blobs)",
                len(report.cases),
                report.items,
                report.blobs,
            )
        return report

    def _purge(self, session: Session, case: CaseRow) -> None:
        reference = case.reference  # read before the purge expires the case
        case_queries.purge_personal_data(session, case, PURGED_SUBJECT, self.clock())
        log.info("retention: case=%s personal data removed", reference)
