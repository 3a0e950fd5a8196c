"""`mailbot demo`: the whole job on this machine, with no mail server installed.

The demo starts an IMAP server (pymap, in memory) and an SMTP sink (aiosmtpd) inside this
process on 127.0.0.1, writes a config file and an SQLite database into a folder, drops
Dutch sample mails into the inbox and runs mailbot's own code against them: :class:`App`
and its ``run_once()``, the intake, reminders and delivery passes the daemon's jobs run.
It then prints the cases and every mail as the citizens and the coordinator received it.

A :class:`DemoClock` replays one working morning in a few seconds, at fixed local times so
that the story is the same whenever it runs: the first mails arrive from 07:05, mailbot's
first pass runs at 08:00 (before the daily digest time), the answers to its receipts
arrive and the second pass runs at 09:15. A last step moves the clock a month on, to the
first working day after the deadlines, for the staff reminders (``month_later``).

Needs the optional packages of ``mailbot[demo]`` (pymap, aiosmtpd); without them
:func:`run_demo` says so and returns 1.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mailbot.app import App
from mailbot.config import ConfigError, load_config
from mailbot.demo import mails
from mailbot.demo.mails import SampleMail
from mailbot.demo.report import Arrival, Report, count_mails, summary
from mailbot.domain.errors import MailbotError, MailboxUnavailableError
from mailbot.persistence import cases as repo
from mailbot.persistence.tables import OutboxRow

if TYPE_CHECKING:  # needs the optional packages: run_demo imports it once they are known
    from mailbot.demo.servers import DemoServers, ReceivedMail

__all__ = ["DemoClock", "MonthLaterStep", "remind", "run_demo"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

#: The extension point for "a month later": called with the demo's App, whose clock then
#: reads the first working day after the deadlines of the demo's cases (09:15 local), and
#: the report stream. What it puts in the outbox is delivered and shown after it returns.
MonthLaterStep = Callable[[App, TextIO], object]

# Local times of the demo's morning. The first pass runs before `[reminders] send_at`
# (08:30 by default), the second after it, so that the second sends the day's digest.
FIRST_ARRIVAL: Final = clock_time(7, 5)
FIRST_PASS: Final = clock_time(8, 0)
SECOND_ARRIVAL: Final = clock_time(8, 1)
SECOND_PASS: Final = clock_time(9, 15)

_DEMO_PACKAGES: Final = frozenset({"pymap", "aiosmtpd", "proxyprotocol", "pysasl"})
_KEPT_FILES: Final = ("config.toml", "mailbot.sqlite3")
# Loggers that are loud for no reason during the demo; levels are raised, never lowered,
# and restored afterwards. aiosmtpd logs every SMTP connection at INFO; mail-parser logs
# header contents at WARNING (the CLI silences it the same way).
_QUIET_LOGGERS: Final[Mapping[str, int]] = {
    "mail.log": logging.WARNING,
    "pymap": logging.WARNING,
    "mailparser": logging.CRITICAL,
}
_WIDTH: Final = 78


class DemoClock:
    """Real time plus an offset the demo moves, so that a morning passes in seconds.

    Mailbot reads it wherever it asks for "now" (receipts' dates, digests, the outbox's
    retry times); the time keeps running, so nothing that measures intervals is surprised.
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        """From now on the clock reads `moment` (aware), and runs on from there."""
        self.offset = moment - datetime.now(UTC)


