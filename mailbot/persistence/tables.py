"""The database schema. Alembic migrations in migrations/versions are the source of truth
for the live schema; these classes must match them (tests compare the two)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times inside mailbot are aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Blob(Base):
    """Content-addressed storage for raw messages and attachments (key: SHA-256 hex)."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ReferenceCounter(Base):
    """Last number handed out per year; one row per (prefix, year)."""

    __tablename__ = "reference_counters"
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class CaseRow(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    citizen_email: Mapped[str] = mapped_column(String(320), index=True)
    citizen_name: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The involved service (betrokken dienst), once the coordinator assigned one.
    service: Mapped[str | None] = mapped_column(String(100), nullable=True)
    service_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The coordinator's decisions: counted in the yearly report to the council.
    admissible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    inadmissible_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    citizen_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the retention period removed the personal data (the numbers for the yearly
    # report to the council stay: dates, channel, admissibility, reason, outcome).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    messages: Mapped[list[CaseMessageRow]] = relationship(
        back_populates="case", order_by="CaseMessageRow.id"
    )


class CaseMessageRow(Base):
    """One mail of a case's timeline, in or out (a complaint, a follow-up, a receipt, an
    answer, a note, ...)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(Text, default="")
    recipients: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    body_text: Mapped[str] = mapped_column(Text, default="")
    # Indexed, as every column that points to a blob: the sweep of orphaned blobs and
    # the check of the foreign key when a blob is deleted look a blob up here.
    raw_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("blobs.sha256"), nullable=True, index=True
    )
    # Needs a person's eye, e.g. a citizen writing again after the case was closed.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    case: Mapped[CaseRow] = relationship(back_populates="messages")
    attachments: Mapped[list[AttachmentRow]] = relationship(order_by="AttachmentRow.id")


class AttachmentRow(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)


class IntakeRecordRow(Base):
    """What intake did with one fetched mail (outcome, reason, destination), keyed by
    folder + UIDVALIDITY + UID so that a crash between the database commit and the MOVE
    never processes it twice."""

    __tablename__ = "mailbox_items"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    # None once the retention period removed the stored original.
    raw_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("blobs.sha256"), nullable=True, index=True
    )
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    moved_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # What a reader sees, hashed (domain/identity.py): the same mail again is a duplicate,
    # another mail with the same Message-ID is not. None for mail handled before 0006.
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FolderStateRow(Base):
    """How far a folder that mailbot only reads (the sent folder) has been read."""

    __tablename__ = "folder_state"
    folder: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)


class HeartbeatRow(Base):
    """When each loop of the daemon last succeeded, for `mailbot status` and monitoring."""

    __tablename__ = "heartbeats"
    loop: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(Text, default="")
    instance: Mapped[str] = mapped_column(String(255), default="")


class ReminderRow(Base):
    """A reminder moment handled for a case ('before-7', 'due', 'overdue-2' ...): the
    unique key makes every moment go out at most once, across restarts and instances."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("case_id", "moment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    moment: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """Outgoing mail, written in the transaction that decided to send it; delivered by the
    dispatch job. `key` makes every decision idempotent (e.g. 'receipt:KL-2026-0042')."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(998))
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[str] = mapped_column(Text)  # comma-separated envelope recipients
    # a receipt's recipient's mail domain, for the per-domain receipt limit
    recipient_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # a receipt's case's arrival (its mail's INTERNALDATE), for the per-hour limits
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    subject: Mapped[str] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # the complete RFC 5322 message
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditRow(Base):
    """Who did what to a case, when, from which mail, by which rule: every state change,
    command and decision. Holds no personal data beyond a staff address, so retention and
    erasure keep it (the complaints register must show how a case was handled)."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(320))  # a staff address, or "mailbot"
    action: Mapped[str] = mapped_column(String(40))  # opened, answered, #ontvankelijk, ...
    state_before: Mapped[str | None] = mapped_column(String(20), nullable=True)
    state_after: Mapped[str | None] = mapped_column(String(20), nullable=True)
    rule: Mapped[str] = mapped_column(Text, default="")  # why: the rule or the command line
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)


# retention: the records of the purged cases, and of old mail that opened no case
Index("ix_mailbox_items_case_processed", IntakeRecordRow.case_id, IntakeRecordRow.processed_at)
Index("ix_outbox_status_next", OutboxRow.status, OutboxRow.next_attempt_at)
# a case's mails: its receipt, its sent mail when purged
Index("ix_outbox_case_kind", OutboxRow.case_id, OutboxRow.kind)
# the receipt limits: per address a day (by time queued), all and per domain an hour (by
# the time the case's mail arrived)
_RECEIPTS = text("kind = 'receipt'")
Index(
    "ix_outbox_receipt_recipient",
    OutboxRow.recipients,
    OutboxRow.created_at,
    sqlite_where=_RECEIPTS,
    postgresql_where=_RECEIPTS,
)
# the per-hour limits count the receipts of the hour's arrivals from this index alone
Index(
    "ix_outbox_receipt_arrival",
    OutboxRow.arrived_at,
    OutboxRow.recipient_domain,
    OutboxRow.kind,  # implied by the WHERE, but SQLite reads the row for it otherwise
    sqlite_where=_RECEIPTS,
    postgresql_where=_RECEIPTS,
)
