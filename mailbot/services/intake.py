"""Intake: every message in the complaints folder becomes a case, joins its case, or goes
to quarantine with the reason; staff mail (answers, commands, letters) is handed to
staffmail.py. One database transaction per message; the message is only moved on the
server after that transaction committed (never lose mail), and the (folder, UIDVALIDITY,
UID) record makes a second pass after a crash a no-op. The sent folder is only read."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.autoreply import (
    ReplyPolicy,
    is_auto_submitted,
    is_bounce,
    is_own_message_id,
    no_reply_reason,
)
from mailbot.domain.form import FormError, parse_form
from mailbot.domain.model import (
    Address,
    CaseState,
    Channel,
    InboundMail,
    MailboxMessage,
    MessageKind,
    Outcome,
)
from mailbot.domain.ports import Clock, Mailbox
from mailbot.domain.quoting import first_lines, trim_quoted
from mailbot.domain.triage import hints
from mailbot.inbound.parse import ParseError, original_message_ids, parse_mail
from mailbot.persistence import repository as repo
from mailbot.persistence.tables import CaseRow, FolderStateRow, MailboxItemRow
from mailbot.services.cases import find_case, open_case, store_message
from mailbot.services.outbox import Outbox
from mailbot.services.sentfolder import SentFolder
from mailbot.services.staffmail import StaffMail, follow_up_context

log = logging.getLogger(__name__)

FIRST_LINES = 8


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    destination: str | None  # the folder the message moves to; None: it stays
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
        sent: SentFolder | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self.sent = SentFolder(config.mailbox) if sent is None else sent
        self.staff = StaffMail(config, outbox, clock)
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

    def _in_sent_folder(self, item: MailboxMessage) -> bool:
        return item.folder == self.sent.name

    def _process(self, session: Session, item: MailboxMessage) -> IntakeResult:
        done = repo.find_mailbox_item(session, item.folder, item.uidvalidity, item.uid)
        if done is not None:
            # Stored before a crash or a failed MOVE: only the move is left to do.
            return IntakeResult(Outcome(done.outcome), done.moved_to, reason="already stored")
        raw_sha = repo.store_blob(session, item.raw)
        try:
            mail = parse_mail(item.raw)
        except ParseError as exc:
            return self._quarantine(session, item, raw_sha, str(exc))
        except Exception as exc:
            log.exception("intake: uid=%s parser crashed", item.uid)
            return self._quarantine(session, item, raw_sha, f"parser crashed: {exc!r}")

        if repo.message_exists(session, mail.message_id):
            return self._record(
                session, item, raw_sha, mail, Outcome.DUPLICATE, None, "Message-ID stored before"
            )
        if self._in_sent_folder(item):
            if is_own_message_id(mail.message_id, self.config.message_id_domain):
                return self._record(
                    session, item, raw_sha, mail, Outcome.NO_CASE, None, "mailbot's own mail"
                )
            staff = self.staff.from_sent_folder(session, item, raw_sha, mail)
            return self._record(
                session, item, raw_sha, mail, staff.outcome, staff.case, staff.reason
            )

        if is_bounce(mail):
            return self._bounce(session, item, raw_sha, mail)

        if self.staff.is_staff(mail) and not is_auto_submitted(mail):
            handled = self.staff.from_staff_in_inbox(session, item, raw_sha, mail)
            if handled is not None:
                return self._record(
                    session, item, raw_sha, mail, handled.outcome, handled.case, handled.reason
                )

        form = self.config.form
        if (
            form is not None
            and mail.sender is not None
            and (mail.sender.email.lower() == form.sender.lower())
        ):
            return self._form_case(session, item, raw_sha, mail)

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

    def _destination(self, item: MailboxMessage, outcome: Outcome) -> str | None:
        if self._in_sent_folder(item):
            return None  # the sent folder belongs to the coordinator: read, never move
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
        destination = self._destination(item, outcome)
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
            "intake: %s uid=%s/%s outcome=%s case=%s%s",
            item.folder,
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
        self.outbox.notify(
            session,
            key=f"quarantine:{item.folder}:{item.uidvalidity}:{item.uid}",
            template="staff_quarantine",
            to=self.config.staff.coordinator,
            now=self.clock(),
            reason=reason,
            folder=result.destination or item.folder,
            arrived_at=item.arrived_at,
            size=len(item.raw),
            preview=_header_preview(item.raw),
            sha256=raw_sha,
        )
        return result

    def _is_own(self, mail: InboundMail) -> bool:
        return no_reply_reason(mail, self.policy) == "our own mail"

    def _find_case(self, session: Session, mail: InboundMail) -> CaseRow | None:
        return find_case(session, mail, self.config.cases.reference_prefix)

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
        store_message(session, case, mail, MessageKind.BOUNCE, raw_sha, item)
        self.outbox.notify(
            session,
            key=f"bounce:{mail.message_id}",
            template="staff_bounce",
            to=self.config.staff.coordinator,
            now=self.clock(),
            case=case,
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
        automatic = is_auto_submitted(mail)
        kind = MessageKind.AUTO_REPLY if automatic else MessageKind.FOLLOW_UP
        message = store_message(session, case, mail, kind, raw_sha, item)
        if not automatic:
            context = follow_up_context(case, mail, item.arrived_at)
            # A citizen writing after the case was answered or closed reopens nothing by
            # itself: the message is flagged and the coordinator decides (#heropen).
            message.flagged = bool(context["closed"])
            context["first_lines"] = first_lines(trim_quoted(mail.body_text), 12)
            self.outbox.notify(
                session,
                key=f"followup:{mail.message_id}",
                template="staff_follow_up",
                to=self.config.staff.coordinator,
                now=self.clock(),
                case=case,
                in_reply_to=mail.message_id,
                context=context,
            )
        return self._record(session, item, raw_sha, mail, Outcome.FOLLOW_UP, case)

    def _form_case(
        self, session: Session, item: MailboxMessage, raw_sha: str, mail: InboundMail
    ) -> IntakeResult:
        """The website form: the citizen is in the body, the sender is a no-reply robot."""
        assert self.config.form is not None
        try:
            form = parse_form(mail.body_text, self.config.form)
        except FormError as exc:
            log.warning("intake: form mail uid=%s unreadable: %s", item.uid, exc)
            return self._new_case(session, item, raw_sha, mail, no_receipt=f"form: {exc}")
        citizen = Address((form.email or "").lower(), form.name)
        case = open_case(
            session,
            self.config,
            received_at=item.arrived_at,
            channel=Channel.FORM,
            citizen=citizen,
            subject=form.subject or mail.subject,
            now=self.clock(),
        )
        case.citizen_address = form.address
        message = store_message(session, case, mail, MessageKind.COMPLAINT, raw_sha, item)
        message.body_text = form.text or mail.body_text
        # The form's robot is never answered; the citizen is, when they gave an address.
        no_receipt = None if form.email else "the form gave no e-mail address"
        return self._finish_new_case(
            session,
            item,
            raw_sha,
            mail,
            case,
            citizen,
            message.body_text,
            no_receipt,
            in_reply_to=None,
        )

    def _new_case(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail,
        no_receipt: str | None = None,
    ) -> IntakeResult:
        # The citizen is who wrote the mail; their Reply-To is where they want answers.
        sender = mail.sender
        citizen = mail.reply_to[0] if mail.reply_to else sender
        name = (sender.name if sender else "") or (citizen.name if citizen else "")
        case = open_case(
            session,
            self.config,
            received_at=item.arrived_at,
            channel=Channel.EMAIL,
            citizen=Address(citizen.email if citizen else "", name),
            subject=mail.subject,
            now=self.clock(),
        )
        store_message(session, case, mail, MessageKind.COMPLAINT, raw_sha, item)
        no_receipt = no_receipt or no_reply_reason(mail, self.policy)
        return self._finish_new_case(
            session,
            item,
            raw_sha,
            mail,
            case,
            Address(case.citizen_email, name),
            mail.body_text,
            no_receipt,
            in_reply_to=mail.message_id,
        )

    def _finish_new_case(
        self,
        session: Session,
        item: MailboxMessage,
        raw_sha: str,
        mail: InboundMail,
        case: CaseRow,
        citizen: Address,
        text: str,
        no_receipt: str | None,
        in_reply_to: str | None,
    ) -> IntakeResult:
        now = self.clock()
        if no_receipt is None and citizen.email:
            since = now - timedelta(days=1)
            sent = repo.count_receipts_since(session, citizen.email, since)
            if sent >= self.config.receipts.max_per_sender_per_day:
                no_receipt = (
                    f"{sent} receipts to this address in the last 24 hours "
                    f"(limit {self.config.receipts.max_per_sender_per_day})"
                )
        if no_receipt is None and citizen.email:
            self.outbox.enqueue(
                session,
                key=f"receipt:{case.reference}",
                kind=MessageKind.RECEIPT,
                template="receipt",
                to=[citizen],
                now=now,
                case=case,
                in_reply_to=in_reply_to,
                references=mail.references if in_reply_to else (),
                reference=case.reference,
                citizen_name=case.citizen_name,
                subject=case.subject,
                received_at=case.received_at,
                deadline=case.deadline,
                coordinator=self.config.staff.coordinator,
            )
        elif no_receipt is None:
            no_receipt = "no e-mail address"
        triage = hints(
            case.subject,
            text,
            case.citizen_name,
            case.citizen_email,
            case.received_at.astimezone(self.config.cases.timezone).date(),
            self.config.triage,
            earlier_closed=self._earlier_closed(session, case),
        )
        self.outbox.notify(
            session,
            key=f"notice:{case.reference}",
            template="staff_new_case",
            to=self.config.staff.coordinator,
            now=now,
            case=case,
            reference=case.reference,
            citizen=_citizen(case),
            channel=case.channel,
            subject=case.subject,
            received_at=case.received_at,
            deadline=case.deadline,
            first_lines=_first_lines(trim_quoted(text)),
            attachments=[(a.filename, a.size) for a in mail.attachments],
            no_receipt_reason=no_receipt,
            hints=[h.evidence for h in triage],
        )
        return self._record(session, item, raw_sha, mail, Outcome.NEW_CASE, case, no_receipt or "")

    def _earlier_closed(self, session: Session, case: CaseRow) -> list[tuple[str, str]]:
        if not case.citizen_email:
            return []
        rows = session.execute(
            select(CaseRow.reference, CaseRow.subject).where(
                CaseRow.citizen_email == case.citizen_email,
                CaseRow.id != case.id,
                CaseRow.state.in_([CaseState.CLOSED.value, CaseState.ANSWERED.value]),
            )
        )
        return [(ref, subject) for ref, subject in rows]

    # -- a whole folder -----------------------------------------------------------------

    def run_pass(self, mailbox: Mailbox, stop: threading.Event | None = None) -> PassStats:
        """Process every message now in the complaints folder, batch by batch; then the
        new messages in the sent folder, if one is configured or found on the server."""
        cfg = self.config.mailbox
        stats = PassStats()
        mailbox.ensure_folders([cfg.processed_folder, cfg.quarantine_folder])
        _uidvalidity, uids = mailbox.open_folder(cfg.folder)
        self._run_folder(mailbox, cfg.folder, uids, stats, stop)
        sent = self.sent.find(mailbox)
        if sent and not (stop is not None and stop.is_set()):
            uidvalidity, uids = mailbox.open_folder(sent)
            new = self._unread_sent(sent, uidvalidity, uids)
            self._run_folder(mailbox, sent, new, stats, stop)
        return stats

    def _run_folder(
        self,
        mailbox: Mailbox,
        folder: str,
        uids: list[int],
        stats: PassStats,
        stop: threading.Event | None,
    ) -> None:
        cfg = self.config.mailbox
        for start in range(0, len(uids), cfg.batch_size):
            batch = uids[start : start + cfg.batch_size]
            to_move: dict[str, list[int]] = defaultdict(list)
            try:
                for item in mailbox.fetch(folder, batch):
                    if stop is not None and stop.is_set():
                        break
                    result = self.process(item)
                    stats.seen += 1
                    stats.outcomes[result.outcome.value] += 1
                    if result.destination is not None:
                        to_move[result.destination].append(item.uid)
                    else:
                        self._mark_read(folder, item.uidvalidity, item.uid)
            finally:
                # Whatever was committed leaves the inbox, also when the batch broke off.
                for destination, moved in to_move.items():
                    mailbox.move(moved, destination)
                    stats.moved += len(moved)
            if stop is not None and stop.is_set():
                log.info("intake: stopping after %s messages", stats.seen)
                break

    def _unread_sent(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> list[int]:
        """The sent folder's messages mailbot has not read yet. The first time it sees the
        folder it starts from now: years of old sent mail are not the coordinator's
        commands for today."""
        with self.sessions.begin() as session:
            state = session.get(FolderStateRow, folder)
            if state is None or state.uidvalidity != uidvalidity:
                last = max(uids, default=0)
                if state is None:
                    session.add(
                        FolderStateRow(folder=folder, uidvalidity=uidvalidity, last_uid=last)
                    )
                    log.info("intake: watching %s from uid %s on", folder, last + 1)
                    return []
                # UIDVALIDITY changed (the folder was rebuilt): read it again; Message-IDs
                # already stored are recognised as duplicates.
                state.uidvalidity, state.last_uid = uidvalidity, 0
            return [u for u in uids if u > state.last_uid]

    def _mark_read(self, folder: str, uidvalidity: int, uid: int) -> None:
        with self.sessions.begin() as session:
            state = session.get(FolderStateRow, folder)
            if state is not None and state.uidvalidity == uidvalidity and uid > state.last_uid:
                state.last_uid = uid


def _citizen(case: CaseRow) -> str:
    if case.citizen_name:
        return f"{case.citizen_name} <{case.citizen_email}>"
    return case.citizen_email or "(onbekend)"


def _first_lines(text: str, count: int = FIRST_LINES) -> str:
    return first_lines(text.strip(), count)


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
