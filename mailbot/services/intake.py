"""Intake: every message in the complaints folder becomes a case, joins its case, or goes
to quarantine with the reason. One database transaction per message; the message is only
moved on the server after that transaction committed (never lose mail), and the
(folder, UIDVALIDITY, UID) record makes a second pass after a crash a no-op."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import CasesConfig, Config
from mailbot.domain.autoreply import ReplyPolicy, is_auto_submitted, is_bounce, no_reply_reason
from mailbot.domain.deadline import compute_deadline
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
from mailbot.domain.ports import Clock, Mailbox
from mailbot.domain.reference import Reference, find_references, strip_reply_prefixes
from mailbot.domain.workdays import shift_deadline
from mailbot.inbound.parse import ParseError, original_message_ids, parse_mail
from mailbot.persistence import repository as repo
from mailbot.persistence.tables import AttachmentRow, CaseRow, MailboxItemRow, MessageRow
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

FIRST_LINES = 8


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    destination: str  # the folder the message moves to
    reference: str | None = None
    reason: str = ""


@dataclass
class PassStats:
    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    moved: int = 0


class IntakeService:
    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self.policy = ReplyPolicy(
            own_addresses=frozenset(
                {config.smtp.from_address.lower(), config.mailbox.username.lower()}
            ),
            own_message_id_domain=config.message_id_domain,
        )

    # -- one message ------------------------------------------------------------------

    def process(self, item: MailboxMessage) -> IntakeResult:
        """Store one mailbox message and decide what it is. Commits; idempotent.

        A database that is down raises (the pass stops, the mail stays in the inbox and
        is tried again). Any other failure is a bug that this one mail triggers: it is
        rolled back and the mail goes to quarantine with the reason, so that one odd mail
        never blocks the inbox (Mailman's "shunt" queue).
        """
        for attempt in (1, 2):
            try:
                with self.sessions.begin() as session:
                    return self._process(session, item)
            except IntegrityError:
                # Another process stored the same message or blob at the same moment:
                # roll back and look again; the second pass sees its work.
                if attempt == 2:
                    raise
                log.info("intake: uid=%s conflict with a concurrent writer, retrying", item.uid)
            except SQLAlchemyError:
                raise
            except Exception as exc:  # loop boundary: one mail, one failure
                log.exception("intake: uid=%s/%s failed", item.uidvalidity, item.uid)
                with self.sessions.begin() as session:
                    raw_sha = repo.store_blob(session, item.raw)
                    return self._quarantine(
                        session, item, raw_sha, f"internal error while processing: {exc!r}"
                    )
        raise AssertionError("unreachable")

    def _process(self, session: Session, item: MailboxMessage) -> IntakeResult:
        done = repo.find_mailbox_item(session, item.folder, item.uidvalidity, item.uid)
        if done is not None:
            # Stored before a crash or a failed MOVE: only the move is left to do.
            return IntakeResult(
                Outcome(done.outcome),
                done.moved_to or self._destination(Outcome(done.outcome)),
                reason="already stored",
            )
        raw_sha = repo.store_blob(session, item.raw)
        try:
            mail = parse_mail(item.raw)
        except ParseError as exc:
            return self._quarantine(session, item, raw_sha, str(exc))
        except Exception as exc:
            log.exception("intake: uid=%s parser crashed", item.uid)
            return self._quarantine(session, item, raw_sha, f"parser crashed: {exc!r}")

        if repo.inbound_message_exists(session, mail.message_id):
            return self._record(
                session, item, raw_sha, mail, Outcome.DUPLICATE, None, "Message-ID stored before"
            )

        if is_bounce(mail):
            return self._bounce(session, item, raw_sha, mail)

        case = self._find_case(session, mail)
        if case is not None:
            return self._follow_up(session, item, raw_sha, mail, case)

        if self._is_own(mail):
            return self._record(
                session, item, raw_sha, mail, Outcome.NO_CASE, None, "our own mail came back"
            )
        if is_auto_submitted(mail):
            return self._record(
                session,
                item,
                raw_sha,
                mail,
                Outcome.NO_CASE,
                None,
                f"automatic mail (Auto-Submitted: {mail.header('Auto-Submitted')})",
            )
        return self._new_case(session, item, raw_sha, mail)

    # -- outcomes ---------------------------------------------------------------------

    def _destination(self, outcome: Outcome) -> str:
        if outcome is Outcome.QUARANTINED:
            return self.config.mailbox.quarantine_folder
        return self.config.mailbox.processed_folder

    def _record(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail | None,
        outcome: Outcome,
        case: CaseRow | None,
        reason: str = "",
    ) -> IntakeResult:
        destination = self._destination(outcome)
        session.add(
            MailboxItemRow(
                folder=item.folder,
                uidvalidity=item.uidvalidity,
                uid=item.uid,
                message_id=mail.message_id if mail else f"{raw_sha[:32]}@mailbot.invalid",
                raw_sha256=raw_sha,
                arrived_at=item.arrived_at,
                outcome=outcome.value,
                reason=reason,
                case_id=case.id if case else None,
                processed_at=self.clock(),
                moved_to=destination,
            )
        )
        session.flush()
        log.info(
            "intake: uid=%s/%s outcome=%s case=%s%s",
            item.uidvalidity,
            item.uid,
            outcome.value,
            case.reference if case else "-",
            f" reason={reason}" if reason else "",
        )
        return IntakeResult(outcome, destination, case.reference if case else None, reason)

    def _quarantine(
        self, session: Session, item: MailboxMessage, raw_sha: str, reason: str
    ) -> IntakeResult:
        result = self._record(session, item, raw_sha, None, Outcome.QUARANTINED, None, reason)
        self.outbox.enqueue(
            session,
            key=f"quarantine:{item.folder}:{item.uidvalidity}:{item.uid}",
            kind=MessageKind.NOTICE,
            template="staff_quarantine",
            to=[Address(self.config.staff.coordinator)],
            now=self.clock(),
            auto_submitted="auto-generated",
            reason=reason,
            folder=self.config.mailbox.quarantine_folder,
            arrived_at=item.arrived_at,
            size=len(item.raw),
            preview=_header_preview(item.raw),
            sha256=raw_sha,
        )
        return result

    def _is_own(self, mail: InboundMail) -> bool:
        return no_reply_reason(mail, self.policy) == "our own mail"

    def _find_case(self, session: Session, mail: InboundMail) -> CaseRow | None:
        prefix = self.config.cases.reference_prefix
        for ref in find_references(mail.subject, prefix):
            case = repo.find_case_by_reference(session, str(ref))
            if case is not None:
                return case
        return repo.find_case_by_message_ids(
            session, [*mail.in_reply_to, *reversed(mail.references)]
        )

    def _store_message(
        self,
        session: Session,
        case: CaseRow,
        mail: InboundMail,
        kind: MessageKind,
        raw_sha: str,
        item: MailboxMessage,
    ) -> MessageRow:
        message = MessageRow(
            case_id=case.id,
            direction=Direction.IN.value,
            kind=kind.value,
            message_id=mail.message_id,
            in_reply_to=" ".join(mail.in_reply_to),
            sender=str(mail.sender) if mail.sender else "",
            recipients=", ".join(str(a) for a in (*mail.to, *mail.cc)),
            subject=mail.subject,
            at=item.arrived_at,
            body_text=mail.body_text,
            raw_sha256=raw_sha,
        )
        session.add(message)
        session.flush()
        for attachment in mail.attachments:
            session.add(
                AttachmentRow(
                    message_id=message.id,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    size=attachment.size,
                    sha256=repo.store_blob(session, attachment.content),
                )
            )
        return message

    def _bounce(
        self, session: Session, item: MailboxMessage, raw_sha: str, mail: InboundMail
    ) -> IntakeResult:
        case = repo.find_case_by_message_ids(session, original_message_ids(mail))
        if case is None:
            case = self._find_case(session, mail)
        if case is None:
            return self._record(
                session,
                item,
                raw_sha,
                mail,
                Outcome.NO_CASE,
                None,
                "bounce of a mail that belongs to no case",
            )
        self._store_message(session, case, mail, MessageKind.BOUNCE, raw_sha, item)
        self.outbox.enqueue(
            session,
            key=f"bounce:{mail.message_id}",
            kind=MessageKind.NOTICE,
            template="staff_bounce",
            to=[Address(self.config.staff.coordinator)],
            now=self.clock(),
            case=case,
            auto_submitted="auto-generated",
            reference=case.reference,
            citizen=_citizen(case),
            bounce_subject=mail.subject,
            first_lines=_first_lines(mail.body_text),
        )
        return self._record(session, item, raw_sha, mail, Outcome.BOUNCE, case)

    def _follow_up(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail,
        case: CaseRow,
    ) -> IntakeResult:
        kind = MessageKind.AUTO_REPLY if is_auto_submitted(mail) else MessageKind.FOLLOW_UP
        self._store_message(session, case, mail, kind, raw_sha, item)
        return self._record(session, item, raw_sha, mail, Outcome.FOLLOW_UP, case)

    def _new_case(
        self, session: Session, item: MailboxMessage, raw_sha: str, mail: InboundMail
    ) -> IntakeResult:
        cases = self.config.cases
        now = self.clock()
        # The citizen is who wrote the mail; their Reply-To is where they want answers.
        citizen = mail.reply_to[0] if mail.reply_to else mail.sender
        name = (mail.sender.name if mail.sender else "") or (citizen.name if citizen else "")
        received_at = item.arrived_at
        local_year = received_at.astimezone(cases.timezone).year
        number = repo.next_reference_number(session, cases.reference_prefix, local_year)
        reference = Reference(cases.reference_prefix, local_year, number)
        subject = strip_reply_prefixes(mail.subject) or "(geen onderwerp)"
        case = CaseRow(
            reference=str(reference),
            state=CaseState.RECEIVED.value,
            channel=Channel.EMAIL.value,
            citizen_email=citizen.email.lower() if citizen else "",
            citizen_name=name,
            subject=subject,
            received_at=received_at,
            deadline=case_deadline(received_at, cases),
            created_at=now,
        )
        session.add(case)
        session.flush()
        self._store_message(session, case, mail, MessageKind.COMPLAINT, raw_sha, item)

        no_receipt = no_reply_reason(mail, self.policy)
        if no_receipt is None and citizen is not None:
            since = now - timedelta(days=1)
            sent = repo.count_receipts_since(session, citizen.email.lower(), since)
            if sent >= self.config.receipts.max_per_sender_per_day:
                no_receipt = (
                    f"{sent} receipts to this address in the last 24 hours "
                    f"(limit {self.config.receipts.max_per_sender_per_day})"
                )
        if no_receipt is None and citizen is not None:
            self.outbox.enqueue(
                session,
                key=f"receipt:{case.reference}",
                kind=MessageKind.RECEIPT,
                template="receipt",
                to=[Address(citizen.email.lower(), citizen.name)],
                now=now,
                case=case,
                in_reply_to=mail.message_id,
                references=mail.references,
                reference=case.reference,
                citizen_name=case.citizen_name,
                subject=case.subject,
                received_at=case.received_at,
                deadline=case.deadline,
                coordinator=self.config.staff.coordinator,
            )
        self.outbox.enqueue(
            session,
            key=f"notice:{case.reference}",
            kind=MessageKind.NOTICE,
            template="staff_new_case",
            to=[Address(self.config.staff.coordinator)],
            now=now,
            case=case,
            auto_submitted="auto-generated",
            reference=case.reference,
            citizen=_citizen(case),
            subject=case.subject,
            received_at=case.received_at,
            deadline=case.deadline,
            first_lines=_first_lines(mail.body_text),
            attachments=[(a.filename, a.size) for a in mail.attachments],
            no_receipt_reason=no_receipt,
        )
        return self._record(session, item, raw_sha, mail, Outcome.NEW_CASE, case, no_receipt or "")

    # -- a whole folder -----------------------------------------------------------------

    def run_pass(self, mailbox: Mailbox, stop: threading.Event | None = None) -> PassStats:
        """Process every message now in the complaints folder, batch by batch."""
        cfg = self.config.mailbox
        stats = PassStats()
        mailbox.ensure_folders([cfg.processed_folder, cfg.quarantine_folder])
        _uidvalidity, uids = mailbox.open_folder(cfg.folder)
        for start in range(0, len(uids), cfg.batch_size):
            batch = uids[start : start + cfg.batch_size]
            to_move: dict[str, list[int]] = defaultdict(list)
            try:
                for item in mailbox.fetch(cfg.folder, batch):
                    if stop is not None and stop.is_set():
                        break
                    result = self.process(item)
                    stats.seen += 1
                    stats.outcomes[result.outcome.value] += 1
                    to_move[result.destination].append(item.uid)
            finally:
                # Whatever was committed leaves the inbox, also when the batch broke off.
                for destination, moved in to_move.items():
                    mailbox.move(moved, destination)
                    stats.moved += len(moved)
            if stop is not None and stop.is_set():
                log.info("intake: stopping after %s messages", stats.seen)
                break
        return stats


def case_deadline(received_at: datetime, cases: CasesConfig) -> date:
    """The deadline a new case gets under the rules in force now; stored on the case, so
    changing the rules later applies to new cases only."""
    deadline = compute_deadline(received_at, cases.answer_within, cases.timezone)
    if cases.shift_to_working_day:
        deadline = shift_deadline(deadline, cases.calendar)
    return deadline


def _citizen(case: CaseRow) -> str:
    if case.citizen_name:
        return f"{case.citizen_name} <{case.citizen_email}>"
    return case.citizen_email or "(onbekend)"


def _first_lines(text: str, count: int = FIRST_LINES) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    kept = lines[:count]
    if len(lines) > count:
        kept.append("[…]")
    return "\n".join(kept)


def _header_preview(raw: bytes) -> Sequence[str]:
    """A few header lines of a mail we could not parse, for the coordinator to find it."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    wanted = (b"from:", b"subject:", b"date:", b"message-id:")
    lines = [
        line.decode("utf-8", "replace").strip()
        for line in head.splitlines()
        if line.lower().startswith(wanted)
    ]
    return lines[:4]
