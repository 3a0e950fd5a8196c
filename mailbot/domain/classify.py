"""What an inbound mail *is*: one pure decision per mail, before anything is done.

`classify` looks at the parsed mail, the folder it came from, the intake rules (who is
staff, which servers we trust, the form's robot) and a read-only view of what is already
known (`Known`: stored Message-IDs, the case a mail threads into). It returns one small
tagged value; `services/intake.py` carries it out in one transaction with one handler per
kind. Nothing here reads a database, a mailbox or the clock, so every rule is unit-tested
without servers (tests/test_classify.py).

The order of the rules is the order of this function, top to bottom:

1. Duplicate    the same mail (same Message-ID and content) was handled before, unless
                it was a refused command and this is its trusted copy
2. sent folder  mailbot's own mail (Ignore), commands (StaffCommands), an answer or other
                mail about a case (SentAnswer), anything else (Ignore)
3. machine mail (domain/machine.py): a bounce (Bounce, with the case of the mail it
                quotes), a delay or success DSN, a read receipt, an abuse report, an
                auto-reply or null-sender mail (FollowUp of its case, automatic, or
                Ignore); list mail goes on to 8
4. staff        commands from a verified staff sender (StaffCommands), from an unverified
                one (RefusedCommands); a verified Bcc copy of an answer (SentAnswer)
5. Form         the website form's robot
6. FollowUp     a mail in the thread of a known case (automatic replies included)
7. Ignore       our own mail come back, other automatic mail without a case
8. NewCase      everything else, with the reason when no receipt may be sent
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mailbot.domain.autoreply import (
    ReplyPolicy,
    is_auto_submitted,
    is_own_message_id,
    no_reply_reason,
)
from mailbot.domain.commands import ParsedCommands, parse_commands
from mailbot.domain.machine import Machine, classify_machine
from mailbot.domain.model import InboundMail
from mailbot.domain.trust import verified_sender


@dataclass(frozen=True)
class CaseView:
    """What classification needs to know of a case."""

    id: int
    reference: str
    citizen_email: str


@dataclass(frozen=True)
class Earlier:
    """The same mail (same Message-ID, same content) handled before."""

    outcome: str
    reason: str


class Known(Protocol):
    """A read-only view of what is stored, answered by the intake's transaction."""

    def earlier(self, mail: InboundMail) -> Earlier | None:
        """The same mail handled before, if it was."""

    def thread_case(self, mail: InboundMail) -> CaseView | None:
        """The case a reference in the subject or the threading headers point to."""

    def case_of(self, message_ids: Sequence[str]) -> CaseView | None:
        """The case that holds one of these Message-IDs (a bounce quotes our own)."""


@dataclass(frozen=True)
class IntakeRules:
    """The configuration classification depends on."""

    staff: frozenset[str]  # lowercased staff addresses
    authserv_ids: frozenset[str]  # receiving servers whose Authentication-Results we trust
    sent_folder: str | None
    message_id_domain: str
    reply_policy: ReplyPolicy
    form_sender: str | None  # lowercased address of the website form's robot


# -- the decisions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    reason: str = "Message-ID stored before"


@dataclass(frozen=True)
class Ignore:
    """Recorded, opens no case, nobody is told."""

    reason: str


@dataclass(frozen=True)
class Bounce:
    case: CaseView | None


@dataclass(frozen=True)
class StaffCommands:
    parsed: ParsedCommands
    case: CaseView | None
    trusted_by: str  # "sent folder" or the Authentication-Results evidence


@dataclass(frozen=True)
class RefusedCommands:
    reason: str = "command from an unverified sender refused"


@dataclass(frozen=True)
class SentAnswer:
    """Staff mail about a case; the reasoned answer when it went to the citizen."""

    case: CaseView
    to_citizen: bool


@dataclass(frozen=True)
class Form:
    pass


@dataclass(frozen=True)
class FollowUp:
    case: CaseView
    automatic: bool


@dataclass(frozen=True)
class NewCase:
    no_receipt: str | None  # why no receipt may go out; None: send one


Decision = (
    Duplicate
    | Ignore
    | Bounce
    | StaffCommands
    | RefusedCommands
    | SentAnswer
    | Form
    | FollowUp
    | NewCase
)


# -- the rules --------------------------------------------------------------------------


