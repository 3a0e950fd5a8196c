"""Delivery of the outbox. Temporary SMTP failures are retried with exponential backoff;
permanent ones (and running out of attempts) mark the row failed and tell the coordinator.

At-least-once: a row is marked sent right after the server accepted it. If the process
dies between the two, the mail goes out again after a restart with the same Message-ID,
so mail clients show it once; that window is one database commit wide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.errors import SendPermanentError, SendTemporaryError, SmtpUnavailableError
from mailbot.domain.model import MessageKind
from mailbot.domain.ports import Clock, MailSender
from mailbot.persistence.tables import CaseRow, OutboxRow
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Dispatcher:
    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        sender: MailSender,
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.sender = sender
        self.outbox = outbox
        self.clock = clock

    def backoff(self, attempts: int) -> timedelta:
        cfg = self.config.outbox
        seconds = min(cfg.retry_max, cfg.retry_initial * (2 ** max(attempts - 1, 0)))
        return timedelta(seconds=seconds)

    def run_pass(self, stop: threading.Event | None = None, limit: int = 500) -> DispatchStats:
        """Deliver every row that is due, each once. Rows are read in id order, `limit` at
        a time; each is its own transaction so one bad row never holds back the others."""
        stats = DispatchStats()
        after = 0
        while True:
            with self.sessions() as session:
                due = list(
                    session.execute(
                        select(OutboxRow.id)
                        .where(
                            OutboxRow.status == "pending",
                            OutboxRow.next_attempt_at <= self.clock(),
                            OutboxRow.id > after,
                        )
                        .order_by(OutboxRow.id)
                        .limit(limit)
                    ).scalars()
                )
            for row_id in due:
                if stop is not None and stop.is_set():
                    return stats
                if not self._deliver(row_id, stats):
                    # The server is unreachable: the other rows wait for the next pass
                    # instead of each waiting out the SMTP timeout (and holding up intake).
                    return stats
            if len(due) < limit:
                return stats
            after = due[-1]

    def retry_now(self, *, failed_too: bool = False) -> int:
        """Make every waiting row due now (`mailbot outbox retry`, after an outage); with
        failed_too, rows given up on are queued again with a fresh count of attempts.
        Returns how many rows were made due."""
        now = self.clock()
        with self.sessions.begin() as session:
            waiting = session.scalars(
                update(OutboxRow)
                .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at > now)
                .values(next_attempt_at=now)
                .returning(OutboxRow.id)
            ).all()
            again: Sequence[int] = []
            if failed_too:
                again = session.scalars(
                    update(OutboxRow)
                    .where(OutboxRow.status == "failed")
                    .values(status="pending", attempts=0, next_attempt_at=now)
                    .returning(OutboxRow.id)
                ).all()
        log.info(
            "dispatch: retry now: %s waiting, %s failed queued again", len(waiting), len(again)
        )
        return len(waiting) + len(again)

    def _deliver(self, row_id: int, stats: DispatchStats) -> bool:
        """Try one row; False when the SMTP server could not be reached at all."""
        with self.sessions.begin() as session:
            # FOR UPDATE SKIP LOCKED (PostgreSQL): a row another instance is sending right
            # now is skipped, not sent twice. SQLite's BEGIN IMMEDIATE serialises instead.
            row = session.execute(
                select(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == "pending")
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if row is None:
                return True  # sent, or being sent, by another instance
            recipients = [r for r in row.recipients.split(",") if r]
            try:
                self.sender.send(row.mail_from, recipients, row.content)
            except SendTemporaryError as exc:
                row.attempts += 1
                row.last_error = str(exc)
                if row.attempts >= self.config.outbox.max_attempts:
                    self._give_up(session, row, f"gave up after {row.attempts} attempts: {exc}")
                    stats.failed += 1
                    return not isinstance(exc, SmtpUnavailableError)
                row.next_attempt_at = self.clock() + self.backoff(row.attempts)
                stats.retried += 1
                log.warning(
                    "dispatch: outbox=%s kind=%s attempt %s failed for now (%s); next try %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    exc,
                    row.next_attempt_at.isoformat(),
                )
                return not isinstance(exc, SmtpUnavailableError)
            except SendPermanentError as exc:
                row.attempts += 1
                self._give_up(session, row, str(exc))
                stats.failed += 1
                return True
            row.attempts += 1
            row.status = "sent"
            row.sent_at = self.clock()
            row.last_error = ""
            stats.sent += 1
            log.info("dispatch: outbox=%s kind=%s sent", row.id, row.kind)
            return True

    def _give_up(self, session: Session, row: OutboxRow, reason: str) -> None:
        row.status = "failed"
        row.last_error = reason
        log.error("dispatch: outbox=%s kind=%s failed for good: %s", row.id, row.kind, reason)
        if row.kind == MessageKind.NOTICE.value and row.key.startswith("failure:"):
            return  # a failure report that fails itself is only logged: no loop
        case = session.get(CaseRow, row.case_id) if row.case_id is not None else None
        self.outbox.notify(
            session,
            key=f"failure:{row.id}",
            template="staff_send_failure",
            to=self.config.staff.coordinator,
            now=self.clock(),
            case=case,
            reference=case.reference if case else None,
            what=row.kind,
            recipients=row.recipients,
            subject=row.subject,
            reason=reason,
        )