def run_demo(
    out: TextIO,
    *,
    keep: Path | None = None,
    month_later: MonthLaterStep | None = None,
) -> int:
    """Run the demo and print its report to `out`; return an exit code (0 ok, 1 failed or
    not as expected, 2 `keep` unusable). Errors go to stderr.

    keep=None works in a temporary folder removed afterwards. Otherwise the folder keeps
    the generated config.toml and mailbot.sqlite3, so that
    ``mailbot --config KEEP/config.toml cases list`` shows the demo's cases later.
    month_later replaces the last step, :func:`remind` (see :data:`MonthLaterStep`).
    """
    try:
        # import_module, not `from mailbot.demo import servers`: that would find a module
        # imported before, whether or not its packages can still be imported.
        importlib.import_module("mailbot.demo.servers")
    except ImportError as exc:
        package = (exc.name or "").partition(".")[0]
        if package not in _DEMO_PACKAGES:
            raise
        print(
            f"mailbot demo: needs the optional package {package}; "
            "install it with: pip install 'mailbot[demo]'",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    step = month_later or remind
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="mailbot-demo-") as folder:
            return _Demo(out, Path(folder), kept=False, month_later=step).run()
    problem = _unusable_keep_folder(keep)
    if problem:
        print(f"mailbot demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    keep.mkdir(parents=True, exist_ok=True)
    return _Demo(out, keep.resolve(), kept=True, month_later=step).run()


def remind(app: App, out: TextIO) -> None:
    """The default month-later step: one reminders pass, as the daemon's reminders job
    runs it at `[reminders] send_at` every day."""
    plan = app.reminders.run_pass()
    planned = "; ".join(f"{m.template} to {', '.join(m.to)}" for m in plan.mails) or "nothing"
    out.write(f"  The reminders pass for {plan.day:%A %d %B %Y}: {planned}.\n")


def _unusable_keep_folder(keep: Path) -> str | None:
    if keep.exists() and not keep.is_dir():
        return f"{keep} exists and is not a folder"
    # Never overwrite a real config or database, nor mix a second demo into the first.
    found = [name for name in _KEPT_FILES if (keep / name).exists()]
    if found:
        return (
            f"{keep} already holds {' and '.join(found)}; "
            "give an empty or new folder to keep the demo's files in"
        )
    return None


@contextmanager
def _quiet_loggers() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name, level in _QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, level))
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


# ------------------------------------------------------------------------------------------


