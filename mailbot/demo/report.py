"""What `mailbot demo` prints: the heading, each arrival and what became of it, what was
sent, the cases as `cases list` shows them, the mails as received, and the footer."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from sqlalchemy import select

from mailbot.demo import mails
from mailbot.demo.mails import SampleMail
from mailbot.domain.model import CaseSummary, Direction, MessageKind, Outcome
from mailbot.persistence import cases as repo
from mailbot.persistence.tables import CaseMessageRow, CaseRow, IntakeRecordRow

if TYPE_CHECKING:  # App: mailbot.demo imports it (one place); servers: optional packages
    from mailbot.app import App, PassReport
    from mailbot.demo.servers import DemoServers, ReceivedMail

WIDTH: Final = 78


@dataclass(frozen=True)
class Arrival:
    mail: SampleMail
    sha256: str  # how the mail is found again in mailbot's database (content-addressed)


class Report:
    """Writes the demo's report to `out`; `folder` and `kept` are where its files are."""

    def __init__(self, out: TextIO, folder: Path, *, kept: bool) -> None:
        self.out = out
        self.folder = folder
        self.kept = kept
        self.first_reference = "KL-..."  # for the closing hint, once the cases are known

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def heading(self, servers: DemoServers, versions: Mapping[str, str]) -> None:
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

    def arrival(self, app: App, arrival: Arrival) -> None:
        mail = arrival.mail
        head = BytesHeaderParser(policy=default_policy).parsebytes(mail.raw)
        sender = str(head.get("From", "(no From header)"))
        subject = str(head.get("Subject", "(no Subject header)"))
        self.say(f"  {self.hhmm(app, mail.arrived_at)} from {sender}: {mail.label}")
        self.say(f'        "{subject}"')
        self.say(f"        -> {self.outcome(app, arrival)}")

    def outcome(self, app: App, arrival: Arrival) -> str:
        """What intake recorded for one sample mail, found by its content hash."""
        with app.sessions() as session:
            item = (
                session.execute(
                    select(IntakeRecordRow)
                    .where(IntakeRecordRow.raw_sha256 == arrival.sha256)
                    .order_by(IntakeRecordRow.id.desc())
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
                    select(CaseMessageRow.kind).where(
                        CaseMessageRow.raw_sha256 == arrival.sha256,
                        CaseMessageRow.direction == Direction.IN.value,
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

    def sent(self, app: App, sent: Sequence[ReceivedMail]) -> None:
        if not sent:
            self.say("  Sent: nothing.")
            return
        self.say("  Sent:")
        for mail in sent:
            who = "coordinator" if self.to_coordinator(app, mail) else "citizen"
            subject = header(mail.message, "Subject")
            self.say(f"    to the {who:<11}  {', '.join(mail.rcpt_tos)}: {subject}")

    # -- the results -------------------------------------------------------------------------

    def cases(self, app: App) -> None:
        tz = app.config.cases.timezone
        self.title("The cases, as `mailbot cases list` shows them")
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
        form = next((c for c in details if opened_by_form(c)), None)
        if form is not None:
            citizen = f"{form.citizen_name} <{form.citizen_email}>".strip()
            self.say()
            self.say(
                textwrap.fill(
                    f"The website form's mail (from {mails.FORM_SENDER}, named in the config's "
                    f"[form] sender) became {form.reference}, channel {form.channel.value}, "
                    f"citizen {citizen}: read from the form's fields, not from the sender.",
                    WIDTH,
                )
            )

    def mails(self, app: App, sent: Sequence[ReceivedMail]) -> None:
        staff = [m for m in sent if self.to_coordinator(app, m)]
        citizens = [m for m in sent if not self.to_coordinator(app, m)]
        for title, group in (
            ("What the citizens received", citizens),
            ("What the coordinator received", staff),
        ):
            self.title(f"{title}: {count_mails(len(group))}")
            for number, mail in enumerate(group, 1):
                self.print_mail(number, len(group), mail)

    def print_mail(self, number: int, total: int, mail: ReceivedMail) -> None:
        message = mail.message
        self.say(f"--- {number} of {total} ".ljust(WIDTH, "-"))
        for name in ("From", "To", "Subject"):
            self.say(f"{name + ':':<9}{header(message, name)}")
        self.say()
        self.say(text_part(message).rstrip())
        self.say()

    def footer(self, seconds: float, failures: Sequence[str]) -> None:
        self.say()
        self.say("=" * WIDTH)
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

    def title(self, title: str, rule: str = "-") -> None:
        self.say()
        self.say(title)
        self.say(rule * len(title))

    def hhmm(self, app: App, moment: datetime) -> str:
        return moment.astimezone(app.config.cases.timezone).strftime("%H:%M")

    def to_coordinator(self, app: App, mail: ReceivedMail) -> bool:
        return app.config.staff.coordinator.lower() in (r.lower() for r in mail.rcpt_tos)


def summary(report: PassReport) -> str:
    intake = report.intake
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted((intake.outcomes if intake else {}).items()))
    d = report.dispatch
    return (
        f"  The pass: read {count_mails(intake.seen if intake else 0)} ({outcomes or 'none'}); "
        f"reminders planned {count_mails(len(report.reminders.mails))}; "
        f"sent {d.sent}, {d.retried} to retry, {d.failed} failed."
    )


def count_mails(count: int) -> str:
    return f"{count} mail" if count == 1 else f"{count} mails"


def opened_by_form(case: CaseSummary) -> bool:
    first = next((m for m in case.messages if m.direction is Direction.IN), None)
    return first is not None and mails.FORM_SENDER in first.sender


def header(message: EmailMessage, name: str) -> str:
    # strip(): Python folds a long Subject right after the colon, and the unfolded value
    # then starts with a space that mail programs do not show.
    return str(message.get(name, "")).strip()


def text_part(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    content = body.get_content() if body is not None else None
    return content if isinstance(content, str) else "(no text part)"
