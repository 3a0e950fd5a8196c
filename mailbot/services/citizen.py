"""Carrying out the decisions about citizens' mail: a new case with its receipt, a case
from the website form, a follow-up in a known case, a bounce of our own mail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from mailbot.config import Config
from mailbot.domain.classify import Bounce, FollowUp, Form, NewCase
from mailbot.domain.echo import safe_echo
from mailbot.domain.errors import SendTemporaryError
from mailbot.domain.form import FormError, parse_form
from mailbot.domain.model import (
    Address,
    AddressIssue,
    CaseState,
    Channel,
    InboundMail,
    MessageKind,
    Outcome,
)
from mailbot.domain.ports import Clock
from mailbot.domain.triage import hints
from mailbot.persistence import cases as case_queries
from mailbot.persistence.outbox import count_receipts_for_arrivals, count_receipts_since
from mailbot.persistence.session import Session
from mailbot.persistence.tables import CaseRow
from mailbot.services.arrival import Arrival, Handled
from mailbot.services.cases import open_case, store_message
from mailbot.services.notices import StaffNotices
from mailbot.services.outbox import Outbox

log = logging.getLogger(__name__)

MAX_ADDRESS = 254  # RFC 5321 section 4.5.3.1.3: a longer path cannot be delivered


class CitizenMail:
    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        notices: StaffNotices,
        clock: Clock,
        new_state: CaseState = CaseState.RECEIVED,
        smtputf8: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.smtputf8 = smtputf8  # asks the SMTP server (see _route)
        self.outbox = outbox
        self.notices = notices
        self.clock = clock
        self.new_state = new_state  # IMPORTED for a mailbox's backlog

    def bounce(self, session: Session, arrival: Arrival, decision: Bounce) -> Handled:
        if decision.case is None:
            return Handled(Outcome.NO_CASE, None, "bounce of a mail that belongs to no case")
        case = session.get(CaseRow, decision.case.id)
        assert case is not None
        store_message(
            session, case, arrival.mail, MessageKind.BOUNCE, arrival.raw_sha, arrival.item
        )
        self.notices.bounce(session, case, arrival.mail)
        return Handled(Outcome.BOUNCE, case)

    def follow_up(self, session: Session, arrival: Arrival, decision: FollowUp) -> Handled:
        case = session.get(CaseRow, decision.case.id)
        assert case is not None
        mail, item = arrival.mail, arrival.item
        kind = MessageKind.AUTO_REPLY if decision.automatic else MessageKind.FOLLOW_UP
        message_id = store_message(session, case, mail, kind, arrival.raw_sha, item)
        # A citizen writing after the case was answered or closed reopens nothing by
        # itself: the message is flagged and the coordinator decides (#heropen).
        if not decision.automatic and self.notices.follow_up(session, case, mail, item.arrived_at):
            case_queries.flag_message(session, message_id)
        return Handled(Outcome.FOLLOW_UP, case)

    def form(self, session: Session, arrival: Arrival, decision: Form) -> Handled:
        """The website form: the citizen is in the body, the sender is a no-reply robot."""
        assert self.config.form is not None
        mail, item = arrival.mail, arrival.item
        try:
            form = parse_form(mail.body_text, self.config.form)
        except FormError as exc:
            log.warning("intake: form mail uid=%s unreadable: %s", item.uid, exc)
            return self.new_case(session, arrival, NewCase(no_receipt=f"form: {exc}"))
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
        case.state = self.new_state.value
        text = form.text or mail.body_text
        store_message(
            session, case, mail, MessageKind.COMPLAINT, arrival.raw_sha, item, body_text=text
        )
        # The form's robot is never answered; the citizen is, when they gave an address.
        no_receipt = None if form.email else "the form gave no e-mail address"
        return self._finish(session, arrival, case, citizen, text, no_receipt, False)

    def new_case(self, session: Session, arrival: Arrival, decision: NewCase) -> Handled:
        # The citizen is who wrote the mail. A Reply-To elsewhere is shown to the
        # coordinator, never mailed automatically: anyone can write any Reply-To.
        mail, item = arrival.mail, arrival.item
        sender = mail.sender
        name = sender.name if sender else ""
        email = sender.email if sender and len(sender.email) <= MAX_ADDRESS else ""
        case = open_case(
            session,
            self.config,
            received_at=item.arrived_at,
            channel=Channel.EMAIL,
            citizen=Address(email, name),
            subject=mail.subject,
            now=self.clock(),
        )
        case.state = self.new_state.value
        store_message(session, case, mail, MessageKind.COMPLAINT, arrival.raw_sha, item)
        no_receipt = decision.no_receipt
        if sender and not email:
            no_receipt = no_receipt or f"the sender address is longer than {MAX_ADDRESS} characters"
        no_receipt = no_receipt or _invalid_sender(mail)
        who = Address(case.citizen_email, name)
        return self._finish(session, arrival, case, who, mail.body_text, no_receipt, True)

    def _finish(
        self,
        session: Session,
        arrival: Arrival,
        case: CaseRow,
        citizen: Address,
        text: str,
        no_receipt: str | None,
        threaded: bool,
    ) -> Handled:
        """The receipt to the citizen, unless there is a reason not to, and the notice."""
        # Read before anything is queued: the receipt, the notice and the records are then
        # written together when the mail's savepoint ends (one flush, not two).
        earlier_closed = case_queries.earlier_closed(session, case)
        if self.new_state is CaseState.IMPORTED:
            no_receipt = "imported with the mailbox's backlog: nobody was mailed"
        if no_receipt is None:
            no_receipt = self._too_late(case)
        if no_receipt is None:
            route = self._route(arrival.mail, citizen)
            no_receipt, citizen = (route, citizen) if isinstance(route, str) else (None, route)
        if no_receipt is None:
            no_receipt = self._over_limit(session, case, citizen)
        if no_receipt is None:
            self._receipt(session, arrival, case, citizen, threaded)
        triage = hints(
            case.subject,
            text,
            case.citizen_name,
            case.citizen_email,
            case.received_at.astimezone(self.config.cases.timezone).date(),
            self.config.triage,
            earlier_closed=earlier_closed,
        )
        self.notices.new_case(
            session, case, arrival.mail, text, no_receipt, [h.evidence for h in triage]
        )
        return Handled(Outcome.NEW_CASE, case, no_receipt or "")

    def _too_late(self, case: CaseRow) -> str | None:
        """Never a receipt that promises an answer date already gone by (old mail read
        late, a mailbox with history)."""
        today = self.clock().astimezone(self.config.cases.timezone).date()
        if case.deadline < today:
            return (
                f"the answer date {case.deadline:%d-%m-%Y} has already passed "
                f"(received {case.received_at.astimezone(self.config.cases.timezone):%d-%m-%Y}); "
                "answer the citizen yourself"
            )
        return None

    def _route(self, mail: InboundMail, citizen: Address) -> Address | str:
        """Where the receipt goes, or why it cannot go anywhere. An internationalised
        address (RFC 6532) needs a server that offers SMTPUTF8 (RFC 6531); when only its
        domain is, the domain's A-labels (RFC 5891) reach it through any server. Decided
        before queueing, so no receipt waits in the outbox for a server that will never
        take it; when the server cannot be asked now, the receipt is queued and dispatch
        fails it for good if SMTPUTF8 is missing."""
        if citizen.email.isascii() or self.smtputf8 is None:
            return citizen
        try:
            offered: bool | None = self.smtputf8()
        except SendTemporaryError as exc:
            log.warning("intake: cannot ask the SMTP server about SMTPUTF8 now: %s", exc)
            offered = None
        if offered:
            return citizen
        ascii_form = next(
            (
                n.ascii_form
                for n in mail.address_notes
                if n.issue is AddressIssue.INTERNATIONALISED and n.address == citizen.email
            ),
            "",
        )
        if ascii_form:
            return Address(ascii_form, citizen.name)
        if offered is None:
            return citizen
        return (
            "the address is internationalised (RFC 6532) and our SMTP server does not "
            "offer SMTPUTF8 (RFC 6531), which mail to it needs"
        )

    def _over_limit(self, session: Session, case: CaseRow, citizen: Address) -> str | None:
        """Limits that stop mail loops and abuse: per address a day, per mail domain an
        hour, and all receipts together an hour (then receipts pause; cases are still
        opened and the coordinator is told once a day)."""
        if not citizen.email:
            return "no e-mail address"
        limits, now = self.config.receipts, self.clock()
        # Counted by the hour the mails *arrived*: a loop's mails arrive within minutes,
        # a morning's backlog after an outage arrived over hours and is answered.
        arrived = case.received_at
        domain = citizen.email.rpartition("@")[2].lower()
        hour = count_receipts_for_arrivals(
            session, arrived - timedelta(hours=1), arrived, limits.max_per_hour, domain
        )
        if hour.all >= limits.max_per_hour:
            self.notices.receipts_paused(session, hour.all, limits.max_per_hour)
            return (
                f"receipts paused: {hour.all} receipts in the last hour "
                f"(limit {limits.max_per_hour})"
            )
        if hour.to_domain >= limits.max_per_domain_per_hour:
            return (
                f"{hour.to_domain} receipts to @{domain} in the last hour "
                f"(limit {limits.max_per_domain_per_hour})"
            )
        sent = count_receipts_since(session, now - timedelta(days=1), recipient=citizen.email)
        if sent >= limits.max_per_sender_per_day:
            return (
                f"{sent} receipts to this address in the last 24 hours "
                f"(limit {limits.max_per_sender_per_day})"
            )
        return None

    def _receipt(
        self, session: Session, arrival: Arrival, case: CaseRow, citizen: Address, threaded: bool
    ) -> None:
        mail = arrival.mail
        self.outbox.enqueue(
            session,
            key=f"receipt:{case.reference}",
            kind=MessageKind.RECEIPT,
            new_key=True,  # only a case opened in this transaction gets a receipt
            template="receipt",
            to=[Address(citizen.email, safe_echo(citizen.name, 80))],
            now=self.clock(),
            case=case,
            in_reply_to=mail.message_id if threaded else None,
            references=mail.references if threaded else (),
            reference=case.reference,
            citizen_name=safe_echo(case.citizen_name, 80),
            subject=safe_echo(case.subject),
            received_at=case.received_at,
            deadline=case.deadline,
            coordinator=self.config.staff.coordinator,
        )


def _invalid_sender(mail: InboundMail) -> str | None:
    """Why the sender's address may not be written to (RFC 5321 §4.1.2), if so."""
    for note in mail.address_notes:
        if note.header == "From" and note.issue is AddressIssue.INVALID:
            return f"the sender address is not a valid mailbox (RFC 5321): {note.reason}"
    return None
