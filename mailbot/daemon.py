"""Composition root: config -> engine -> adapters -> services -> scheduler; signals."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import SQLAlchemyError

from mailbot.config import Config
from mailbot.domain.errors import MailbotError, MailboxLoginError
from mailbot.domain.model import Address
from mailbot.domain.ports import Clock, system_clock
from mailbot.inbound.imap import ImapMailbox, ImapSettings
from mailbot.outbound.render import TemplateRenderer
from mailbot.outbound.smtp import SmtpSender, SmtpSettings
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.services.dispatch import Dispatcher, DispatchStats
from mailbot.services.intake import IntakeService, PassStats
from mailbot.services.outbox import Outbox
from mailbot.services.reminders import ReminderPlan, ReminderService

log = logging.getLogger(__name__)

DISPATCH_INTERVAL = 15.0  # seconds between retries of the outbox; new mail is sent at once


def imap_settings(config: Config) -> ImapSettings:
    m = config.mailbox
    return ImapSettings(
        host=m.host,
        port=m.port,
        security=m.security,
        username=m.username,
        password=m.password.reveal(),
        timeout=m.timeout,
        ca_file=m.ca_file,
    )


def smtp_settings(config: Config) -> SmtpSettings:
    s = config.smtp
    return SmtpSettings(
        host=s.host,
        port=s.port,
        security=s.security,
        username=s.username,
        password=s.password.reveal() if s.password is not None else None,
        timeout=s.timeout,
        ca_file=s.ca_file,
    )


@dataclass
class PassReport:
    intake: PassStats | None
    reminders: ReminderPlan
    dispatch: DispatchStats


class App:
    """Everything wired together once; the CLI and the daemon call into it."""

    def __init__(self, config: Config, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        self.engine = make_engine(config.database.url)
        self.sessions = make_sessionmaker(self.engine)
        self.renderer = TemplateRenderer(config.cases.timezone, config.templates.folder)
        self.outbox = Outbox(
            self.renderer,
            Address(config.smtp.from_address, config.smtp.from_name),
            config.message_id_domain,
        )
        self.sender = SmtpSender(smtp_settings(config))
        self.intake = IntakeService(config, self.sessions, self.outbox, clock)
        self.dispatcher = Dispatcher(config, self.sessions, self.sender, self.outbox, clock)
        self.reminders = ReminderService(config, self.sessions, self.outbox, clock)
        self.stop = threading.Event()
        self._dispatch_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def mailbox(self) -> ImapMailbox:
        return ImapMailbox(imap_settings(self.config))

    def upgrade_schema(self) -> None:
        upgrade(self.engine)

    def intake_pass(self) -> PassStats:
        with self.mailbox() as mailbox:
            stats = self.intake.run_pass(mailbox, self.stop)
        if stats.seen:
            log.info("intake: pass done: %s messages %s", stats.seen, dict(stats.outcomes))
        return stats

    def dispatch_pass(self) -> DispatchStats:
        # One delivery pass at a time in this process: the intake job triggers one right
        # after new cases, the interval job retries; they must not send a row twice.
        with self._dispatch_lock:
            return self.dispatcher.run_pass(self.stop)

    def run_once(self) -> PassReport:
        """Each job one pass, then return (`mailbot run --once`)."""
        intake = self.intake_pass()
        reminders = self.reminders.run_pass()
        return PassReport(intake=intake, reminders=reminders, dispatch=self.dispatch_pass())

    # -- the daemon -------------------------------------------------------------------

    def _intake_job(self) -> None:
        try:
            stats = self.intake_pass()
        except MailboxLoginError as exc:
            log.error("intake: %s", exc)
            return
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("intake: pass failed, will retry: %s", exc)
            return
        if stats.seen:
            self._dispatch_job()

    def _reminders_job(self) -> None:
        try:
            plan = self.reminders.run_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("reminders: pass failed, will retry: %s", exc)
            return
        if plan.mails:
            self._dispatch_job()

    def _dispatch_job(self) -> None:
        try:
            self.dispatch_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("dispatch: pass failed, will retry: %s", exc)

    def run_forever(self) -> None:
        scheduler = BlockingScheduler(timezone=self.config.cases.timezone)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        scheduler.add_job(
            self._intake_job,
            "interval",
            seconds=self.config.mailbox.poll_interval,
            id="intake",
            next_run_time=datetime.now(UTC),
            **common,
        )
        scheduler.add_job(
            self._dispatch_job,
            "interval",
            seconds=DISPATCH_INTERVAL,
            id="dispatch",
            next_run_time=datetime.now(UTC),
            **common,
        )

        send_at = self.config.reminders.send_at
        # At send_at on every day, hourly as a safety net (a pass is idempotent), and once
        # at start: the catch-up after downtime.
        scheduler.add_job(
            self._reminders_job,
            "cron",
            hour=send_at.hour,
            minute=send_at.minute,
            id="reminders",
            **common,
        )
        scheduler.add_job(
            self._reminders_job,
            "interval",
            hours=1,
            id="reminders-hourly",
            next_run_time=datetime.now(UTC),
            **common,
        )

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon: %s received, finishing the message in hand", signal.strsignal(signum))
            self.stop.set()
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        log.info(
            "daemon: watching %s on %s every %ss",
            self.config.mailbox.folder,
            self.config.mailbox.host,
            self.config.mailbox.poll_interval,
        )
        scheduler.start()
        # shutdown(wait=False) returned at once; the job threads check `stop` between
        # messages, so waiting here for the message in hand takes at most one message.
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join(timeout=30)
        log.info("daemon: stopped")
