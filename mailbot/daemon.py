"""`mailbot run`: scheduling, threads, signals and IMAP IDLE around the app's passes.

One intake loop (woken at once by IMAP IDLE watchers where the server has IDLE, else every
poll_interval), APScheduler jobs for delivery, reminders, retention and the leadership
check, and nothing at all while another instance is the active one. What a pass does is
:mod:`mailbot.app`'s business; this module only decides when, and keeps going.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from mailbot.config import Config
from mailbot.domain.errors import MailbotError, MailboxLoginError, MailboxUnavailableError
from mailbot.domain.ports import Clock
from mailbot.inbound.imap import ImapMailbox
from mailbot.persistence.lock import Leadership
from mailbot.runtime.metrics import Metrics
from mailbot.runtime.systemd import Health, Notifier, start_watchdog
from mailbot.services.intake import PassStats
from mailbot.services.reminders import ReminderPlan
from mailbot.services.retention import RetentionReport
from mailbot.services.sentfolder import SentFolder

__all__ = ["Backoff", "Daemon", "Operations", "wait_for_database"]

log = logging.getLogger(__name__)

DISPATCH_INTERVAL = 15.0  # seconds between retries of the outbox; new mail is sent at once
IDLE_RENEW = 25 * 60.0  # re-issue IDLE well before the 30-minute server timeout (RFC 2177)
IDLE_SLICE = 2.0  # seconds per IDLE wait, so a stop request is noticed quickly
BACKOFF_MAX = 60.0  # the longest wait between two reconnects
DATABASE_BACKOFF_MAX = 30.0  # the longest wait between two tries of the database at start
REMINDERS_INTERVAL = 3600.0  # the hourly reminders pass
# systemd's watchdog: a loop is unhealthy (the pings stop, systemd restarts mailbot) when it
# has not completed a pass for three of its intervals plus this margin, which leaves room for
# a long pass (a backlog of thousands of mails, slow servers) before it counts as hung.
HEALTH_MARGIN = 600.0


class Operations(Protocol):
    """What the daemon schedules; :class:`mailbot.app.App` provides it."""

    config: Config
    clock: Clock
    instance: str
    stop: threading.Event
    leadership: Leadership
    health: Health
    metrics: Metrics
    sent: SentFolder

    @property
    def active(self) -> bool: ...

    def mailbox(self) -> ImapMailbox: ...

    def intake_pass(self) -> PassStats: ...

    def dispatch_job(self) -> None: ...

    def reminders_pass(self) -> ReminderPlan: ...

    def retention_pass(self, dry_run: bool = False) -> RetentionReport: ...

    def warn_login_failed(self, error: Exception) -> None: ...


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


def wait_for_database(
    upgrade: Callable[[], None],
    describe: Callable[[Exception], str],
    stop: threading.Event,
    notifier: Notifier,
) -> bool:
    """`mailbot run` at start: upgrade the schema, retrying with backoff while the database
    is unreachable (PostgreSQL not up yet, the SQLite folder not mounted yet) instead of
    exiting. One warning line when it first fails, one info line when it is back. False
    when told to stop meanwhile. (Under systemd, TimeoutStartSec= still bounds the wait:
    systemd then restarts mailbot, which waits again.)"""
    backoff = Backoff("database", maximum=DATABASE_BACKOFF_MAX)
    while not stop.is_set():
        try:
            upgrade()
        except OperationalError as exc:
            reason = describe(exc)
            notifier.status(f"starting: waiting for the database ({reason})")
            stop.wait(backoff.failed(MailbotError(f"{reason}; mailbot waits for it")))
            continue
        backoff.succeeded()
        return True
    return False


class Daemon:
    """The loops and jobs of `mailbot run` around one app."""

    def __init__(self, app: Operations) -> None:
        self.app = app
        self.config = app.config
        # systemd: READY=1, STATUS=, STOPPING=1 (no-ops outside systemd).
        self.notifier = Notifier()
        self._wake = threading.Event()
        self._handled = 0  # messages handled since start, for the status line
        self._running: BackgroundScheduler | None = None  # once started

    # -- jobs and loops -----------------------------------------------------------------

    def _leader_job(self) -> None:
        app = self.app
        was = app.leadership.held
        now = app.leadership.acquire()
        app.health.beat("leadership")
        app.metrics.active.set(1 if now else 0)
        if now and not was:
            log.info("daemon: this instance (%s) is now the active one", app.instance)
            self.notifier.status(f"active: watching {self.config.mailbox.folder}")
            self._wake.set()
            self._reminders_job()  # the catch-up: the previous active one may have died
        elif was and not now:
            log.error("daemon: lost the leadership lock; standing by")
            self.notifier.status("standby: lost the leadership lock")
        elif not now and not was:
            log.debug("daemon: another instance is active; standing by")

    def _intake_loop(self) -> None:
        app = self.app
        backoff = Backoff("intake: IMAP")
        while not app.stop.is_set():
            wait = self.config.mailbox.poll_interval
            if app.active:
                try:
                    stats = app.intake_pass()
                    backoff.succeeded()
                    self._intake_status(stats)
                    if stats.seen:
                        self._deliver_soon()
                except MailboxLoginError as exc:
                    log.error("intake: %s", exc)
                    # The loop is alive and doing what it should (warn, retry): a restart
                    # would not bring the login back, so the watchdog keeps being fed.
                    app.health.failed("intake", str(exc))
                    app.health.beat("intake")
                    app.warn_login_failed(exc)
                    wait = max(wait, 300.0)
                except MailboxUnavailableError as exc:
                    app.health.failed("intake", str(exc))
                    app.health.beat("intake")  # an outage, not a hang (see above)
                    wait = backoff.failed(exc)
                except (MailbotError, SQLAlchemyError) as exc:
                    app.health.failed("intake", str(exc))
                    wait = backoff.failed(exc)
            else:
                app.health.beat("intake")  # standing by is what this loop should do now
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _watch_loop(self, folder: str | None) -> None:
        """Hold an IMAP connection in IDLE on `folder` (None: the sent folder) and wake the
        intake loop when the server reports a change. Returns when the server has no IDLE
        (polling remains) or there is no sent folder."""
        app = self.app
        what = folder or "sent folder"
        backoff = Backoff(f"idle {what}: IMAP")
        while not app.stop.is_set():
            if not app.active:
                app.stop.wait(self.config.daemon.standby_interval)
                continue
            try:
                with app.mailbox() as mailbox:
                    watched = folder or app.sent.find(mailbox)
                    if watched is None:
                        log.info("idle: no sent folder configured or found; not watched")
                        return
                    if not mailbox.has_idle():
                        log.info(
                            "idle: the server has no IDLE; polling every %ss",
                            self.config.mailbox.poll_interval,
                        )
                        return
                    mailbox.watch(watched)
                    backoff.succeeded()
                    log.debug("idle: watching %s", watched)
                    self._idle(mailbox)
            except MailboxLoginError as exc:
                log.error("idle %s: %s", what, exc)
                app.stop.wait(300.0)
            except MailbotError as exc:
                app.stop.wait(backoff.failed(exc))

    def _idle(self, mailbox: ImapMailbox) -> None:
        """Wake the intake loop on every change while active; renew IDLE in time."""
        idle_for = 0.0
        while self.app.active:
            if mailbox.wait_for_change(IDLE_SLICE):
                self._wake.set()
            idle_for += IDLE_SLICE
            if idle_for >= IDLE_RENEW:
                mailbox.renew_idle()
                idle_for = 0.0

    def _intake_status(self, stats: PassStats) -> None:
        self._handled += stats.seen
        at = self.app.clock().astimezone(self.config.cases.timezone)
        self.notifier.status(
            f"active: mailbox checked {at:%H:%M:%S %Z}, {stats.seen} new, "
            f"{self._handled} handled since start"
        )

    def _reminders_job(self) -> None:
        if not self.app.active:
            self.app.health.beat("reminders")
            return
        try:
            plan = self.app.reminders_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("reminders: pass failed, will retry: %s", exc)
            self.app.health.failed("reminders", str(exc))
            return
        if plan.mails:
            self._deliver_soon()

    def _retention_job(self) -> None:
        if not self.app.active:
            return
        try:
            self.app.retention_pass()
        except (MailbotError, SQLAlchemyError) as exc:
            log.warning("retention: pass failed, will retry tomorrow: %s", exc)

    # -- start and stop -----------------------------------------------------------------

    def _deliver_soon(self) -> None:
        """Run the delivery job now, in the scheduler's own thread: a slow or silent SMTP
        server never holds up intake."""
        scheduler = self._running
        if scheduler is None:
            self.app.dispatch_job()
            return
        try:
            scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
        except JobLookupError:  # shutting down
            pass

    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(timezone=self.config.cases.timezone)
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
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
            self.app.dispatch_job,
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
        return scheduler

    def _handle_signals(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon: %s received, finishing the message in hand", signal.strsignal(signum))
            self.notifier.stopping("stopping: finishing the message in hand")
            self.app.stop.set()
            self._wake.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def _register_health(self) -> None:
        health = self.app.health
        poll = self.config.mailbox.poll_interval
        health.register("leadership", 3 * self.config.daemon.standby_interval + HEALTH_MARGIN)
        health.register("intake", 3 * poll + HEALTH_MARGIN)
        health.register("dispatch", 3 * DISPATCH_INTERVAL + HEALTH_MARGIN)
        health.register("reminders", 3 * REMINDERS_INTERVAL + HEALTH_MARGIN)

    def _threads(self) -> list[threading.Thread]:
        """The intake loop first, then an IDLE watcher per watched folder."""
        threads = [threading.Thread(target=self._intake_loop, name="intake")]
        # None: the sent folder, configured or found on the server by the watcher itself.
        folders: list[str | None] = [self.config.mailbox.folder, None]
        if self.config.daemon.idle:
            threads += [
                threading.Thread(
                    target=self._watch_loop, args=(f,), name=f"idle:{f or 'sent'}", daemon=True
                )
                for f in folders
            ]
        return threads

    def run_forever(self) -> None:
        app, daemon, mailbox = self.app, self.config.daemon, self.config.mailbox
        scheduler = self._scheduler()
        if daemon.metrics_port:
            app.metrics.serve(daemon.metrics_port)
            log.info("daemon: metrics on http://127.0.0.1:%s/metrics", daemon.metrics_port)
        self._handle_signals()
        self._register_health()
        # Started: config read, schema current, signals handled. READY=1 comes before the
        # first leadership check, whose reminders catch-up sends mail and may take longer
        # than TimeoutStartSec=; that check then says "active" or "standby" in STATUS=.
        how = "IDLE" if daemon.idle else f"every {mailbox.poll_interval:g}s"
        self.notifier.ready(f"started; watching {mailbox.folder} on {mailbox.host} ({how})")
        start_watchdog(self.notifier, app.health, app.stop)
        self._leader_job()  # when active, this also runs the reminders catch-up
        if not app.leadership.held:
            log.info("daemon: another instance is active; standing by")
            self.notifier.status("standby: another instance is active")
        scheduler.start()
        self._running = scheduler
        threads = self._threads()
        for thread in threads:
            thread.start()
        log.info(
            "daemon: watching %s on %s (%s)",
            mailbox.folder,
            mailbox.host,
            "IDLE" if daemon.idle else f"every {mailbox.poll_interval}s",
        )
        while not app.stop.is_set():
            app.stop.wait(1.0)
        # The intake loop checks `stop` between messages: joining it waits for the message
        # in hand at most. IDLE watchers are daemon threads that end with the process.
        threads[0].join(timeout=60)
        scheduler.shutdown(wait=True)
        app.leadership.release()
        log.info("daemon: stopped")
