"""Go-live on a mailbox that already holds mail: `mailbot backlog import`.

Every mail in the complaints folder from before the go-live moment is recorded the way
intake records mail (a case in state `imported`, or joined to its case by the usual
threading rules; quarantine for what cannot be read) and moved to the processed folder,
without a receipt, notice or command: nobody hears of last year's mail. One summary mail
then tells the coordinator how many were imported and how to list them. The daemon's
guard (`backlog_waiting`) refuses a first start on such a mailbox without this step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.config import Config
from mailbot.domain.ports import Clock, Mailbox
from mailbot.persistence.mailbox import any_mail_handled
from mailbot.persistence.session import Sessions
from mailbot.services.intake import Backlog, IntakeService, PassStats
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

OLD_AFTER = timedelta(days=3)  # mail older than this at the first start is history


@dataclass(frozen=True)
class BacklogCount:
    old: int  # mails older than OLD_AFTER in the complaints folder
    limit: int
    first_start: bool  # this database never handled a mail

    @property
    def blocks_start(self) -> bool:
        return self.first_start and self.old > self.limit


class BacklogImport:
    def __init__(self, config: Config, sessions: Sessions, outbox: Outbox, clock: Clock) -> None:
        self.config = config
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock

    def run(self, mailbox: Mailbox, before: datetime | None, dry_run: bool) -> PassStats:
        moment = before or self.clock()
        intake = IntakeService(
            self.config, self.sessions, self.outbox, self.clock, Backlog(moment, dry_run)
        )
        stats = intake.run_pass(mailbox)
        log.info(
            "backlog: %s mails before %s %s",
            stats.seen,
            moment.isoformat(timespec="minutes"),
            "would be imported (dry run)" if dry_run else "imported",
        )
        if stats.seen and not dry_run:
            with self.sessions.begin() as session:
                self.outbox.notify(
                    session,
                    key=f"backlog:{moment.isoformat()}",
                    template="staff_backlog",
                    to=self.config.staff.coordinator,
                    now=self.clock(),
                    before=moment,
                    seen=stats.seen,
                    outcomes=dict(stats.outcomes),
                    folder=self.config.mailbox.folder,
                )
        return stats

    def waiting(self, mailbox: Mailbox) -> BacklogCount:
        """How much old mail waits, and whether that should stop a first start."""
        cutoff = self.clock() - OLD_AFTER
        old = len(mailbox.uids_before(self.config.mailbox.folder, cutoff))
        with self.sessions() as session:
            first = not any_mail_handled(session)
        return BacklogCount(old, self.config.intake.backlog_limit, first)
