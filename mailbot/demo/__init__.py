"""`mailbot demo`: the whole job on this machine, with no mail server installed.

The demo starts an IMAP server (pymap, in memory) and an SMTP sink (aiosmtpd) inside this
process on 127.0.0.1, writes a config file and an SQLite database into a folder, drops a
handful of Dutch sample mails into the inbox and runs mailbot's own code (:class:`App`,
the same passes the daemon's jobs run) against them. It then prints the cases and every
mail as the citizens and the coordinator received it.

A :class:`DemoClock` replays a morning in a few seconds: the first mails arrive three hours
ago, mailbot's first pass runs two hours ago, the answers to its receipts arrive after that
and the second pass runs now. A last step moves the clock a month on, past every deadline,
for the staff reminders (``month_later``).

Needs the optional packages of ``mailbot[demo]`` (pymap, aiosmtpd); without them
:func:`run_demo` says so and returns 1.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mailbot.config import ConfigError, load_config
from mailbot.daemon import App
from mailbot.demo import mails
from mailbot.demo.mails import SampleMail
from mailbot.domain.errors import MailboxUnavailableError, MailbotError
from mailbot.domain.model import Channel, Direction, MessageSummary, Outcome
from mailbot.persistence import repository as repo
from mailbot.persistence.tables import CaseRow, MailboxItemRow, MessageRow, OutboxRow

if TYPE_CHECKING:  # the servers module needs the optional packages: imported in run_demo
    from email.message import EmailMessage

    from mailbot.demo.servers import DemoServers, ReceivedMail

__all__ = ["MONTH_LATER", "REMINDERS_METHOD", "DemoClock", "MonthLaterStep", "run_demo"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

#: How far the last step moves the clock: past the deadline of every demo case (a
#: deadline is one calendar month after arrival, at most 31 days).
MONTH_LATER: Final = timedelta(days=32)

#: The App method the default month-later step calls when this version of mailbot has it.
REMINDERS_METHOD: Final = "reminders_pass"

#: The extension point for "a month later": called with the demo's App, whose clock then
#: reads MONTH_LATER after the second pass, and the report stream. Whatever it puts in the
#: outbox is delivered and shown right after it returns.
MonthLaterStep = Callable[[App, TextIO], object]

_DEMO_PACKAGES: Final = frozenset({"pymap", "aiosmtpd", "proxyprotocol", "pysasl"})
_KEPT_FILES: Final = ("config.toml", "mailbot.sqlite3")
_FIRST_ARRIVAL: Final = timedelta(hours=-3)  # the first sample mail, relative to now
_FIRST_PASS: Final = timedelta(hours=-2)  # mailbot's first pass
_SECOND_ARRIVAL: Final = timedelta(hours=-1, minutes=-50)  # the answers to the receipts
_RULE = "=" * 78


class DemoClock:
    """Real time plus an offset the demo moves, so that a morning passes in seconds.

    Mailbot reads it wherever it asks for "now" (receipts' dates, the outbox's retry
    times); the time keeps running, so nothing that measures intervals is surprised.
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def run_demo(
    out: TextIO,
    *,
    keep: Path | None = None,
    month_later: MonthLaterStep | None = None,
) -> int:
    """Run the demo and print its report to `out`; return an exit code (0 ok, 1 failed,
    2 `keep` unusable).

    keep=None works in a temporary folder removed afterwards. Otherwise the folder keeps
    the generated config.toml and mailbot.sqlite3, so that
    ``mailbot --config KEEP/config.toml cases list`` shows the demo's cases later.
    month_later replaces the default last step (see :data:`MonthLaterStep`).
    """
    try:
        from mailbot.demo.servers import DemoServers  # noqa: F401 (checks the extra)
    except ImportError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in _DEMO_PACKAGES:
            raise
        print(
            f"mailbot demo: needs the optional package {exc.name.partition('.')[0]}: "
            "install it with  pip install 'mailbot[demo]'",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    step = month_later or reminders_if_available
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="mailbot-demo-") as folder:
            return _Demo(out, Path(folder), kept=False, month_later=step).run()
    problem = _unusable_keep_folder(keep)
    if problem:
        print(f"mailbot demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    keep.mkdir(parents=True, exist_ok=True)
    return _Demo(out, keep.resolve(), kept=True, month_later=step).run()


def reminders_if_available(app: App, out: TextIO) -> None:
    """The default month-later step: the reminders pass, if this version has one."""
    reminders = getattr(app, REMINDERS_METHOD, None)
    if not callable(reminders):
        out.write(
            "  Reminders are not part of this version of mailbot "
            f"(App has no {REMINDERS_METHOD}()): nothing happens a month later.\n"
        )
        return
    result = reminders()
    if result is not None:
        out.write(f"  {REMINDERS_METHOD}(): {result}\n")


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
            with DemoServers(username=mails.MAILBOX, password=password) as servers:
                config = load_config(self._write_config(servers, password), env={})
                app = App(config, self.clock)
                try:
                    self._heading(servers, server_versions())
                    failures = self._play(app, servers)
                finally:
                    app.close()
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
        }
        lines = [
            "# Written by `mailbot demo`. The IMAP and SMTP servers below ran inside the demo",
            "# and are gone: `cases list` and `cases show` work with this file, `run` and",
            "# `check` cannot reach the servers any more.",
            "",
        ]
        for section, keys in values.items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in keys.items())
            lines.append("")
        path = self.folder / "config.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        path.chmod(0o600)  # it holds the (throwaway) mailbox password
        return path

    def _heading(self, servers: DemoServers, versions: dict[str, str]) -> None:
        title = "mailbot demo: a complaints mailbox on this machine, no mail server needed"
        self.say(title)
        self.say("=" * len(title))
        self.say()
        self.say("mailbot's own code (intake, outbox, delivery) runs against:")
        self.say(
            f"  IMAP  {servers.host}:{servers.imap_port}  pymap {versions['pymap']}, in memory; "
            f"mailbox {mails.MAILBOX}"
        )
        self.say(
            f"  SMTP  {servers.host}:{servers.smtp_port}  aiosmtpd {versions['aiosmtpd']}, "
            "keeps every mail and delivers nothing"
        )
        removed = "kept" if self.kept else "removed at the end"
        self.say(f"  data  {self.folder}/  config.toml, mailbot.sqlite3 ({removed})")
        self.say(f"  staff {mails.COORDINATOR} is the complaints coordinator")
        self.say("The clock is moved: the mails arrive over a morning, replayed in seconds.")

    # -- the story -------------------------------------------------------------------------

    def _play(self, app: App, servers: DemoServers) -> list[str]:
        app.upgrade_schema()
        now = datetime.now(UTC)
        tz = app.config.cases.timezone

        first = mails.first_batch(now + _FIRST_ARRIVAL)
        self.clock.offset = _FIRST_PASS
        self._section(
            f"Step 1, {self._hhmm(self.clock(), app)}: {len(first)} mails wait in INBOX; "
            "mailbot runs one pass (intake, then delivery)"
        )
        self._pass(app, servers, first)

        sent = servers.received
        marie = _receipt_to(sent, mails.MARIE[1])
        jan = _receipt_to(sent, mails.JAN_TYPO)
        if marie is None or jan is None:
            return ["the first pass sent no receipt to Marie or to Jan; step 2 needs both"]
        second = mails.second_batch(now + _SECOND_ARRIVAL, marie, jan)
        self.clock.offset = timedelta(0)
        self._section(
            f"Step 2, {self._hhmm(self.clock(), app)}: {len(second)} answers to the receipts "
            "arrived; mailbot runs the next pass"
        )
        self._pass(app, servers, second)

        self.clock.offset = MONTH_LATER
        later = self.clock().astimezone(tz)
        self._section(f"Step 3, a month later ({later:%Y-%m-%d}): reminders")
        before = len(servers.received)
        self.month_later(app, self.out)
        app.dispatch_pass()
        self._print_sent(servers.received[before:], app)

        self._cases(app)
        self._mails(servers.received, app)
        return self._mailbox_after(app)

    def _pass(self, app: App, servers: DemoServers, batch: Sequence[SampleMail]) -> None:
        self._append(app, batch)
        before = len(servers.received)
        report = app.run_once()
        outcomes = _count(report.intake.outcomes if report.intake else {})
        for arrival in self.arrivals[-len(batch) :]:
            self._print_arrival(app, arrival)
        d = report.dispatch
        self.say(
            f"  The pass: {report.intake.seen if report.intake else 0} mails read ({outcomes}); "
            f"{d.sent} sent, {d.retried} to retry, {d.failed} failed."
        )
        self._print_sent(servers.received[before:], app)

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
        header = _header_lines(mail.raw)
        sender = header.get("from", "(no From header)")
        subject = header.get("subject", "(no Subject header)")
        self.say(f"  {self._hhmm(mail.arrived_at, app)}  {sender}  \"{subject}\"")
        self.say(f"         {mail.label}")
        self.say(f"         -> {self._outcome(app, arrival)}")

    def _outcome(self, app: App, arrival: _Arrival) -> str:
        with app.sessions() as session:
            item = session.execute(
                select(MailboxItemRow)
                .where(MailboxItemRow.raw_sha256 == arrival.sha256)
                .order_by(MailboxItemRow.id.desc())
            ).scalars().first()
            if item is None:
                return "not processed: still in INBOX"
            ref = ""
            if item.case_id is not None:
                case = session.get(CaseRow, item.case_id)
                ref = case.reference if case is not None else f"#{item.case_id}"
            kind = session.execute(
                select(MessageRow.kind).where(
                    MessageRow.raw_sha256 == arrival.sha256,
                    MessageRow.direction == Direction.IN.value,
                )
            ).scalars().first()
            outcome = Outcome(item.outcome)
            folder = item.moved_to or "?"
        if outcome is Outcome.NEW_CASE:
            text = f"new case {ref}"
            return text + (f"; no receipt: {item.reason}" if item.reason else "")
        if outcome is Outcome.FOLLOW_UP:
            what = "an automatic reply: recorded, never answered" if kind == "auto_reply" else (
                "a follow-up: no new case, no second receipt"
            )
            return f"joined case {ref} as {what}"
        if outcome is Outcome.BOUNCE:
            return f"joined case {ref} as a bounce; the coordinator is told"
        if outcome is Outcome.QUARANTINED:
            return f"moved to the {folder} folder ({item.reason}); the coordinator is told"
        return f"{outcome.value}: {item.reason or 'no case'} (moved to {folder})"

    def _print_sent(self, sent: Sequence[ReceivedMail], app: App) -> None:
        if not sent:
            self.say("  Sent: nothing.")
            return
        self.say("  Sent:")
        for mail in sent:
            who = "coordinator" if self._to_coordinator(mail, app) else "citizen"
            self.say(
                f"    to the {who:<11} {', '.join(mail.rcpt_tos)}: {mail.message['Subject']}"
            )

    # -- the results -------------------------------------------------------------------------

    def _cases(self, app: App) -> None:
        tz = app.config.cases.timezone
        self._section("The cases, as `mailbot cases list` shows them")
        with app.sessions() as session:
            cases = repo.list_cases(session)
            details = []
            for summary in cases:
                row = repo.find_case_by_reference(session, summary.reference)
                assert row is not None  # listed a moment ago, in the same session
                details.append(repo.case_summary(row, with_messages=True))
        if not cases:
            self.say("no cases")
        else:
            self.first_reference = cases[0].reference
        for c in cases:
            received = c.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            self.say(
                f"{c.reference}  {c.state.value:<11}  {received}  due {c.deadline.isoformat()}  "
                f"{c.citizen_email:<30}  {c.subject[:60]}"
            )
        self.say()
        self.say("Their messages, in and out, as `mailbot cases show REF` lists them:")
        for case in details:
            self.say(f"  {case.reference}  ({case.channel.value})  {case.subject}")
            for m in case.messages:
                at = m.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                arrow = "<-" if m.direction is Direction.IN else "->"
                who = m.sender if m.direction is Direction.IN else m.recipients
                self.say(f"    {at} {arrow} {m.kind.value:<10} {who}")
        form = next((case for case in details if _opened_by_form(case.messages)), None)
        if form is not None:
            self.say()
            if form.channel is Channel.EMAIL and form.citizen_email == mails.FORM_SENDER:
                self.say(
                    f"The website form mail became {form.reference}, an ordinary e-mail case: "
                    "this version has no\nform channel yet, so the case's citizen is the "
                    f"form's no-reply sender ({mails.FORM_SENDER}),\nno receipt went out, and "
                    f"{mails.SOFIE[0]}'s name and address ({mails.SOFIE[1]}) are only in\n"
                    "the text the coordinator's notice quotes."
                )
            else:
                self.say(
                    f"The website form mail became {form.reference} (channel "
                    f"{form.channel.value}), citizen {form.citizen_name} <{form.citizen_email}>."
                )

    def _mails(self, sent: Sequence[ReceivedMail], app: App) -> None:
        citizens = [m for m in sent if not self._to_coordinator(m, app)]
        staff = [m for m in sent if self._to_coordinator(m, app)]
        for title, group in (
            ("What the citizens received", citizens),
            ("What the coordinator received", staff),
        ):
            self._section(f"{title} ({len(group)} mails)")
            for number, mail in enumerate(group, 1):
                self._print_mail(number, len(group), mail)

    def _print_mail(self, number: int, total: int, mail: ReceivedMail) -> None:
        message = mail.message
        self.say(f"--- {number} of {total} " + "-" * 60)
        for name in ("From", "To", "Subject"):
            self.say(f"{name + ':':<9}{message[name]}")
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
        self._section("The mailbox afterwards")
        self.say(", ".join(f"{folder}: {count} mails" for folder, count in counts.items()))
        failures = []
        if counts[m.folder]:
            failures.append(f"{counts[m.folder]} mails are still in {m.folder}")
        if unsent:
            failures.append(f"the outbox still holds {', '.join(f'{k} ({s})' for k, s in unsent)}")
        return failures

    def _footer(self, seconds: float, failures: list[str]) -> None:
        self.say()
        self.say(_RULE)
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

    def _section(self, title: str) -> None:
        self.say()
        self.say(title)
        self.say("-" * len(title))

    def _hhmm(self, moment: datetime, app: App) -> str:
        return moment.astimezone(app.config.cases.timezone).strftime("%H:%M")

    def _to_coordinator(self, mail: ReceivedMail, app: App) -> bool:
        return app.config.staff.coordinator.lower() in (r.lower() for r in mail.rcpt_tos)


def _receipt_to(sent: Sequence[ReceivedMail], address: str) -> EmailMessage | None:
    for mail in sent:
        if address in mail.rcpt_tos and mail.message["Auto-Submitted"] == "auto-replied":
            return mail.message
    return None


def _count(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items())) or "none"


def _opened_by_form(messages: Sequence[MessageSummary]) -> bool:
    first = next((m for m in messages if m.direction is Direction.IN), None)
    return first is not None and mails.FORM_SENDER in first.sender


def _header_lines(raw: bytes) -> dict[str, str]:
    """From and Subject of a sample mail, for the report; nothing for a mail without."""
    from email.parser import BytesHeaderParser
    from email.policy import default

    head = BytesHeaderParser(policy=default).parsebytes(raw)
    return {name.lower(): str(value) for name, value in head.items() if name.lower() in {
        "from", "subject"
    }}


def _text_part(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    if body is None:
        return "(no text part)"
    content = body.get_content()
    return content if isinstance(content, str) else "(no text part)"
