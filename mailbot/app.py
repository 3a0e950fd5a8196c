"""The composition root: config -> engine -> adapters (IMAP, SMTP, token providers) ->
services, each built once. The CLI, the demo and the daemon (:mod:`mailbot.daemon`) call
into :class:`App`: one pass of intake, delivery, reminders or retention, and the status."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from mailbot.auth.factory import provider_from_config
from mailbot.auth.tokens import TokenProvider
from mailbot.config import Config
from mailbot.daemon import Daemon, wait_for_database
from mailbot.domain.errors import MailbotError
from mailbot.domain.model import Address
from mailbot.domain.ports import Clock, system_clock
from mailbot.inbound.imap import ImapMailbox, ImapSettings
from mailbot.inbound.parse.ahead import ParseAhead
from mailbot.outbound.render import TemplateRenderer
from mailbot.outbound.smtp import SmtpSender, SmtpSettings
from mailbot.persistence.checkpoint import WalCheckpointer
from mailbot.persistence.db import make_engine, make_sessionmaker, unreachable_reason, upgrade
from mailbot.persistence.lock import Leadership
from mailbot.persistence.status import StatusFacts, read_status, record_heartbeat
from mailbot.runtime.metrics import Metrics
from mailbot.runtime.systemd import Health, Notifier
from mailbot.services.alerts import AlertService
from mailbot.services.backlog import BacklogCount, BacklogImport
from mailbot.services.dispatch import Dispatcher, DispatchStats
from mailbot.services.intake import IntakeService, PassStats
from mailbot.services.outbox import Outbox
from mailbot.services.reminders import ReminderPlan, ReminderService
from mailbot.services.retention import RetentionReport, RetentionService
from mailbot.services.sentfolder import SentFolder, SentRescan

__all__ = ["App", "PassReport", "imap_settings", "smtp_settings"]

log = logging.getLogger(__name__)


def imap_settings(config: Config, tokens: TokenProvider | None) -> ImapSettings:
    m = config.mailbox
    return ImapSettings(
        host=m.host,
        port=m.port,
        security=m.security,
        username=m.username,
        password=m.password.reveal(),
        timeout=m.timeout,
        ca_file=m.ca_file,
        token_provider=tokens,
        max_size=config.intake.max_size_mb * 1024 * 1024,
    )


def smtp_settings(config: Config, tokens: TokenProvider | None) -> SmtpSettings:
    s = config.smtp
    return SmtpSettings(
        host=s.host,
        port=s.port,
        security=s.security,
        username=s.username,
        password=s.password.reveal() if s.password is not None else None,
        timeout=s.timeout,
        ca_file=s.ca_file,
        token_provider=tokens,
    )


@dataclass
class PassReport:
    intake: PassStats | None
    reminders: ReminderPlan
    dispatch: DispatchStats


class App:
    """Everything wired together once; the CLI, the demo and the daemon call into it."""

    def __init__(self, config: Config, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        self.engine = make_engine(config.database.url)
        self.sessions = make_sessionmaker(self.engine)
        # SQLite: the log is copied into the database file beside the work, not in commits.
        self.checkpointer = WalCheckpointer.attach(self.engine, self.sessions)
        # One provider per section for the app's lifetime: its token outlives one pass.
        self.imap = imap_settings(config, provider_from_config(config.mailbox))
        self.smtp = smtp_settings(config, provider_from_config(config.smtp))
        self.sender = SmtpSender(self.smtp)
        self.renderer = TemplateRenderer(config.cases.timezone, config.templates.folder)
        self.outbox = Outbox(
            self.renderer,
            Address(config.smtp.from_address, config.smtp.from_name),
            config.message_id_domain,
        )
        self.sent = SentFolder(config.mailbox)
        # A backlog's mails are parsed on the second core while this one stores them.
        self.ahead = ParseAhead(workers=1 if (os.cpu_count() or 1) > 1 else 0)
        self.intake = IntakeService(
            config,
            self.sessions,
            self.outbox,
            clock,
            self.sent,
            smtputf8=self.sender.offers_smtputf8,
            ahead=self.ahead,
        )
        self.dispatcher = Dispatcher(config, self.sessions, self.sender, self.outbox, clock)
        self.reminders = ReminderService(config, self.sessions, self.outbox, clock)
        self.reminders.sent = self.sent  # the how-to names the folder intake found
        self.retention = RetentionService(config, self.sessions, clock)
        self.alerts = AlertService(config, self.sessions, self.outbox, clock)
        self.leadership = Leadership(self.engine)
        self.metrics = Metrics()
        self.metrics.gauge_from(
            "mailbot_outbox_pending", "Mails waiting to be sent", lambda: self.status().pending
        )
        self.metrics.gauge_from(
            "mailbot_open_cases",
            "Cases not yet answered or closed",
            lambda: self.status().open_cases,
        )
        # systemd's watchdog looks at this (see mailbot.runtime.systemd); no-op elsewhere.
        self.health = Health()
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.stop = threading.Event()
        self._dispatch_lock = threading.Lock()

    def close(self) -> None:
        self.ahead.close()
        self.metrics.close()
        self.leadership.release()
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.engine.dispose()

    def mailbox(self) -> ImapMailbox:
        return ImapMailbox(self.imap)

    def upgrade_schema(self) -> None:
        upgrade(self.engine)

    def wait_for_database(self) -> bool:
        """`mailbot run` at start: the schema upgraded, retrying with backoff while the
        database is unreachable; False when stopped meanwhile."""
        url = self.config.database.url
        return wait_for_database(
            self.upgrade_schema, lambda exc: unreachable_reason(url, exc), self.stop, Notifier()
        )

    @property
    def active(self) -> bool:
        """This instance holds the leadership lock and is not stopping."""
        return self.leadership.held and not self.stop.is_set()

    def beat(self, loop: str, detail: str = "") -> None:
        """Record that a loop just succeeded (for `mailbot status` and systemd's watchdog)."""
        self.health.beat(loop)
        with self.sessions.begin() as session:
            record_heartbeat(session, loop, at=self.clock(), detail=detail, instance=self.instance)
        self.metrics.last_success.labels(loop).set(self.clock().timestamp())

    def status(self) -> StatusFacts:
        """What `mailbot status` reports, from the database (works beside the daemon)."""
        with self.sessions() as session:
            return read_status(session)

    def warn_login_failed(self, error: Exception) -> None:
        """Queue the login-failure warning and, when this instance is the active one, send
        it at once."""
        if self.alerts.login_failed(error):
            self.dispatch_job()

    def intake_pass(self) -> PassStats:
        with self.mailbox() as mailbox:
            stats = self.intake.run_pass(mailbox, self.stop)
        if stats.seen:
            log.info("intake: pass done: %s messages %s", stats.seen, dict(stats.outcomes))
        for outcome, count in stats.outcomes.items():
            self.metrics.mails.labels(outcome).inc(count)
        self.beat("intake", f"{stats.seen} messages")
        return stats

    def dispatch_pass(self) -> DispatchStats:
        # One delivery pass at a time in this process: the intake loop triggers one right
        # after new cases, the interval job retries; they must not send a row twice.
        with self._dispatch_lock:
            stats = self.dispatcher.run_pass(self.stop)
        self.metrics.sent.inc(stats.sent)
        if stats.retried:
            self.metrics.send_failures.labels("temporary").inc(stats.retried)
        if stats.failed:
            self.metrics.send_failures.labels("permanent").inc(stats.failed)
        self.beat("dispatch", f"sent {stats.sent}, retry {stats.retried}, failed {stats.failed}")
        return stats

    def dispatch_job(self) -> None:
        """A delivery pass when this instance is the active one; a failure is logged and
        left to the next pass (the daemon's schedule, and right after new mail)."""
        if not self.active:
            self.health.beat("dispatch")
            return
        try:
            self.dispatch_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("dispatch: pass failed, will retry: %s", exc)
            self.health.failed("dispatch", str(exc))

    def reminders_pass(self) -> ReminderPlan:
        self.alerts.expiring_secrets()
        plan = self.reminders.run_pass()
        self.beat("reminders", f"{len(plan.mails)} mails for {plan.day.isoformat()}")
        return plan

    def retention_pass(self, dry_run: bool = False) -> RetentionReport:
        """Remove personal data past the retention period: first the originals in the
        mailbox (while we still know their Message-IDs), then the database."""
        planned = self.retention.run_pass(dry_run=True)
        if dry_run:
            return planned
        if planned.originals:
            with self.mailbox() as mailbox:
                for folder, message_ids in planned.originals.items():
                    removed = mailbox.delete_by_message_id(folder, message_ids)
                    log.info("retention: %s originals removed from %s", removed, folder)
        report = self.retention.run_pass()
        self.beat("retention", f"{len(report.cases)} cases, {report.items} mails")
        return report

    def backlog_import(self, before: datetime | None, dry_run: bool = False) -> PassStats:
        """`mailbot backlog import`: record the mail already in the folder, mail nobody."""
        backlog = BacklogImport(self.config, self.sessions, self.outbox, self.clock)
        with self.mailbox() as mailbox:
            stats = backlog.run(mailbox, before, dry_run)
        if not dry_run:
            self.dispatch_pass()  # the one summary for the coordinator
        return stats

    def sent_rescan(self, since: datetime) -> SentRescan:
        """`mailbot sent rescan --since DATE`: the next pass reads the sent folder from then."""
        with self.mailbox() as mailbox:
            return self.sent.rescan(mailbox, self.sessions, since)

    def backlog_waiting(self) -> BacklogCount:
        """How many old mails wait, and whether a first start must refuse (go-live)."""
        backlog = BacklogImport(self.config, self.sessions, self.outbox, self.clock)
        if not backlog.first_start():  # a restart is never refused: no need to log in
            return BacklogCount(0, self.config.intake.backlog_limit, first_start=False)
        with self.mailbox() as mailbox:
            return backlog.waiting(mailbox)

    def run_once(self) -> PassReport:
        """Each job one pass, then return (`mailbot run --once`)."""
        intake = self.intake_pass()
        reminders = self.reminders_pass()
        return PassReport(intake=intake, reminders=reminders, dispatch=self.dispatch_pass())

    def run_forever(self) -> None:
        """`mailbot run`: the daemon's loops and schedule, until SIGTERM or SIGINT."""
        Daemon(self).run_forever()
