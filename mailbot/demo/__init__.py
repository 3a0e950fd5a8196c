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
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mailbot.app import App, PassReport
from mailbot.config import ConfigError, load_config
from mailbot.demo import mails
from mailbot.demo.mails import SampleMail
from mailbot.domain.errors import MailbotError, MailboxUnavailableError
from mailbot.domain.model import CaseSummary, Direction, MessageKind, Outcome
from mailbot.persistence import cases as repo
from mailbot.persistence.tables import CaseRow, MailboxItemRow, MessageRow, OutboxRow

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


@dataclass(frozen=True)
class _Arrival:
    mail: SampleMail
    sha256: str  # how the mail is found again in mailbot's database (content-addressed)


class _Demo:
    def __init__(
        self, out: TextIO, folder: Path, *, kept: bool, month_later: MonthLaterStep
    ) -> None:
        self.out = out
        self.folder = folder
        self.kept = kept
        self.month_later = month_later
        self.clock = DemoClock()
        self.arrivals: list[_Arrival] = []
        self.first_reference = "KL-..."  # for the closing hint, once the cases are known

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
                    self._heading(servers, server_versions())
                    failures = self._play(app, servers)
                finally:
                    app.close()
            # After the with: the servers' thread has ended, so this also sees its teardown.
            servers.raise_errors()
        except (DemoServerError, ConfigError, MailbotError, SQLAlchemyError) as exc:
            print(f"mailbot demo: failed: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        self._footer(time.monotonic() - started, failures)
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

    def _heading(self, servers: DemoServers, versions: Mapping[str, str]) -> None:
        title = "mailbot demo: a complaints mailbox on this machine, no mail server needed"
        self.say(title)
        self.say("=" * len(title))
        self.say("mailbot's own code (intake, reminders, outbox, delivery) runs against:")
        self.say(
            f"  IMAP  {servers.host}:{servers.imap_port}  pymap {versions['pymap']}, in memory, "
            f"mailbox {mails.MAILBOX}"
        )
        self.say(
            f"  SMTP  {servers.host}:{servers.smtp_port}  aiosmtpd {versions['aiosmtpd']}, "
            "keeps every mail and delivers nothing"
        )
        removed = "kept" if self.kept else "removed at the end"
        self.say(f"  data  {self.folder}/  config.toml, mailbot.sqlite3 ({removed})")
        self.say(f"  staff {mails.COORDINATOR}, the complaints coordinator")
        self.say("The clock is moved: one working morning is replayed in a few seconds.")

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
        self._title(
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
        self._title(
            f"Step 2, {SECOND_PASS:%H:%M}: {len(second)} more mails arrived; "
            "mailbot runs the next pass"
        )
        self._pass(app, servers, second)

        with app.sessions() as session:
            deadlines = [c.deadline for c in repo.list_cases(session)]
        later = calendar.next_working_day(max(deadlines, default=day) + timedelta(days=1))
        self.clock.set(at(SECOND_PASS, later))
        self._title(
            f"Step 3, a month later: {later:%A %d %B %Y} {SECOND_PASS:%H:%M}, "
            "the deadlines have passed"
        )
        before = len(servers.received)
        self.month_later(app, self.out)
        app.dispatch_pass()
        self._print_sent(app, servers.received[before:])

        self._cases(app)
        self._mails(app, servers.received)
        return self._mailbox_after(app)

    def _pass(self, app: App, servers: DemoServers, batch: Sequence[SampleMail]) -> None:
        self._append(app, batch)
        before = len(servers.received)
        report = app.run_once()
        for arrival in self.arrivals[-len(batch) :]:
            self._print_arrival(app, arrival)
        self.say(_summary(report))
        self._print_sent(app, servers.received[before:])

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
                    self.arrivals.append(_Arrival(mail, hashlib.sha256(mail.raw).hexdigest()))
            finally:
                client.logout()
        except (OSError, IMAPClientError) as exc:
            raise MailboxUnavailableError(f"demo IMAP server: APPEND failed: {exc}") from exc

    def _print_arrival(self, app: App, arrival: _Arrival) -> None:
        mail = arrival.mail
        head = BytesHeaderParser(policy=default_policy).parsebytes(mail.raw)
        sender = str(head.get("From", "(no From header)"))
        subject = str(head.get("Subject", "(no Subject header)"))
        self.say(f"  {self._hhmm(app, mail.arrived_at)} from {sender}: {mail.label}")
        self.say(f'        "{subject}"')
        self.say(f"        -> {self._outcome(app, arrival)}")

    def _outcome(self, app: App, arrival: _Arrival) -> str:
        """What intake recorded for one sample mail, found by its content hash."""
        with app.sessions() as session:
            item = (
                session.execute(
                    select(MailboxItemRow)
                    .where(MailboxItemRow.raw_sha256 == arrival.sha256)
                    .order_by(MailboxItemRow.id.desc())
                )
                .scalars()
                .first()
            )
            if item is None:
                return "not processed: still in INBOX"
            case = session.get(CaseRow, item.case_id) if item.case_id is not None else None
            ref = case.reference if case is not None else ""
            kind = (
                session.execute(
                    select(MessageRow.kind).where(
                        MessageRow.raw_sha256 == arrival.sha256,
                        MessageRow.direction == Direction.IN.value,
                    )
                )
                .scalars()
                .first()
            )
        outcome = Outcome(item.outcome)
        if outcome is Outcome.NEW_CASE:
            receipt = f"no receipt: {item.reason}" if item.reason else "a receipt to the citizen"
            return f"new case {ref}; {receipt}; a notice to the coordinator"
        if outcome is Outcome.FOLLOW_UP and kind == MessageKind.AUTO_REPLY.value:
            return f"joined case {ref} as an automatic reply: recorded, never answered"
        if outcome is Outcome.FOLLOW_UP:
            return f"joined case {ref} as a follow-up: no new case, no second receipt"
        if outcome is Outcome.BOUNCE:
            return f"joined case {ref} as a bounce; the coordinator is told"
        if outcome is Outcome.QUARANTINED:
            return f"moved to the {item.moved_to} folder ({item.reason}); the coordinator is told"
        return f"{outcome.value}: {item.reason or 'no case'}; moved to {item.moved_to}"

    def _print_sent(self, app: App, sent: Sequence[ReceivedMail]) -> None:
        if not sent:
            self.say("  Sent: nothing.")
            return
        self.say("  Sent:")
        for mail in sent:
            who = "coordinator" if self._to_coordinator(app, mail) else "citizen"
            subject = _header(mail.message, "Subject")
            self.say(f"    to the {who:<11}  {', '.join(mail.rcpt_tos)}: {subject}")

    # -- the results -------------------------------------------------------------------------

    def _cases(self, app: App) -> None:
        tz = app.config.cases.timezone
        self._title("The cases, as `mailbot cases list` shows them")
        with app.sessions() as session:
            details: list[CaseSummary] = []
            for listed in repo.list_cases(session):
                row = repo.find_case_by_reference(session, listed.reference)
                assert row is not None  # listed a moment ago, in the same session
                details.append(repo.case_summary(row, with_messages=True))
        if not details:
            self.say("no cases")
            return
        self.first_reference = details[0].reference
        for c in details:  # the format of `mailbot cases list`
            received = c.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            self.say(
                f"{c.reference}  {c.state.value:<11}  {received}  due {c.deadline.isoformat()}  "
                f"{c.citizen_email:<30}  {c.subject[:60]}"
            )
        self.say()
        self.say("Their messages, in and out (`mailbot cases show REF` shows one case):")
        for case in details:
            self.say(f"  {case.reference} ({case.channel.value}): {case.subject}")
            for m in case.messages:
                moment = m.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                arrow = "<-" if m.direction is Direction.IN else "->"
                who = m.sender if m.direction is Direction.IN else m.recipients
                self.say(f"    {moment} {arrow} {m.kind.value:<10} {who}")
        form = next((c for c in details if _opened_by_form(c)), None)
        if form is not None:
            citizen = f"{form.citizen_name} <{form.citizen_email}>".strip()
            self.say()
            self.say(
                textwrap.fill(
                    f"The website form's mail (from {mails.FORM_SENDER}, named in the config's "
                    f"[form] sender) became {form.reference}, channel {form.channel.value}, "
                    f"citizen {citizen}: read from the form's fields, not from the sender.",
                    _WIDTH,
                )
            )

    def _mails(self, app: App, sent: Sequence[ReceivedMail]) -> None:
        staff = [m for m in sent if self._to_coordinator(app, m)]
        citizens = [m for m in sent if not self._to_coordinator(app, m)]
        for title, group in (
            ("What the citizens received", citizens),
            ("What the coordinator received", staff),
        ):
            self._title(f"{title}: {_mails(len(group))}")
            for number, mail in enumerate(group, 1):
                self._print_mail(number, len(group), mail)

    def _print_mail(self, number: int, total: int, mail: ReceivedMail) -> None:
        message = mail.message
        self.say(f"--- {number} of {total} ".ljust(_WIDTH, "-"))
        for name in ("From", "To", "Subject"):
            self.say(f"{name + ':':<9}{_header(message, name)}")
        self.say()
        self.say(_text_part(message).rstrip())
        self.say()

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
        self._title("The mailbox afterwards")
        self.say(", ".join(f"{folder}: {_mails(count)}" for folder, count in counts.items()))
        failures = []
        if counts[m.folder]:
            failures.append(f"{_mails(counts[m.folder])} still in {m.folder}")
        if unsent:
            failures.append(f"unsent in the outbox: {', '.join(f'{k} ({s})' for k, s in unsent)}")
        return failures

    def _footer(self, seconds: float, failures: Sequence[str]) -> None:
        self.say()
        self.say("=" * _WIDTH)
        for failure in failures:
            self.say(f"NOT AS EXPECTED: {failure}")
        self.say(f"Done in {seconds:.1f} s.")
        if self.kept:
            config = self.folder / "config.toml"
            self.say(f"The config and the database are kept in {self.folder}; try")
            self.say(f"  mailbot --config {config} cases list")
            self.say(f"  mailbot --config {config} cases show {self.first_reference}")
        else:
            self.say("The temporary config and database are removed; `mailbot demo --keep DIR`")
            self.say("keeps them, for `mailbot --config DIR/config.toml cases list`.")

    # -- helpers ---------------------------------------------------------------------------

    def _title(self, title: str, rule: str = "-") -> None:
        self.say()
        self.say(title)
        self.say(rule * len(title))

    def _hhmm(self, app: App, moment: datetime) -> str:
        return moment.astimezone(app.config.cases.timezone).strftime("%H:%M")

    def _to_coordinator(self, app: App, mail: ReceivedMail) -> bool:
        return app.config.staff.coordinator.lower() in (r.lower() for r in mail.rcpt_tos)


def _summary(report: PassReport) -> str:
    intake = report.intake
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted((intake.outcomes if intake else {}).items()))
    d = report.dispatch
    return (
        f"  The pass: read {_mails(intake.seen if intake else 0)} ({outcomes or 'none'}); "
        f"reminders planned {_mails(len(report.reminders.mails))}; "
        f"sent {d.sent}, {d.retried} to retry, {d.failed} failed."
    )


def _mails(count: int) -> str:
    return f"{count} mail" if count == 1 else f"{count} mails"


def _receipt_to(sent: Sequence[ReceivedMail], address: str) -> EmailMessage | None:
    for mail in sent:
        if address in mail.rcpt_tos and mail.message["Auto-Submitted"] == "auto-replied":
            return mail.message
    return None


def _opened_by_form(case: CaseSummary) -> bool:
    first = next((m for m in case.messages if m.direction is Direction.IN), None)
    return first is not None and mails.FORM_SENDER in first.sender


def _header(message: EmailMessage, name: str) -> str:
    # strip(): Python folds a long Subject right after the colon, and the unfolded value
    # then starts with a space that mail programs do not show.
    return str(message.get(name, "")).strip()


def _text_part(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    content = body.get_content() if body is not None else None
    return content if isinstance(content, str) else "(no text part)"
