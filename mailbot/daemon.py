"""Composition root: config -> engine -> adapters -> services -> scheduler; signals.

`mailbot run`: one intake loop (woken at once by IMAP IDLE watchers where the server has
IDLE, else every poll_interval), APScheduler jobs for delivery, reminders and the
leadership check, and nothing at all while another instance is the active one.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from mailbot.config import Config
from mailbot.domain.errors import MailbotError, MailboxLoginError, MailboxUnavailableError
from mailbot.domain.model import Address
from mailbot.domain.ports import Clock, system_clock
from mailbot.inbound.imap import ImapMailbox, ImapSettings
from mailbot.metrics import Metrics
from mailbot.oauth import provider_from_config, secret_expiry_warning
from mailbot.outbound.render import TemplateRenderer
from mailbot.outbound.smtp import SmtpSender, SmtpSettings
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.persistence.health import StatusFacts, read_status
from mailbot.persistence.lock import Leadership
from mailbot.persistence.tables import HeartbeatRow
from mailbot.services.dispatch import Dispatcher, DispatchStats
from mailbot.services.intake import IntakeService, PassStats
from mailbot.services.outbox import Outbox
from mailbot.services.reminders import ReminderPlan, ReminderService
from mailbot.services.retention import RetentionReport, RetentionService
from mailbot.systemd import Health, Notifier, start_watchdog

log = logging.getLogger(__name__)

DISPATCH_INTERVAL = 15.0  # seconds between retries of the outbox; new mail is sent at once
IDLE_RENEW = 25 * 60.0  # re-issue IDLE well before the 30-minute server timeout (RFC 2177)
IDLE_SLICE = 2.0  # seconds per IDLE wait, so a stop request is noticed quickly
BACKOFF_MAX = 60.0  # the longest wait between two reconnects
REMINDERS_INTERVAL = 3600.0  # the hourly reminders pass
# systemd's watchdog: a loop is unhealthy (the pings stop, systemd restarts mailbot) when it
# has not completed a pass for three of its intervals plus this margin, which leaves room for
# a long pass (a backlog of thousands of mails, slow servers) before it counts as hung.
HEALTH_MARGIN = 600.0


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
        token_provider=provider_from_config(m),
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
        token_provider=provider_from_config(s),
    )


@dataclass
class PassReport:
    intake: PassStats | None
    reminders: ReminderPlan
    dispatch: DispatchStats


class Backoff:
    """Capped exponential backoff with jitter; logs a lost connection once, not on every
    retry, and says when it is back."""

    def __init__(self, what: str, maximum: float = BACKOFF_MAX) -> None:
        self.what = what
        self.maximum = maximum
        self.failures = 0

    def failed(self, error: Exception) -> float:
        self.failures += 1
        if self.failures == 1:
            log.warning("%s: %s; retrying with backoff", self.what, error)
        else:
            log.debug("%s: still failing (%s attempts): %s", self.what, self.failures, error)
        delay = min(self.maximum, 2.0 ** min(self.failures, 10))
        return float(delay * random.uniform(0.5, 1.0))  # jitter: instances do not sync up

    def succeeded(self) -> None:
        if self.failures:
            log.info("%s: back after %s failed attempts", self.what, self.failures)
        self.failures = 0


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
        self.retention = RetentionService(config, self.sessions, clock)
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
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._dispatch_lock = threading.Lock()
        # systemd: READY=1, STATUS=, STOPPING=1 and the watchdog (no-ops outside systemd).
        self.notifier = Notifier()
        self.health = Health()
        self._handled = 0  # messages handled since start, for the status line

    def close(self) -> None:
        self.metrics.close()
        self.leadership.release()
        self.engine.dispose()

    def mailbox(self) -> ImapMailbox:
        return ImapMailbox(imap_settings(self.config))

    def upgrade_schema(self) -> None:
        upgrade(self.engine)

    def beat(self, loop: str, detail: str = "") -> None:
        """Record that a loop just succeeded (for `mailbot status` and systemd's watchdog)."""
        self.health.beat(loop)
        with self.sessions.begin() as session:
            row = session.get(HeartbeatRow, loop)
            if row is None:
                session.add(
                    HeartbeatRow(loop=loop, at=self.clock(), detail=detail, instance=self.instance)
                )
            else:
                row.at, row.detail, row.instance = self.clock(), detail, self.instance
        self.metrics.last_success.labels(loop).set(self.clock().timestamp())

    def warn_login_failed(self, error: Exception) -> None:
        """Tell the coordinator (and ops) by mail, at most once a day: without a login no
        complaint is read and no citizen gets a receipt."""
        now = self.clock()
        staff = self.config.staff
        try:
            with self.sessions.begin() as session:
                for address in dict.fromkeys(a for a in (staff.coordinator, staff.ops) if a):
                    day = now.astimezone(self.config.cases.timezone).date().isoformat()
                    self.outbox.notify(
                        session,
                        key=f"login-failed:{address}:{day}",
                        template="staff_login_failed",
                        to=address,
                        now=now,
                        since=now,
                        mailbox=f"{self.config.mailbox.username} op {self.config.mailbox.host}",
                        error=str(error),
                        config=str(self.config.path),
                    )
        except SQLAlchemyError as exc:
            log.warning("intake: could not queue the login warning: %s", exc)
            return
        self._dispatch_job()

    def warn_expiring_secrets(self) -> None:
        """Mail the coordinator and ops when an Azure client secret is about to expire:
        30, 14, 7, 3 and 1 days before, on the day, and daily once it has expired."""
        now = self.clock()
        today = now.astimezone(self.config.cases.timezone).date()
        staff = self.config.staff
        warned: set[date] = set()
        for section in (self.config.mailbox, self.config.smtp):
            expires = getattr(section.oauth, "secret_expires", None)
            if expires is None or expires in warned:
                continue
            warned.add(expires)
            days = (expires - today).days
            warning = secret_expiry_warning(expires, today)
            if warning is None or (days > 0 and days not in (30, 14, 7, 3, 1)):
                continue
            log.warning("oauth: %s", warning)
            with self.sessions.begin() as session:
                for address in dict.fromkeys(a for a in (staff.coordinator, staff.ops) if a):
                    self.outbox.notify(
                        session,
                        key=f"secret-expiry:{address}:{expires.isoformat()}:{today.isoformat()}",
                        template="staff_secret_expiry",
                        to=address,
                        now=now,
                        expires=expires,
                        days=days,
                        warning=warning,
                        config=str(self.config.path),
                    )

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

    def reminders_pass(self) -> ReminderPlan:
        self.warn_expiring_secrets()
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

    def _retention_job(self) -> None:
        if not self.active:
            return
        try:
            self.retention_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("retention: pass failed, will retry tomorrow: %s", exc)

    def run_once(self) -> PassReport:
        """Each job one pass, then return (`mailbot run --once`)."""
        intake = self.intake_pass()
        reminders = self.reminders_pass()
        return PassReport(intake=intake, reminders=reminders, dispatch=self.dispatch_pass())

    # -- the daemon -------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.leadership.held and not self.stop.is_set()

    def _leader_job(self) -> None:
        was = self.leadership.held
        now = self.leadership.acquire()
        self.health.beat("leadership")
        self.metrics.active.set(1 if now else 0)
        if now and not was:
            log.info("daemon: this instance (%s) is now the active one", self.instance)
            self.notifier.status(f"active: watching {self.config.mailbox.folder}")
            self._wake.set()
            self._reminders_job()  # the catch-up: the previous active one may have died
        elif was and not now:
            log.error("daemon: lost the leadership lock; standing by")
            self.notifier.status("standby: lost the leadership lock")
        elif not now and not was:
            log.debug("daemon: another instance is active; standing by")

    def _intake_loop(self) -> None:
        backoff = Backoff("intake: IMAP")
        while not self.stop.is_set():
            wait = self.config.mailbox.poll_interval
            if self.active:
                try:
                    stats = self.intake_pass()
                    backoff.succeeded()
                    self._intake_status(stats)
                    if stats.seen:
                        self._dispatch_job()
                except MailboxLoginError as exc:
                    log.error("intake: %s", exc)
                    # The loop is alive and doing what it should (warn, retry): a restart
                    # would not bring the login back, so the watchdog keeps being fed.
                    self.health.failed("intake", str(exc))
                    self.health.beat("intake")
                    self.warn_login_failed(exc)
                    wait = max(wait, 300.0)
                except MailboxUnavailableError as exc:
                    self.health.failed("intake", str(exc))
                    self.health.beat("intake")  # an outage, not a hang (see above)
                    wait = backoff.failed(exc)
                except (MailbotError, SQLAlchemyError) as exc:
                    self.health.failed("intake", str(exc))
                    wait = backoff.failed(exc)
            else:
                self.health.beat("intake")  # standing by is what this loop should do now
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _watch_loop(self, folder: str) -> None:
        """Hold an IMAP connection in IDLE on `folder` and wake the intake loop when the
        server reports a change. Returns when the server has no IDLE (polling remains)."""
        backoff = Backoff(f"idle {folder}: IMAP")
        while not self.stop.is_set():
            if not self.active:
                self.stop.wait(self.config.daemon.standby_interval)
                continue
            try:
                with self.mailbox() as mailbox:
                    if not mailbox.has_idle():
                        log.info(
                            "idle: the server has no IDLE; polling every %ss",
                            self.config.mailbox.poll_interval,
                        )
                        return
                    mailbox.watch(folder)
                    backoff.succeeded()
                    log.debug("idle: watching %s", folder)
                    idle_for = 0.0
                    while self.active:
                        if mailbox.wait_for_change(IDLE_SLICE):
                            self._wake.set()
                        idle_for += IDLE_SLICE
                        if idle_for >= IDLE_RENEW:
                            mailbox.renew_idle()
                            idle_for = 0.0
            except MailboxLoginError as exc:
                log.error("idle %s: %s", folder, exc)
                self.stop.wait(300.0)
            except MailbotError as exc:
                self.stop.wait(backoff.failed(exc))

    def _intake_status(self, stats: PassStats) -> None:
        self._handled += stats.seen
        at = self.clock().astimezone(self.config.cases.timezone)
        self.notifier.status(
            f"active: mailbox checked {at:%H:%M:%S %Z}, {stats.seen} new, "
            f"{self._handled} handled since start"
        )

    def _reminders_job(self) -> None:
        if not self.active:
            self.health.beat("reminders")
            return
        try:
            plan = self.reminders_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("reminders: pass failed, will retry: %s", exc)
            self.health.failed("reminders", str(exc))
            return
        if plan.mails:
            self._dispatch_job()

    def _dispatch_job(self) -> None:
        if not self.active:
            self.health.beat("dispatch")
            return
        try:
            self.dispatch_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("dispatch: pass failed, will retry: %s", exc)
            self.health.failed("dispatch", str(exc))

    def run_forever(self) -> None:
        scheduler = BackgroundScheduler(timezone=self.config.cases.timezone)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        now = datetime.now(UTC)
        scheduler.add_job(
            self._leader_job,
            "interval",
            seconds=self.config.daemon.standby_interval,
            id="leadership",
            next_run_time=now,
            **common,
        )
        scheduler.add_job(
            self._dispatch_job,
            "interval",
            seconds=DISPATCH_INTERVAL,
            id="dispatch",
            next_run_time=now,
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
        # Personal data past the retention period: every night, when nobody works.
        scheduler.add_job(self._retention_job, "cron", hour=3, minute=15, id="retention", **common)
        scheduler.add_job(
            self._reminders_job,
            "interval",
            seconds=REMINDERS_INTERVAL,
            id="reminders-hourly",
            **common,
        )

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon: %s received, finishing the message in hand", signal.strsignal(signum))
            self.notifier.stopping("stopping: finishing the message in hand")
            self.stop.set()
            self._wake.set()

        if self.config.daemon.metrics_port:
            self.metrics.serve(self.config.daemon.metrics_port)
            log.info(
                "daemon: metrics on http://127.0.0.1:%s/metrics", self.config.daemon.metrics_port
            )
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        daemon = self.config.daemon
        poll = self.config.mailbox.poll_interval
        self.health.register("leadership", 3 * daemon.standby_interval + HEALTH_MARGIN)
        self.health.register("intake", 3 * poll + HEALTH_MARGIN)
        self.health.register("dispatch", 3 * DISPATCH_INTERVAL + HEALTH_MARGIN)
        self.health.register("reminders", 3 * REMINDERS_INTERVAL + HEALTH_MARGIN)
        # Started: config read, schema current, signals handled. READY=1 comes before the
        # first leadership check, whose reminders catch-up sends mail and may take longer
        # than TimeoutStartSec=; that check then says "active" or "standby" in STATUS=.
        how = "IDLE" if daemon.idle else f"every {poll:g}s"
        self.notifier.ready(
            f"started; watching {self.config.mailbox.folder} on {self.config.mailbox.host} ({how})"
        )
        start_watchdog(self.notifier, self.health, self.stop)
        self._leader_job()  # when active, this also runs the reminders catch-up
        if not self.leadership.held:
            log.info("daemon: another instance is active; standing by")
            self.notifier.status("standby: another instance is active")
        scheduler.start()
        threads = [threading.Thread(target=self._intake_loop, name="intake")]
        folders = [self.config.mailbox.folder]
        if self.config.mailbox.sent_folder:
            folders.append(self.config.mailbox.sent_folder)
        if self.config.daemon.idle:
            threads += [
                threading.Thread(target=self._watch_loop, args=(f,), name=f"idle:{f}", daemon=True)
                for f in folders
            ]
        for thread in threads:
            thread.start()
        log.info(
            "daemon: watching %s on %s (%s)",
            self.config.mailbox.folder,
            self.config.mailbox.host,
            "IDLE" if self.config.daemon.idle else f"every {self.config.mailbox.poll_interval}s",
        )
        while not self.stop.is_set():
            self.stop.wait(1.0)
        # The intake loop checks `stop` between messages: joining it waits for the message
        # in hand at most. IDLE watchers are daemon threads that end with the process.
        threads[0].join(timeout=60)
        scheduler.shutdown(wait=True)
        self.leadership.release()
        log.info("daemon: stopped")

    def status(self) -> StatusFacts:
        """What `mailbot status` reports, from the database (works beside the daemon)."""
        with self.sessions() as session:
            return read_status(session)
