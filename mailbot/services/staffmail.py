"""Carrying out what the coordinator does from an ordinary mail client: reasoned answers
(noticed in the sent folder or as a Bcc copy), commands by mail (#ontvankelijk ...) and
letters or forwarded complaints registered with #brief / #nieuw.

Runs inside intake's transaction for one mail. Commands go plan (pure, in
domain/commands/rules.py) -> carry out (in a savepoint, so state and outbox rows commit
together or not at all) -> confirm (a reply to staff only, never to the citizen). Whether
a sender may command at all was decided before (domain/classify.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time

from mailbot.config import Config
from mailbot.domain.classify import RefusedCommands, SentAnswer, StaffCommands
from mailbot.domain.commands import (
    CREATING,
    NOTHING_DONE,
    REASON_LABELS,
    CaseFacts,
    CitizenDetails,
    Command,
    CommandName,
    Step,
    plan_commands,
)
from mailbot.domain.model import Address, CaseState, Channel, Direction, MessageKind, Outcome
from mailbot.domain.ports import Clock
from mailbot.domain.reference import find_references
from mailbot.persistence import audit
from mailbot.persistence.session import Session
from mailbot.persistence.tables import CaseMessageRow, CaseRow
from mailbot.services.arrival import Arrival, Handled
from mailbot.services.cases import case_line, open_case, store_message
from mailbot.services.notices import StaffNotices
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

Effect = Callable[[Session, CaseRow, Command, datetime], str]


class StaffMail:
    def __init__(self, config: Config, outbox: Outbox, notices: StaffNotices, clock: Clock) -> None:
        self.config = config
        self.outbox = outbox
        self.notices = notices
        self.clock = clock
        # What a command does beyond the state change; its text follows the confirmation.
        self.effects: dict[CommandName, Effect] = {
            CommandName.ONONTVANKELIJK: self._inadmissible,
            CommandName.BEANTWOORD: self._answered,
            CommandName.AFSLUITEN: self._closed,
            CommandName.HEROPEN: self._reopened,
            CommandName.DIENST: self._service,
            CommandName.NOTITIE: self._note,
        }

    # -- answers ----------------------------------------------------------------------

    def sent_answer(self, session: Session, arrival: Arrival, decision: SentAnswer) -> Handled:
        """A staff mail about a case: the reasoned answer when it goes to the citizen."""
        case = _row(session, decision.case.id)
        kind = MessageKind.ANSWER if decision.to_citizen else MessageKind.CORRESPONDENCE
        self._store(session, arrival, case, kind, Direction.OUT)
        if decision.to_citizen and case.state in (
            CaseState.RECEIVED.value,
            CaseState.IN_PROGRESS.value,
        ):
            audit.record(
                session,
                case.id,
                self.clock(),
                "answered",
                actor=_actor(arrival),
                before=case.state,
                after=CaseState.ANSWERED.value,
                rule=f"the reasoned answer to the citizen, seen in {arrival.item.folder}",
                message_id=arrival.mail.message_id,
            )
            case.state = CaseState.ANSWERED.value
            case.answered_at = arrival.item.arrived_at
            log.info("staff: case=%s answered (message in %s)", case.reference, arrival.item.folder)
        return Handled(Outcome.STAFF_MAIL, case)

    def refused(self, session: Session, arrival: Arrival, decision: RefusedCommands) -> Handled:
        log.warning(
            "staff: command mail not verified, refused (message %s)", arrival.mail.message_id
        )
        self.notices.refused_command(session, arrival.mail)
        return Handled(Outcome.NO_CASE, None, decision.reason)

    # -- commands: plan, carry out, confirm ---------------------------------------------

    def commands(self, session: Session, arrival: Arrival, decision: StaffCommands) -> Handled:
        parsed = decision.parsed
        case = _row(session, decision.case.id) if decision.case is not None else None
        creating = next((c for c in parsed.commands if c.name in CREATING), None)
        done: list[str] = []
        if parsed.errors:
            # All or nothing: a mail with a typo in one line does none of its commands, so
            # the coordinator never has to work out which half was carried out.
            errors = [NOTHING_DONE, *parsed.errors]
            case = None if creating else case
        else:
            if creating is not None:
                case = self._register(session, arrival, creating, parsed.details)
                done.append(f"Dossier {case.reference} aangemaakt.")
            others = [c for c in parsed.commands if c.name not in CREATING]
            errors = self._carry_out(session, arrival, case, others, done)
        if case is not None and creating is None:
            self._store(session, arrival, case, MessageKind.COMMAND, Direction.IN)
        log.info(
            "staff: commands from %s: %s done, %s refused (case %s)",
            decision.trusted_by,
            len(done),
            len(errors),
            case.reference if case else "-",
        )
        self._confirm(session, arrival, case, done, errors)
        return Handled(Outcome.COMMAND, case, "; ".join(errors))

    def _carry_out(
        self,
        session: Session,
        arrival: Arrival,
        case: CaseRow | None,
        commands: list[Command],
        done: list[str],
    ) -> list[str]:
        if not commands:
            return []
        if case is None:
            refs = find_references(arrival.mail.subject, self.config.cases.reference_prefix)
            if refs:
                return [f"Onbekend dossier {refs[0]}."]
            return ["Geen dossiernummer gevonden: zet het (bv. KL-2026-0042) in het onderwerp."]
        facts = CaseFacts(case.reference, CaseState(case.state), case.admissible)
        plan = plan_commands(commands, facts, self.config.staff.services)
        if not plan.ok:
            return list(plan.errors)
        # A savepoint: what the commands change (state, outbox rows) commits with the
        # mail or not at all.
        with session.begin_nested():
            done.extend(self._step(session, arrival, case, step) for step in plan.steps)
        return []

    def _step(self, session: Session, arrival: Arrival, case: CaseRow, step: Step) -> str:
        command = step.command
        detail = "" if command.name is CommandName.NOTITIE else f" {command.argument}"
        audit.record(
            session,
            case.id,
            self.clock(),
            f"#{command.name.value}",
            actor=_actor(arrival),
            before=case.state,
            after=step.transition.state.value,
            rule=f"regel {command.line}: #{command.name.value}{detail}".rstrip(),
            message_id=arrival.mail.message_id,
        )
        case.state = step.transition.state.value
        case.admissible = step.transition.admissible
        effect = self.effects.get(step.command.name)
        extra = effect(session, case, step.command, self.clock()) if effect else ""
        return step.transition.message + extra

    def _confirm(
        self,
        session: Session,
        arrival: Arrival,
        case: CaseRow | None,
        done: list[str],
        errors: list[str],
    ) -> None:
        mail = arrival.mail
        sender = mail.sender.email.lower() if mail.sender else ""
        staff = self.config.staff
        reply_to = sender if sender in staff.addresses else staff.coordinator
        today = self.clock().astimezone(self.config.cases.timezone).date()
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
            case_line=case_line(case, today) if case is not None else None,
        )

    # -- the effects of each command ----------------------------------------------------

    def _note(self, session: Session, case: CaseRow, command: Command, now: datetime) -> str:
        session.add(
            CaseMessageRow(
                case_id=case.id,
                direction=Direction.IN.value,
                kind=MessageKind.NOTE.value,
                message_id=f"note-{case.reference}-{now.timestamp():.6f}",
                in_reply_to="",
                sender=self.config.staff.coordinator,
                recipients="",
                subject="Notitie",
                at=now,
                body_text=command.argument,
                raw_sha256=None,
            )
        )
        return ""

    def _answered(self, session: Session, case: CaseRow, command: Command, now: datetime) -> str:
        assert command.outcome is not None
        case.outcome = command.outcome.value
        case.answered_at = case.answered_at or now
        return ""

    def _closed(self, session: Session, case: CaseRow, command: Command, now: datetime) -> str:
        case.closed_at = now
        return ""

    def _reopened(self, session: Session, case: CaseRow, command: Command, now: datetime) -> str:
        case.closed_at = None
        if case.admissible is None:  # reopening an inadmissible case reopens that too
            case.inadmissible_reason = None
        return ""

    def _inadmissible(
        self, session: Session, case: CaseRow, command: Command, now: datetime
    ) -> str:
        assert command.reason is not None
        case.inadmissible_reason = command.reason.value
        case.closed_at = now
        label = REASON_LABELS[command.reason]
        if not case.citizen_email:
            return f" Reden: {label}. Er is geen e-mailadres: laat de indiener per brief weten."
        complaint = _first_of(case, MessageKind.COMPLAINT)
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

    def _service(self, session: Session, case: CaseRow, command: Command, now: datetime) -> str:
        name = command.argument.strip().lower()
        case.service = name
        case.service_email = self.config.staff.services[name]
        complaint = _first_of(case, MessageKind.COMPLAINT, MessageKind.LETTER)
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
        return ""

    # -- letters and forwarded complaints -----------------------------------------------

    def _register(
        self,
        session: Session,
        arrival: Arrival,
        command: Command,
        details: CitizenDetails | None,
    ) -> CaseRow:
        # The parser reports a #nieuw or #brief without a name as an error.
        assert details is not None
        received_at = arrival.item.arrived_at
        if details.received_on is not None:
            # A letter counts from the day it arrived (its postmark): noon of that day.
            received_at = datetime.combine(
                details.received_on, time(12), self.config.cases.timezone
            )
        case = open_case(
            session,
            self.config,
            received_at=received_at,
            channel=Channel.LETTER if command.name is CommandName.BRIEF else Channel.EMAIL,
            citizen=Address((details.email or "").lower(), details.name),
            subject=details.subject or arrival.mail.subject,
            now=self.clock(),
        )
        case.citizen_address = details.address
        text = details.text or arrival.mail.body_text
        self._store(session, arrival, case, MessageKind.LETTER, Direction.IN, text)
        return case

    def _store(
        self,
        session: Session,
        arrival: Arrival,
        case: CaseRow,
        kind: MessageKind,
        direction: Direction,
        body_text: str | None = None,
    ) -> int:
        return store_message(
            session, case, arrival.mail, kind, arrival.raw_sha, arrival.item, direction, body_text
        )


def _actor(arrival: Arrival) -> str:
    """Who gave the command: the staff sender's address."""
    sender = arrival.mail.sender
    return sender.email.lower() if sender else "(onbekend)"


def _row(session: Session, case_id: int) -> CaseRow:
    case = session.get(CaseRow, case_id)
    assert case is not None, f"case {case_id} vanished within the transaction"
    return case


def _first_of(case: CaseRow, *kinds: MessageKind) -> CaseMessageRow | None:
    wanted = {k.value for k in kinds}
    return next((m for m in case.messages if m.kind in wanted), None)
