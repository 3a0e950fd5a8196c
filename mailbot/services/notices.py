"""The staff notices intake sends to the coordinator: a new case, a follow-up, a bounce, a
quarantined mail, a refused command. One method per notice; each is queued in the
outbox inside the caller's transaction under a key that makes it happen once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailbot.config import Config
from mailbot.domain.model import (
    Address,
    AddressIssue,
    CaseState,
    FetchedMail,
    InboundMail,
    MessageKind,
)
from mailbot.domain.ports import Clock
from mailbot.domain.quoting import first_lines, trim_quoted
from mailbot.persistence.session import Session
from mailbot.persistence.tables import CaseRow
from mailbot.services.outbox import Outbox

FIRST_LINES = 8


class StaffNotices:
    def __init__(self, config: Config, outbox: Outbox, clock: Clock) -> None:
        self.config = config
        self.outbox = outbox
        self.clock = clock

    def _notify(self, session: Session, key: str, template: str, **values: object) -> None:
        self.outbox.notify(
            session,
            key=key,
            template=template,
            to=self.config.staff.coordinator,
            now=self.clock(),
            **values,  # type: ignore[arg-type]
        )

    def new_case(
        self,
        session: Session,
        case: CaseRow,
        mail: InboundMail,
        text: str,
        no_receipt: str | None,
        hints: Sequence[str],
    ) -> None:
        self._notify(
            session,
            f"notice:{case.reference}",
            "staff_new_case",
            new_key=True,  # the case was opened in this transaction
            case=case,
            reference=case.reference,
            citizen=citizen_label(case),
            channel=case.channel,
            subject=case.subject,
            received_at=case.received_at,
            deadline=case.deadline,
            first_lines=first_lines(trim_quoted(text).strip(), FIRST_LINES),
            attachments=[(a.filename, a.size) for a in mail.attachments],
            no_receipt_reason=no_receipt,
            hints=list(hints),
            other_reply_to=other_reply_to(mail),
            address_notes=address_lines(mail),
        )

    def follow_up(self, session: Session, case: CaseRow, mail: InboundMail, at: datetime) -> bool:
        """Tell the coordinator; True when the case was already answered or closed."""
        closed = case.state in (CaseState.CLOSED.value, CaseState.ANSWERED.value)
        context = {
            "reference": case.reference,
            "subject": case.subject,
            "sender": str(mail.sender) if mail.sender else "(onbekend)",
            "at": at,
            "closed": closed,
            "state": "afgesloten" if case.state == CaseState.CLOSED.value else "beantwoord",
            "first_lines": first_lines(trim_quoted(mail.body_text), 12),
        }
        self._notify(
            session,
            f"followup:{mail.message_id}",
            "staff_follow_up",
            case=case,
            in_reply_to=mail.message_id,
            context=context,
        )
        return closed

    def bounce(self, session: Session, case: CaseRow, mail: InboundMail) -> None:
        self._notify(
            session,
            f"bounce:{mail.message_id}",
            "staff_bounce",
            case=case,
            reference=case.reference,
            citizen=citizen_label(case),
            bounce_subject=mail.subject,
            first_lines=first_lines(mail.body_text.strip(), FIRST_LINES),
        )

    def quarantine(
        self, session: Session, item: FetchedMail, raw_sha: str, reason: str, folder: str
    ) -> None:
        self._notify(
            session,
            f"quarantine:{item.folder}:{item.uidvalidity}:{item.uid}",
            "staff_quarantine",
            reason=reason,
            folder=folder,
            arrived_at=item.arrived_at,
            size=item.oversize or len(item.raw),
            preview=header_preview(item.raw),
            sha256=raw_sha,
        )

    def receipts_paused(self, session: Session, sent: int, limit: int) -> None:
        """Once a day at most: receipts stopped because too many went out in an hour."""
        day = self.clock().astimezone(self.config.cases.timezone).date()
        self._notify(
            session,
            f"receipts-paused:{day.isoformat()}",
            "staff_receipts_paused",
            sent=sent,
            limit=limit,
        )

    def refused_command(self, session: Session, mail: InboundMail) -> None:
        sender = mail.sender.email if mail.sender else "(geen afzender)"
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


def other_reply_to(mail: InboundMail) -> str | None:
    """A Reply-To that differs from the sender: shown to staff, never mailed to."""
    sender = mail.sender.email.lower() if mail.sender else ""
    others = [str(a) for a in mail.reply_to if a.email.lower() != sender]
    return ", ".join(others) or None


def address_lines(mail: InboundMail) -> list[str]:
    """What staff should know about the citizen's address before they write to it."""
    lines = []
    for note in mail.address_notes:
        where = "afzender (From)" if note.header == "From" else "antwoordadres (Reply-To)"
        if note.issue is AddressIssue.TRAILING_DOT:
            lines.append(
                f"Het adres van de {where} eindigde op een punt ({note.as_written}); "
                f"mailbot gebruikt {note.address}."
            )
        elif note.issue is AddressIssue.QUOTED_LOCAL_PART:
            lines.append(
                f"Het adres van de {where}, {note.address}, heeft een deel tussen "
                "aanhalingstekens: geldig, maar veel mailservers weigeren het. Komt er een "
                "foutmelding, zoek dan een ander adres van de indiener."
            )
        elif note.issue is AddressIssue.INVALID:
            lines.append(
                f"Het adres van de {where}, {note.address}, is geen geldig mailadres "
                f"(RFC 5321: {note.reason}); mailbot stuurt er niets naartoe."
            )
        elif note.ascii_form:
            lines.append(
                f"Het adres van de {where}, {note.address}, heeft een domeinnaam met letters "
                f"buiten ASCII; zonder SMTPUTF8 schrijft mailbot naar {note.ascii_form}."
            )
        else:
            lines.append(
                f"Het adres van de {where}, {note.address}, bevat letters buiten ASCII "
                "(RFC 6532): mail ernaar kan alleen via een mailserver met SMTPUTF8."
            )
    return lines


def citizen_label(case: CaseRow) -> str:
    if case.citizen_name:
        return f"{case.citizen_name} <{case.citizen_email}>"
    return case.citizen_email or "(onbekend)"


def header_preview(raw: bytes) -> Sequence[str]:
    """A few header lines of a mail we could not parse, for the coordinator to find it."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    wanted = (b"from:", b"subject:", b"date:", b"message-id:")
    lines = [
        line.decode("utf-8", "replace").strip()
        for line in head.splitlines()
        if line.lower().startswith(wanted)
    ]
    return lines[:4]
