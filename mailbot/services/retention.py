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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.deadline import add_months
from mailbot.domain.model import CaseState
from mailbot.domain.ports import Clock
from mailbot.persistence.records import (
    drop_orphan_blobs,
    purge_case,
    scrub_free_space,
    secure_delete,
)
from mailbot.persistence.tables import CaseRow, MailboxItemRow, OutboxRow

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
    def __init__(self, config: Config, sessions: sessionmaker[Session], clock: Clock) -> None:
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
        finished = func.coalesce(CaseRow.closed_at, CaseRow.answered_at)
        return list(
            session.execute(
                select(CaseRow)
                .where(
                    CaseRow.state.in_([CaseState.CLOSED.value, CaseState.ANSWERED.value]),
                    CaseRow.purged_at.is_(None),
                    finished.is_not(None),
                    finished < cutoff,
                )
                .order_by(CaseRow.id)
            ).scalars()
        )

    def run_pass(self, dry_run: bool = False) -> RetentionReport:
        report = RetentionReport(cutoff=self.cutoff())
        with self.sessions.begin() as session:
            secure_delete(session)
            cases = self.due(session, report.cutoff)
            report.cases = [c.reference for c in cases]
            items = list(
                session.execute(
                    select(MailboxItemRow).where(
                        MailboxItemRow.raw_sha256.is_not(None),
                        (MailboxItemRow.case_id.in_([c.id for c in cases]))
                        | (
                            MailboxItemRow.case_id.is_(None)
                            & (MailboxItemRow.processed_at < report.cutoff)
                        ),
                    )
                ).scalars()
            )
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
            session.execute(
                delete(OutboxRow).where(
                    OutboxRow.case_id.is_(None),
                    OutboxRow.status != "pending",
                    OutboxRow.created_at < report.cutoff,
                )
            )
            report.blobs = drop_orphan_blobs(session)
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
        purge_case(session, case.id, self.clock(), PURGED_SUBJECT)
        log.info("retention: case=%s personal data removed", case.reference)
