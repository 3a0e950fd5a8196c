"""Queries and writes that the services compose inside their own transactions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbot.domain.model import (
    AttachmentSummary,
    CaseState,
    CaseSummary,
    Channel,
    Direction,
    MessageKind,
    MessageSummary,
)
from mailbot.persistence.tables import (
    Blob,
    CaseRow,
    MailboxItemRow,
    MessageRow,
    OutboxRow,
    ReferenceCounter,
)


def store_blob(session: Session, data: bytes) -> str:
    """Content-addressed: the same bytes are stored once. Returns the SHA-256 hex."""
    digest = hashlib.sha256(data).hexdigest()
    insert = _insert_for(session)
    session.execute(
        insert(Blob)
        .values(sha256=digest, size=len(data), data=data)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def load_blob(session: Session, digest: str) -> bytes | None:
    blob = session.get(Blob, digest)
    return None if blob is None else blob.data


def next_reference_number(session: Session, prefix: str, year: int) -> int:
    """Atomically hand out the next number for (prefix, year).

    One INSERT .. ON CONFLICT DO UPDATE .. RETURNING: PostgreSQL locks the counter row
    until commit, SQLite holds its write lock (BEGIN IMMEDIATE), so two processes never
    get the same number, and a rolled-back transaction gives its number back unseen.
    """
    insert = _insert_for(session)
    stmt = (
        insert(ReferenceCounter)
        .values(prefix=prefix, year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"],
            set_={"last_number": ReferenceCounter.last_number + 1},
        )
        .returning(ReferenceCounter.last_number)
    )
    return int(session.execute(stmt).scalar_one())


def _insert_for(session: Session):  # type: ignore[no-untyped-def]
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database {name}: use SQLite or PostgreSQL")


def find_mailbox_item(
    session: Session, folder: str, uidvalidity: int, uid: int
) -> MailboxItemRow | None:
    return session.execute(
        select(MailboxItemRow).where(
            MailboxItemRow.folder == folder,
            MailboxItemRow.uidvalidity == uidvalidity,
            MailboxItemRow.uid == uid,
        )
    ).scalar_one_or_none()


def find_case_by_reference(session: Session, reference: str) -> CaseRow | None:
    return session.execute(
        select(CaseRow).where(CaseRow.reference == reference)
    ).scalar_one_or_none()


def find_case_by_message_ids(session: Session, message_ids: Sequence[str]) -> CaseRow | None:
    """The case that holds any of these Message-IDs (in or out), newest mention first."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    row = session.execute(
        select(MessageRow.case_id)
        .where(MessageRow.message_id.in_(ids))
        .order_by(MessageRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if row is None else session.get(CaseRow, row)


def message_exists(session: Session, message_id: str) -> bool:
    """Whether this Message-ID was stored before, in or out (the same mail again, or a
    copy of a staff mail seen both in the inbox and in the sent folder)."""
    found = session.execute(
        select(MessageRow.id).where(MessageRow.message_id == message_id).limit(1)
    ).first()
    if found is not None:
        return True
    item = session.execute(
        select(MailboxItemRow.id)
        .where(
            MailboxItemRow.message_id == message_id,
            MailboxItemRow.outcome.not_in(["quarantined"]),
        )
        .limit(1)
    ).first()
    return item is not None


def count_receipts_since(session: Session, recipient: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count(OutboxRow.id)).where(
                OutboxRow.kind == MessageKind.RECEIPT.value,
                OutboxRow.recipients == recipient,
                OutboxRow.created_at >= since,
            )
        ).scalar_one()
    )


def case_summary(case: CaseRow, with_messages: bool = False) -> CaseSummary:
    messages: tuple[MessageSummary, ...] = ()
    if with_messages:
        messages = tuple(
            MessageSummary(
                direction=Direction(m.direction),
                kind=MessageKind(m.kind),
                message_id=m.message_id,
                subject=m.subject,
                at=m.at,
                sender=m.sender,
                recipients=m.recipients,
                attachments=tuple(
                    AttachmentSummary(a.filename, a.content_type, a.size, a.sha256)
                    for a in m.attachments
                ),
                body_text=m.body_text,
                flagged=m.flagged,
            )
            # In time order: a follow-up received at 08:56 but handled at 09:15 comes
            # before the notice it caused, whatever the order of the rows.
            for m in sorted(case.messages, key=lambda m: (m.at, m.id))
        )
    return CaseSummary(
        reference=case.reference,
        state=CaseState(case.state),
        channel=Channel(case.channel),
        citizen_email=case.citizen_email,
        citizen_name=case.citizen_name,
        subject=case.subject,
        received_at=case.received_at,
        deadline=case.deadline,
        messages=messages,
        service=case.service,
        admissible=case.admissible,
        inadmissible_reason=case.inadmissible_reason,
        outcome=case.outcome,
    )


def list_cases(
    session: Session, state: CaseState | None = None, due_before: date | None = None
) -> list[CaseSummary]:
    query = select(CaseRow).order_by(CaseRow.received_at, CaseRow.id)
    if state is not None:
        query = query.where(CaseRow.state == state.value)
    if due_before is not None:
        query = query.where(CaseRow.deadline < due_before)
    return [case_summary(c) for c in session.execute(query).scalars()]
