"""Delivery of the outbox. Temporary SMTP failures are retried with exponential backoff;
permanent ones (and running out of attempts) mark the row failed and tell the coordinator.

At-least-once: a row is marked sent right after the server accepted it. If the process
dies between the two, the mail goes out again after a restart with the same Message-ID,
so mail clients show it once. That window is the server's 250 plus one database commit;
on SQLite the commit may first wait for intake's write lock (measured in RELIABILITY.md).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from mailbot.config import Config
from mailbot.domain.errors import SendPermanentError, SendTemporaryError, SmtpUnavailableError
from mailbot.domain.model import MessageKind
from mailbot.domain.ports import Clock, MailSender
from mailbot.persistence import outbox as outbox_queries
from mailbot.persistence.session import Session, Sessions
from mailbot.persistence.tables import CaseRow, OutboxRow
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

# How long a claimed row is left alone: if the process dies while sending, the row is
# due again after this (and goes out once more, with the same Message-ID).
LEASE = timedelta(minutes=10)


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Dispatcher:
    def __init__(
        self,
        config: Config,
        sessions: Sessions,
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
        with self.sender.kept_open():  # one SMTP connection per pass
            while True:
                with self.sessions() as session:
                    due = outbox_queries.due_ids(session, self.clock(), limit, after)
                for row_id in due:
                    if stop is not None and stop.is_set():
                        return stats
                    if not self._deliver(row_id, stats):
                        # The server is unreachable: the other rows wait for the next pass
                        # instead of each waiting out the SMTP timeout.
                        return stats
                if len(due) < limit:
                    return stats
                after = due[-1]

    def retry_now(self, *, failed_too: bool = False) -> int:
        """Make every waiting row due now (`mailbot outbox retry`, after an outage); with
        failed_too, rows given up on are queued again with a fresh count of attempts.
        Returns how many rows were made due."""
        with self.sessions.begin() as session:
            waiting, again = outbox_queries.make_due(session, self.clock(), failed_too)
        log.info("dispatch: retry now: %s waiting, %s failed queued again", waiting, again)
        return waiting + again

    def _deliver(self, row_id: int, stats: DispatchStats) -> bool:
        """Try one row; False when the SMTP server could not be reached at all.

        Claim (a short transaction leases the row), send, record (a short transaction right
        after the server's 250): no database lock is held while the server talks, so
        intake never waits for SMTP. The window in which a crash sends a mail twice is
        between the 250 and that commit: one round trip to the database."""
        with self.sessions.begin() as session:
            row = outbox_queries.claim(session, row_id, self.clock(), LEASE)
            if row is None:
                return True  # sent, or being sent, by another instance or pass
            mail_from, content, kind = row.mail_from, row.content, row.kind
            recipients = [r for r in row.recipients.split(",") if r]
        try:
            self.sender.send(mail_from, recipients, content)
        except SendTemporaryError as exc:
            self._record(row_id, stats, exc)
            return not isinstance(exc, SmtpUnavailableError)
        except SendPermanentError as exc:
            self._record(row_id, stats, exc)
            return True
        self._record(row_id, stats, None)
        log.info("dispatch: outbox=%s kind=%s sent", row_id, kind)
        return True

    def _record(self, row_id: int, stats: DispatchStats, error: Exception | None) -> None:
        with self.sessions.begin() as session:
            row = outbox_queries.get(session, row_id)
            row.attempts += 1
            if error is None:
                row.status = outbox_queries.SENT
                row.sent_at = self.clock()
                row.last_error = ""
                stats.sent += 1
                return
            row.last_error = str(error)
            permanent = isinstance(error, SendPermanentError)
            if permanent or row.attempts >= self.config.outbox.max_attempts:
                reason = (
                    str(error) if permanent else f"gave up after {row.attempts} attempts: {error}"
                )
                self._give_up(session, row, reason)
                stats.failed += 1
                return
            row.next_attempt_at = self.clock() + self.backoff(row.attempts)
            stats.retried += 1
            log.warning(
                "dispatch: outbox=%s kind=%s attempt %s failed for now (%s); next try %s",
                row.id,
                row.kind,
                row.attempts,
                error,
                row.next_attempt_at.isoformat(),
            )

    def _give_up(self, session: Session, row: OutboxRow, reason: str) -> None:
        row.status = outbox_queries.FAILED
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