class _Demo:
    def __init__(
        self, out: TextIO, folder: Path, *, kept: bool, month_later: MonthLaterStep
    ) -> None:
        self.out = out
        self.folder = folder
        self.kept = kept
        self.report = Report(out, folder, kept=kept)
        self.month_later = month_later
        self.clock = DemoClock()
        self.arrivals: list[Arrival] = []

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def run(self) -> int:
        from mailbot.demo.servers import DemoServerError, DemoServers, server_versions

        started = time.monotonic()
        password = secrets.token_urlsafe(18)
        try:
            with (
                _quiet_loggers(),
                DemoServers(username=mails.MAILBOX, password=password) as servers,
            ):
                config = load_config(self._write_config(servers, password), env={})
                app = App(config, self.clock)
                try:
                    self.report.heading(servers, server_versions())
                    failures = self._play(app, servers)
                finally:
                    app.close()
            # After the with: the servers' thread has ended, so this also sees its teardown.
            servers.raise_errors()
        except (DemoServerError, ConfigError, MailbotError, SQLAlchemyError) as exc:
            print(f"mailbot demo: failed: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        self.report.footer(time.monotonic() - started, failures)
        return EXIT_FAILURE if failures else EXIT_OK

    # -- set-up --------------------------------------------------------------------------

    def _write_config(self, servers: DemoServers, password: str) -> Path:
        """The config a real installation would have, pointing at the demo's servers."""
        values: dict[str, dict[str, str | int | float]] = {
            "mailbox": {
                "host": servers.host,
                "port": servers.imap_port,
                "security": "plain",  # loopback only
                "username": mails.MAILBOX,
                "password": password,
                "timeout": 10.0,
            },
            "smtp": {
                "host": servers.host,
                "port": servers.smtp_port,
                "security": "plain",
                "from_address": mails.MAILBOX,
                "from_name": mails.FROM_NAME,
                "timeout": 10.0,
            },
            # Relative: resolved next to the config file, so a kept folder can be moved.
            "database": {"url": "sqlite:///mailbot.sqlite3"},
            "staff": {"coordinator": mails.COORDINATOR},
            "form": {"sender": mails.FORM_SENDER},
        }
        lines = [
            "# Written by `mailbot demo`. The IMAP and SMTP servers below ran inside the demo",
            "# and are gone: `cases list` and `cases show` work with this file, `run` and",
            "# `check` cannot reach the servers any more.",
            "",
        ]
        for section, keys in values.items():
            lines.append(f"[{section}]")
            # JSON strings and numbers are valid TOML basic strings and numbers.
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in keys.items())
            lines.append("")
        path = self.folder / "config.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        path.chmod(0o600)  # it holds the (throwaway) mailbox password
        return path

    # -- the story -------------------------------------------------------------------------

    def _play(self, app: App, servers: DemoServers) -> list[str]:
        app.upgrade_schema()
        tz = app.config.cases.timezone
        calendar = app.config.cases.calendar
        today = datetime.now(tz).date()
        # A working day, so that the day's digest goes out like on any office day.
        day = calendar.previous_working_day(today)

        def at(moment: clock_time, on: date = day) -> datetime:
            return datetime.combine(on, moment, tzinfo=tz)

        first = mails.first_batch(at(FIRST_ARRIVAL))
        self.clock.set(at(FIRST_PASS))
        self.report.title(
            f"Step 1, {day:%A %d %B %Y} {FIRST_PASS:%H:%M}: {len(first)} mails wait in INBOX; "
            "mailbot runs one pass"
        )
        self._pass(app, servers, first)

        sent = servers.received
        marie = _receipt_to(sent, mails.MARIE[1])
        jan = _receipt_to(sent, mails.JAN_OLD)
        if marie is None or jan is None:
            return ["the first pass sent no receipt to Marie or to Jan; step 2 needs both"]
        second = mails.second_batch(at(SECOND_ARRIVAL), marie, jan)
        self.clock.set(at(SECOND_PASS))
        self.report.title(
            f"Step 2, {SECOND_PASS:%H:%M}: {len(second)} more mails arrived; "
            "mailbot runs the next pass"
        )
        self._pass(app, servers, second)

        with app.sessions() as session:
            deadlines = [c.deadline for c in repo.list_cases(session)]
        later = calendar.next_working_day(max(deadlines, default=day) + timedelta(days=1))
        self.clock.set(at(SECOND_PASS, later))
        self.report.title(
            f"Step 3, a month later: {later:%A %d %B %Y} {SECOND_PASS:%H:%M}, "
            "the deadlines have passed"
        )
        before = len(servers.received)
        self.month_later(app, self.out)
        app.dispatch_pass()
        self.report.sent(app, servers.received[before:])

        self.report.cases(app)
        self.report.mails(app, servers.received)
        return self._mailbox_after(app)

    def _pass(self, app: App, servers: DemoServers, batch: Sequence[SampleMail]) -> None:
        self._append(app, batch)
        before = len(servers.received)
        report = app.run_once()
        for arrival in self.arrivals[-len(batch) :]:
            self.report.arrival(app, arrival)
        self.say(summary(report))
        self.report.sent(app, servers.received[before:])

    def _append(self, app: App, batch: Sequence[SampleMail]) -> None:
        """Deliver the mails into INBOX the way a mail server does: IMAP APPEND with the
        arrival time as INTERNALDATE, which mailbot takes as the complaint's filing time."""
        import imapclient  # a dependency of mailbot itself
        from imapclient.exceptions import IMAPClientError

        m = app.config.mailbox
        try:
            client = imapclient.IMAPClient(m.host, port=m.port, ssl=False, timeout=m.timeout)
            try:
                client.login(m.username, m.password.reveal())
                for mail in batch:
                    client.append(m.folder, mail.raw, msg_time=mail.arrived_at)
                    self.arrivals.append(Arrival(mail, hashlib.sha256(mail.raw).hexdigest()))
            finally:
                client.logout()
        except (OSError, IMAPClientError) as exc:
            raise MailboxUnavailableError(f"demo IMAP server: APPEND failed: {exc}") from exc

    def _mailbox_after(self, app: App) -> list[str]:
        """The mailbox and the outbox after the demo, and what is not as it should be."""
        m = app.config.mailbox
        counts: dict[str, int] = {}
        with app.mailbox() as mailbox:
            for folder in (m.folder, m.processed_folder, m.quarantine_folder):
                counts[folder] = len(mailbox.open_folder(folder)[1])
        with app.sessions() as session:
            unsent = session.execute(
                select(OutboxRow.key, OutboxRow.status).where(OutboxRow.status != "sent")
            ).all()
        self.report.title("The mailbox afterwards")
        self.say(", ".join(f"{folder}: {count_mails(count)}" for folder, count in counts.items()))
        failures = []
        if counts[m.folder]:
            failures.append(f"{count_mails(counts[m.folder])} still in {m.folder}")
        if unsent:
            failures.append(f"unsent in the outbox: {', '.join(f'{k} ({s})' for k, s in unsent)}")
        return failures


def _receipt_to(sent: Sequence[ReceivedMail], address: str) -> EmailMessage | None:
    for mail in sent:
        if address in mail.rcpt_tos and mail.message["Auto-Submitted"] == "auto-replied":
            return mail.message
    return None
