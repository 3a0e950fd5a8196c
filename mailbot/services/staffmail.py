"""What the coordinator does from an ordinary mail client: reasoned answers (noticed in the
sent folder or as a Bcc copy), commands by mail (#ontvankelijk ...) and letters or
forwarded complaints registered with #brief / #nieuw.

Runs inside intake's transaction for one mail, so a command and its effects (state, outbox
rows for the confirmation, the citizen's reply, the service's request) commit together or
not at all. Commands are obeyed only from the sent folder (the shared mailbox itself) or
from a staff address whose domain a trusted receiving server vouched for; confirmations
go to staff only, never to the citizen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.orm import Session

from mailbot.config import Config
from mailbot.domain.commands import (
    REASON_LABELS,
    CitizenDetails,
    Command,
    CommandError,
    CommandName,
    apply,
    parse_commands,
)
from mailbot.domain.model import (
    Address,
    CaseState,
    Channel,
    Direction,
    InboundMail,
    MailboxMessage,
    MessageKind,
    Outcome,
)
from mailbot.domain.ports import Clock
from mailbot.domain.quoting import first_lines
from mailbot.domain.reference import find_references
from mailbot.domain.trust import verified_sender
from mailbot.persistence.tables import CaseRow, MessageRow
from mailbot.services.cases import case_line, find_case, open_case, store_message
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffOutcome:
    outcome: Outcome
    case: CaseRow | None
    reason: str = ""


class StaffMail:
    def __init__(self, config: Config, outbox: Outbox, clock: Clock) -> None:
        self.config = config
        self.outbox = outbox
        self.clock = clock

    # -- recognising ------------------------------------------------------------------

    def is_staff(self, mail: InboundMail) -> bool:
        return mail.sender is not None and mail.sender.email.lower() in self.config.staff.addresses

    def verification(self, mail: InboundMail) -> str | None:
        if mail.sender is None:
            return None
        return verified_sender(
            mail.sender.email,
            mail.header_all("Authentication-Results"),
            self.config.staff.authserv_ids,
        )

    def find_case(self, session: Session, mail: InboundMail) -> CaseRow | None:
        return find_case(session, mail, self.config.cases.reference_prefix)

    def is_to_citizen(self, mail: InboundMail, case: CaseRow) -> bool:
        recipients = {a.email.lower() for a in (*mail.to, *mail.cc)}
        bcc = {a.strip().lower() for h in mail.header_all("Bcc") for a in h.split(",")}
        return bool(case.citizen_email) and case.citizen_email.lower() in recipients | bcc

    # -- the sent folder ----------------------------------------------------------------

    def from_sent_folder(
        self, session: Session, item: MailboxMessage, raw_sha: str, mail: InboundMail
    ) -> StaffOutcome:
        """A mail sent from the shared mailbox: an answer, a command, or unrelated."""
        parsed = parse_commands(mail.body_text)
        if parsed.commands or parsed.errors:
            return self.execute(session, item, raw_sha, mail, trusted_by="sent folder")
        case = self.find_case(session, mail)
        if case is None:
            return StaffOutcome(Outcome.NO_CASE, None, "sent mail about no case")
        self._record_out(session, case, mail, item, raw_sha)
        return StaffOutcome(Outcome.STAFF_MAIL, case)

    def _record_out(
        self,
        session: Session,
        case: CaseRow,
        mail: InboundMail,
        item: MailboxMessage,
        raw_sha: str,
    ) -> MessageRow:
        """A staff mail about a case: the reasoned answer when it goes to the citizen."""
        answer = self.is_to_citizen(mail, case)
        row = self._store(
            session,
            case,
            mail,
            item,
            raw_sha,
            MessageKind.ANSWER if answer else MessageKind.CORRESPONDENCE,
            Direction.OUT,
        )
        if answer and case.state in (CaseState.RECEIVED.value, CaseState.IN_PROGRESS.value):
            case.state = CaseState.ANSWERED.value
            case.answered_at = item.arrived_at
            log.info("staff: case=%s answered (message in %s)", case.reference, item.folder)
        return row

    # -- the inbox ----------------------------------------------------------------------

    def from_staff_in_inbox(
        self, session: Session, item: MailboxMessage, raw_sha: str, mail: InboundMail
    ) -> StaffOutcome | None:
        """A staff member's mail in the inbox; None when it is just an ordinary mail."""
        parsed = parse_commands(mail.body_text)
        evidence = self.verification(mail)
        if parsed.commands or parsed.errors:
            if evidence is None:
                self._refuse(session, mail)
                return StaffOutcome(
                    Outcome.NO_CASE, None, "command from an unverified sender refused"
                )
            return self.execute(session, item, raw_sha, mail, trusted_by=evidence)
        case = self.find_case(session, mail)
        if case is not None and evidence is not None and self.is_to_citizen(mail, case):
            # A Bcc copy of the coordinator's answer, sent from another mailbox.
            self._record_out(session, case, mail, item, raw_sha)
            return StaffOutcome(Outcome.STAFF_MAIL, case)
        return None

    def _refuse(self, session: Session, mail: InboundMail) -> None:
        sender = mail.sender.email if mail.sender else "(geen afzender)"
        log.warning("staff: command mail not verified, refused (message %s)", mail.message_id)
        self.outbox.enqueue(
            session,
            key=f"refused:{mail.message_id}",
            kind=MessageKind.NOTICE,
            template="staff_confirmation",
            to=[Address(self.config.staff.coordinator)],
            now=self.clock(),
            auto_submitted="auto-replied",
            original_subject=mail.subject,
            case_line=None,
            commands=[],
            errors=[
                f"Commando's geweigerd: de afzender {sender} is niet bevestigd door jullie "
                "mailserver (geen DMARC- of DKIM-pass). Was dit echt iemand van de "
                "klachtendienst, stuur het commando dan vanuit de klachtenmailbox."
            ],
        )

    # -- commands -----------------------------------------------------------------------

    def execute(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail,
        trusted_by: str,
    ) -> StaffOutcome:
        parsed = parse_commands(mail.body_text)
        done: list[str] = []
        errors: list[str] = list(parsed.errors)
        creating = [c for c in parsed.commands if c.name in (CommandName.NIEUW, CommandName.BRIEF)]
        case: CaseRow | None = None
        if errors:
            # All or nothing: a mail with a typo in one line does none of its commands, so
            # the coordinator never has to work out which half was carried out.
            errors.insert(0, "Niets uitgevoerd: verbeter de fout en stuur de mail opnieuw.")
            case = None if creating else self.find_case(session, mail)
            creating = []
            others: list[Command] = []
        elif creating:
            case = self._register(session, item, raw_sha, mail, creating[0], parsed.details)
            if case is not None:
                done.append(f"Dossier {case.reference} aangemaakt.")
            else:
                errors.append("Geen dossier aangemaakt: vermeld minstens 'Naam:' of 'E-mail:'.")
        else:
            case = self.find_case(session, mail)
        if not errors:
            others = [c for c in parsed.commands if c not in creating]
        if case is None and others:
            refs = find_references(mail.subject, self.config.cases.reference_prefix)
            errors.append(
                f"Onbekend dossier {refs[0]}."
                if refs
                else "Geen dossiernummer gevonden: zet het (bv. KL-2026-0042) in het onderwerp."
            )
            others = []
        if case is not None and not creating:
            self._store(session, case, mail, item, raw_sha, MessageKind.COMMAND, Direction.IN)
        if others:
            assert case is not None
            # A savepoint: when one command is not allowed, the ones before it are undone
            # too (state, outbox rows), and the reply says nothing was carried out.
            savepoint = session.begin_nested()
            carried_out: list[str] = []
            for command in others:
                try:
                    carried_out.append(self._run(session, case, command, mail))
                except CommandError as exc:
                    errors.append(str(exc))
                    break
            if errors:
                savepoint.rollback()
                session.refresh(case)
                if len(others) > 1:
                    errors.insert(0, "Niets uitgevoerd: de commando's hieronder horen samen.")
            else:
                savepoint.commit()
                done.extend(carried_out)
        log.info(
            "staff: commands from %s: %s done, %s refused (case %s)",
            trusted_by,
            len(done),
            len(errors),
            case.reference if case else "-",
        )
        sender = mail.sender.email.lower() if mail.sender else ""
        reply_to = (
            sender if sender in self.config.staff.addresses else self.config.staff.coordinator
        )
        self.outbox.enqueue(
            session,
            key=f"confirm:{mail.message_id}",
            kind=MessageKind.CONFIRMATION,
            template="staff_confirmation",
            to=[Address(reply_to)],
            now=self.clock(),
            case=case,
            in_reply_to=mail.message_id,
            references=mail.references,
            auto_submitted="auto-replied",
            original_subject=mail.subject,
            commands=done,
            errors=errors,
            case_line=(
                case_line(case, self.clock().astimezone(self.config.cases.timezone).date())
                if case is not None
                else None
            ),
        )
        return StaffOutcome(Outcome.COMMAND, case, "; ".join(errors))

    def _run(self, session: Session, case: CaseRow, command: Command, mail: InboundMail) -> str:
        now = self.clock()
        if command.name is CommandName.NOTITIE:
            self._note(session, case, command.argument, now)
            return f"Notitie toegevoegd aan {case.reference}."
        if command.name is CommandName.DIENST:
            name = command.argument.strip().lower()
            address = self.config.staff.services.get(name)
            if address is None:
                known = ", ".join(sorted(self.config.staff.services)) or "(geen ingesteld)"
                raise CommandError(f"Onbekende dienst '{command.argument}'. Bekend: {known}.")
        transition = apply(command, CaseState(case.state), case.admissible, case.reference)
        case.state = transition.state.value
        case.admissible = transition.admissible
        if command.name is CommandName.ONONTVANKELIJK:
            assert command.reason is not None
            case.inadmissible_reason = command.reason.value
            case.closed_at = now
            return transition.message + self._tell_inadmissible(session, case, command, now)
        if command.name is CommandName.BEANTWOORD:
            assert command.outcome is not None
            case.outcome = command.outcome.value
            case.answered_at = case.answered_at or now
        elif command.name is CommandName.AFSLUITEN:
            case.closed_at = now
        elif command.name is CommandName.HEROPEN:
            case.closed_at = None
            if case.admissible is None:  # reopening an inadmissible case reopens that too
                case.inadmissible_reason = None
        elif command.name is CommandName.DIENST:
            name = command.argument.strip().lower()
            case.service = name
            case.service_email = self.config.staff.services[name]
            self._ask_service(session, case, name, now)
        return transition.message

    def _note(self, session: Session, case: CaseRow, text: str, now: datetime) -> None:
        session.add(
            MessageRow(
                case_id=case.id,
                direction=Direction.IN.value,
                kind=MessageKind.NOTE.value,
                message_id=f"note-{case.reference}-{now.timestamp():.6f}",
                in_reply_to="",
                sender=self.config.staff.coordinator,
                recipients="",
                subject="Notitie",
                at=now,
                body_text=text,
                raw_sha256=None,
            )
        )

    def _tell_inadmissible(
        self, session: Session, case: CaseRow, command: Command, now: datetime
    ) -> str:
        assert command.reason is not None
        label = REASON_LABELS[command.reason]
        if not case.citizen_email:
            return f" Reden: {label}. Er is geen e-mailadres: laat de indiener per brief weten."
        complaint = next((m for m in case.messages if m.kind == MessageKind.COMPLAINT.value), None)
        self.outbox.enqueue(
            session,
            key=f"inadmissible:{case.reference}:{now.isoformat()}",
            kind=MessageKind.INADMISSIBLE,
            template="inadmissible",
            to=[Address(case.citizen_email, case.citizen_name)],
            now=now,
            case=case,
            in_reply_to=complaint.message_id if complaint else None,
            auto_submitted="no",
            reference=case.reference,
            citizen_name=case.citizen_name,
            received_at=case.received_at,
            reason=command.reason.value,
        )
        return f" Reden: {label}. De indiener krijgt een gemotiveerd antwoord per mail."

    def _ask_service(self, session: Session, case: CaseRow, name: str, now: datetime) -> None:
        complaint = next(
            (
                m
                for m in case.messages
                if m.kind in (MessageKind.COMPLAINT.value, MessageKind.LETTER.value)
            ),
            None,
        )
        self.outbox.enqueue(
            session,
            key=f"service:{case.reference}:{name}:{now.isoformat()}",
            kind=MessageKind.SERVICE_REQUEST,
            template="service_request",
            to=[Address(self.config.staff.services[name])],
            now=now,
            case=case,
            auto_submitted="auto-generated",
            service=name,
            c=case_line(case, now.astimezone(self.config.cases.timezone).date()),
            complaint_text=complaint.body_text if complaint else "",
            note=None,
        )

    # -- letters and forwarded complaints -----------------------------------------------

    def _register(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail,
        command: Command,
        details: CitizenDetails | None,
    ) -> CaseRow | None:
        if details is None or not (details.name or details.email):
            return None
        tz = self.config.cases.timezone
        received_at = item.arrived_at
        if details.received_on is not None:
            # A letter counts from the day it arrived (its postmark): noon of that day.
            received_at = datetime.combine(details.received_on, time(12), tz)
        letter = command.name is CommandName.BRIEF
        case = open_case(
            session,
            self.config,
            received_at=received_at,
            channel=Channel.LETTER if letter else Channel.EMAIL,
            citizen=Address((details.email or "").lower(), details.name),
            subject=details.subject or mail.subject,
            now=self.clock(),
        )
        case.citizen_address = details.address
        message = self._store(session, case, mail, item, raw_sha, MessageKind.LETTER, Direction.IN)
        message.body_text = details.text or mail.body_text
        return case

    # -- storage ------------------------------------------------------------------------

    def _store(
        self,
        session: Session,
        case: CaseRow,
        mail: InboundMail,
        item: MailboxMessage,
        raw_sha: str,
        kind: MessageKind,
        direction: Direction,
    ) -> MessageRow:
        return store_message(session, case, mail, kind, raw_sha, item, direction)


def follow_up_context(case: CaseRow, mail: InboundMail, at: datetime) -> dict[str, object]:
    closed = case.state in (CaseState.CLOSED.value, CaseState.ANSWERED.value)
    return {
        "reference": case.reference,
        "subject": case.subject,
        "sender": str(mail.sender) if mail.sender else "(onbekend)",
        "at": at,
        "closed": closed,
        "state": "afgesloten" if case.state == CaseState.CLOSED.value else "beantwoord",
        "first_lines": first_lines(mail.body_text, 12),
    }