def classify(
    mail: InboundMail,
    folder: str,
    known: Known,
    rules: IntakeRules,
) -> Decision:
    """The one decision for this mail; see the module docstring for the order."""
    earlier = known.earlier(mail)
    if earlier is not None and not _trusted_copy_of_refused(earlier, mail, folder, rules):
        return Duplicate()
    if rules.sent_folder is not None and folder == rules.sent_folder:
        return _from_sent_folder(mail, known, rules)
    machine = classify_machine(mail)
    if machine is not None and machine.kind != "list":
        return _machine_mail(machine, mail, known)
    if is_staff(mail, rules) and not is_auto_submitted(mail):
        staff = _from_staff(mail, known, rules)
        if staff is not None:
            return staff
    if rules.form_sender and mail.sender and mail.sender.email.lower() == rules.form_sender:
        return Form()
    case = known.thread_case(mail)
    if case is not None:
        return FollowUp(case, automatic=is_auto_submitted(mail))
    reason = no_reply_reason(mail, rules.reply_policy)
    if reason == "our own mail":
        return Ignore("our own mail came back")
    if machine is not None:  # list mail: the coordinator sees it, nobody is answered
        return NewCase(no_receipt=reason or machine.rule)
    return NewCase(no_receipt=reason)


def _machine_mail(machine: Machine, mail: InboundMail, known: Known) -> Decision:
    """Bounces, read receipts, abuse reports, auto-replies and null-sender mail never open
    a case and are never answered; they join the case of the mail they are about."""
    case = known.case_of(machine.about_message_ids) or known.thread_case(mail)
    if machine.kind == "bounce":
        return Bounce(case)
    if case is not None:
        return FollowUp(case, automatic=True)
    return Ignore(f"{machine.rule}: about no known case")


def _trusted_copy_of_refused(
    earlier: Earlier, mail: InboundMail, folder: str, rules: IntakeRules
) -> bool:
    """A command refused from the inbox (no proof who sent it) whose trusted copy turns up:
    the sent folder's own copy, or one a trusted server vouched for. It is carried out."""
    if earlier.reason != RefusedCommands.reason:
        return False
    return folder == rules.sent_folder or verification(mail, rules) is not None


def is_staff(mail: InboundMail, rules: IntakeRules) -> bool:
    """Staff, or the shared mailbox itself (a coordinator writing to it from it)."""
    if mail.sender is None:
        return False
    sender = mail.sender.email.lower()
    return sender in rules.staff or sender in rules.reply_policy.own_addresses


def to_citizen(mail: InboundMail, case: CaseView) -> bool:
    """Whether a staff mail went to the case's citizen (To, Cc or a recorded Bcc)."""
    recipients = {a.email.lower() for a in (*mail.to, *mail.cc)}
    bcc = {a.strip().lower() for h in mail.header_all("Bcc") for a in h.split(",")}
    return bool(case.citizen_email) and case.citizen_email.lower() in recipients | bcc


def verification(mail: InboundMail, rules: IntakeRules) -> str | None:
    """The evidence that a trusted receiving server vouched for the From domain."""
    if mail.sender is None:
        return None
    return verified_sender(mail.sender.email, mail.headers, rules.authserv_ids)


def _from_sent_folder(mail: InboundMail, known: Known, rules: IntakeRules) -> Decision:
    """A mail sent from the shared mailbox itself: trusted by where it sits."""
    if is_own_message_id(mail.message_id, rules.message_id_domain):
        return Ignore("mailbot's own mail")
    case = known.thread_case(mail)
    if case is not None and to_citizen(mail, case):
        # The reasoned answer: whatever its text holds ("#Zoersel", a quoted history
        # with the citizen's own '#' lines), it is a letter, never a command mail.
        return SentAnswer(case, to_citizen=True)
    parsed = parse_commands(mail.body_text)
    if parsed.commands or parsed.errors:
        return StaffCommands(parsed, case, trusted_by="sent folder")
    if case is None:
        return Ignore("sent mail about no case")
    return SentAnswer(case, to_citizen=False)


def _from_staff(mail: InboundMail, known: Known, rules: IntakeRules) -> Decision | None:
    """A staff member's mail in the inbox; None when it is just an ordinary mail."""
    parsed = parse_commands(mail.body_text)
    evidence = verification(mail, rules)
    case = known.thread_case(mail)
    if parsed.commands or parsed.errors:
        if evidence is None:
            return RefusedCommands()
        return StaffCommands(parsed, case, trusted_by=evidence)
    if case is not None and evidence is not None and to_citizen(mail, case):
        # A Bcc copy of the coordinator's answer, sent from another mailbox.
        return SentAnswer(case, to_citizen=True)
    return None
