"""The vocabulary shared by every layer: inbound mail, cases, messages, states."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class CaseState(enum.StrEnum):
    RECEIVED = "received"  # ontvangen: waiting for the admissibility decision
    IN_PROGRESS = "in_progress"  # in behandeling
    ANSWERED = "answered"  # beantwoord
    CLOSED = "closed"  # afgesloten
    # Mail that was already in the mailbox when mailbot went live (`mailbot backlog
    # import`): recorded, never answered automatically, no reminders until the
    # coordinator acts on it.
    IMPORTED = "imported"


class Channel(enum.StrEnum):
    EMAIL = "email"
    FORM = "form"
    LETTER = "letter"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class MessageKind(enum.StrEnum):
    COMPLAINT = "complaint"  # the mail that opened the case
    FOLLOW_UP = "follow_up"  # a later mail from the citizen in the same case
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic mail, recorded only
    BOUNCE = "bounce"  # a delivery status notification about our own mail
    RECEIPT = "receipt"  # our ontvangstmelding
    NOTICE = "notice"  # our staff notice
    REMINDER = "reminder"  # a staff reminder, escalation or digest
    ANSWER = "answer"  # the coordinator's reasoned answer to the citizen
    CORRESPONDENCE = "correspondence"  # other staff mail about the case (e.g. to a service)
    COMMAND = "command"  # a staff mail with #commands
    CONFIRMATION = "confirmation"  # our reply to a command mail
    INADMISSIBLE = "inadmissible"  # the reasoned "not admissible" reply to the citizen
    SERVICE_REQUEST = "service_request"  # the request for input to the involved service
    NOTE = "note"  # #notitie
    LETTER = "letter"  # a paper letter or a forwarded complaint registered with #brief/#nieuw


class Outcome(enum.StrEnum):
    """What intake did with one mailbox message."""

    NEW_CASE = "new_case"
    FOLLOW_UP = "follow_up"
    BOUNCE = "bounce"
    QUARANTINED = "quarantined"
    # the same Message-ID was stored before (e.g. after UIDVALIDITY changed)
    DUPLICATE = "duplicate"
    NO_CASE = "no_case"  # recorded, but opens no case (auto-reply without a case, our own mail)
    COMMAND = "command"  # staff commands carried out (or refused with the reason)
    STAFF_MAIL = "staff_mail"  # the coordinator's answer or other staff mail about a case


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class AddressIssue(enum.StrEnum):
    """Why a citizen's address needs a look before mailbot writes to it."""

    # RFC 6532 §3.2 / RFC 6531: non-ASCII address; a reply needs an SMTPUTF8 server.
    INTERNATIONALISED = "internationalised"
    # RFC 5322 §3.4.1: a quoted local part ("jan peeters"@...); valid, but often refused.
    QUOTED_LOCAL_PART = "quoted_local_part"
    # RFC 5321 §4.1.2: a domain has no trailing dot; the dot was removed (normalised).
    TRAILING_DOT = "trailing_dot"
    # RFC 5321 §4.1.2: neither a Dot-string nor a Quoted-string, or no valid domain
    # ("taro..yamada@", "jan.@", "@example..be"): no server may take it, nothing is sent.
    INVALID = "invalid"


@dataclass(frozen=True)
class AddressNote:
    """One finding about an address in From or Reply-To, for the caller to act on or show."""

    header: str  # "From" or "Reply-To"
    issue: AddressIssue
    address: str  # the address as InboundMail carries it (after normalising)
    as_written: str  # the address as the mail wrote it
    reason: str = ""  # for INVALID: what is wrong with it
    # For INTERNATIONALISED with an ASCII local part: the domain as A-labels (RFC 5890),
    # reachable without SMTPUTF8 ("jan@xn--mchine-bua.example").
    ascii_form: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class InboundMail:
    """One mail as read from the mailbox, normalised. Every text is already decoded."""

    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None  # the sender's Date header; not trusted for deadlines
    message_id: str  # without angle brackets; synthesised from the content when missing
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    body_text: str
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]  # every header, decoded, in order; names as sent
    defects: tuple[str, ...] = ()  # what the parser had to repair
    address_notes: tuple[AddressNote, ...] = ()  # From/Reply-To addresses to look at first
    # Message-IDs of the originals this mail carries (message/rfc822, text/rfc822-headers,
    # an MDN's Original-Message-ID) or, failing those, quotes in its body; never its own.
    quoted_message_ids: tuple[str, ...] = ()
    # Recipients a bounce reports as failed (flufl.bounce); empty for other mail.
    bounce_recipients: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively; None when absent."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


@dataclass(frozen=True)
class FetchedMail:
    """A mail as fetched from an IMAP folder: its raw bytes and the server's facts about
    it. Parsing makes an `InboundMail` of it; intake records what it did with it in an
    `IntakeRecordRow`; a mail of a case is a `CaseMessageRow` (ARCHITECTURE.md)."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    arrived_at: datetime  # INTERNALDATE, aware, UTC
    # The mail's size when it was larger than [intake] max_size_mb: then `raw` holds its
    # header block only and intake quarantines it unread.
    oversize: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One line of a case's audit trail."""

    at: datetime
    actor: str  # a staff address, or "mailbot"
    action: str  # opened, follow_up, answered, #ontvankelijk, ...
    state_before: str | None
    state_after: str | None
    rule: str  # the rule or the command line that decided it
    message_id: str | None  # the mail that caused it


@dataclass(frozen=True)
class CaseSummary:
    reference: str
    state: CaseState
    channel: Channel
    citizen_email: str
    citizen_name: str
    subject: str
    received_at: datetime
    deadline: date
    messages: tuple[MessageSummary, ...] = field(default=())
    service: str | None = None
    admissible: bool | None = None
    inadmissible_reason: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class MessageSummary:
    direction: Direction
    kind: MessageKind
    message_id: str
    subject: str
    at: datetime
    sender: str
    recipients: str
    attachments: tuple[AttachmentSummary, ...] = ()
    body_text: str = ""
    flagged: bool = False


@dataclass(frozen=True)
class AttachmentSummary:
    filename: str
    content_type: str
    size: int
    sha256: str
