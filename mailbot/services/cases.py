"""Shared case operations for the services: opening a case, storing a message, and the
short description of a case that staff mails show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mailbot.config import CasesConfig, Config
from mailbot.domain.deadline import compute_deadline
from mailbot.domain.model import (
    Address,
    CaseState,
    Channel,
    Direction,
    FetchedMail,
    InboundMail,
    MessageKind,
)
from mailbot.domain.reference import Reference, strip_reply_prefixes
from mailbot.domain.workdays import shift_deadline
from mailbot.persistence.blobs import store_blob
from mailbot.persistence.cases import OpenCase, next_reference_number
from mailbot.persistence.rows import insert_row, insert_row_id
from mailbot.persistence.session import Session
from mailbot.persistence.tables import AttachmentRow, CaseMessageRow, CaseRow

STATE_LABELS = {
    CaseState.RECEIVED.value: "ontvangen, nog niet beoordeeld",
    CaseState.IN_PROGRESS.value: "in behandeling",
    CaseState.ANSWERED.value: "beantwoord",
    CaseState.CLOSED.value: "afgesloten",
    CaseState.IMPORTED.value: "geïmporteerd bij de ingebruikname, nog niet beoordeeld",
}


@dataclass(frozen=True)
class CaseLine:
    """What a staff mail shows of one case."""

    reference: str
    citizen: str
    subject: str
    received_at: datetime
    deadline: date
    days_left: int  # negative when overdue
    state: str
    service: str | None
    moment: str | None = None


def case_line(case: CaseRow | OpenCase, day: date, moment: str | None = None) -> CaseLine:
    citizen = case.citizen_name or case.citizen_email or "(onbekend)"
    if case.citizen_name and case.citizen_email:
        citizen = f"{case.citizen_name} <{case.citizen_email}>"
    return CaseLine(
        reference=case.reference,
        citizen=citizen,
        subject=case.subject,
        received_at=case.received_at,
        deadline=case.deadline,
        days_left=(case.deadline - day).days,
        state=STATE_LABELS.get(case.state, case.state),
        service=case.service,
        moment=moment,
    )


def case_deadline(received_at: datetime, cases: CasesConfig) -> date:
    """The deadline a new case gets under the rules in force now; stored on the case, so
    changing the rules later applies to new cases only."""
    deadline = compute_deadline(received_at, cases.answer_within, cases.timezone)
    if cases.shift_to_working_day:
        deadline = shift_deadline(deadline, cases.calendar)
    return deadline


def open_case(
    session: Session,
    config: Config,
    *,
    received_at: datetime,
    channel: Channel,
    citizen: Address,
    subject: str,
    now: datetime,
) -> CaseRow:
    """A new case with the next reference of the local year of arrival."""
    cases = config.cases
    local_year = received_at.astimezone(cases.timezone).year
    number = next_reference_number(session, cases.reference_prefix, local_year)
    case = CaseRow(
        reference=str(Reference(cases.reference_prefix, local_year, number)),
        state=CaseState.RECEIVED.value,
        channel=channel.value,
        citizen_email=citizen.email.lower(),
        citizen_name=citizen.name,
        subject=strip_reply_prefixes(subject) or "(geen onderwerp)",
        received_at=received_at,
        deadline=case_deadline(received_at, cases),
        created_at=now,
    )
    session.add(case)
    session.flush()
    return case


def store_message(
    session: Session,
    case: CaseRow,
    mail: InboundMail,
    kind: MessageKind,
    raw_sha: str,
    item: FetchedMail,
    direction: Direction = Direction.IN,
    body_text: str | None = None,
) -> int:
    """One mail of a case, with its attachments (content-addressed); returns the
    message's id. `body_text`: what the timeline shows, when not the mail's body (a form's
    text, a letter's)."""
    message_id = insert_row_id(
        session,
        CaseMessageRow,
        case_id=case.id,
        direction=direction.value,
        kind=kind.value,
        message_id=mail.message_id,
        in_reply_to=" ".join(mail.in_reply_to),
        sender=str(mail.sender) if mail.sender else "",
        recipients=", ".join(str(a) for a in (*mail.to, *mail.cc)),
        subject=mail.subject,
        at=item.arrived_at,
        body_text=mail.body_text if body_text is None else body_text,
        raw_sha256=raw_sha,
        flagged=False,
    )
    for attachment in mail.attachments:
        insert_row(
            session,
            AttachmentRow,
            message_id=message_id,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=store_blob(session, attachment.content),
        )
    return message_id
