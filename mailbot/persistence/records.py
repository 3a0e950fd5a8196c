"""Queries behind the complaints register, the yearly report and the citizen's rights
(access and erasure). The records package composes them; it writes no SQL of its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from mailbot.domain.model import CaseState, Outcome
from mailbot.persistence.blobs import drop_orphans
from mailbot.persistence.cases import purge_personal_data
from mailbot.persistence.tables import (
    Blob,
    CaseRow,
    IntakeRecordRow,
    OutboxRow,
)

log = logging.getLogger(__name__)

ERASED_SUBJECT = "(verwijderd op verzoek van de indiener)"


@dataclass(frozen=True)
class CaseRecord:
    """What the register and the report read of one case: no personal data, so the same
    before and after retention or erasure removed it."""

    reference: str
    channel: str
    state: str
    received_at: datetime
    deadline_iso: str
    admissible: bool | None
    inadmissible_reason: str | None
    service: str | None
    outcome: str | None
    answered_at: datetime | None
    closed_at: datetime | None


def case_records(session: Session, start: datetime, end: datetime) -> list[CaseRecord]:
    """The cases received in [start, end), oldest first."""
    rows = session.execute(
        select(CaseRow)
        .where(CaseRow.received_at >= start, CaseRow.received_at < end)
        .order_by(CaseRow.received_at, CaseRow.id)
    ).scalars()
    return [
        CaseRecord(
            reference=c.reference,
            channel=c.channel,
            state=c.state,
            received_at=c.received_at,
            deadline_iso=c.deadline.isoformat(),
            admissible=c.admissible,
            inadmissible_reason=c.inadmissible_reason,
            service=c.service,
            outcome=c.outcome,
            answered_at=c.answered_at,
            closed_at=c.closed_at,
        )
        for c in rows
    ]


def mails_without_case(
    session: Session, folder: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Mails that arrived in the watched folder in [start, end) and opened no case
    (automatic replies, unreadable mail), counted by what intake did with them."""
    rows = session.execute(
        select(IntakeRecordRow.outcome, func.count(IntakeRecordRow.id))
        .where(
            IntakeRecordRow.folder == folder,
            IntakeRecordRow.case_id.is_(None),
            IntakeRecordRow.outcome.in_([Outcome.NO_CASE.value, Outcome.QUARANTINED.value]),
            IntakeRecordRow.arrived_at >= start,
            IntakeRecordRow.arrived_at < end,
        )
        .group_by(IntakeRecordRow.outcome)
    ).all()
    return {str(outcome): int(count) for outcome, count in rows}


# -- the citizen's rights -------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMail:
    """One stored mail about the citizen: a message of a case or a mailbox item."""

    reference: str | None
    kind: str
    direction: str
    at: datetime
    subject: str
    sender: str
    recipients: str
    body_text: str
    raw: bytes | None
    attachments: tuple[tuple[str, str, bytes], ...]


@dataclass(frozen=True)
class CitizenData:
    cases: tuple[CaseRow, ...]
    mails: tuple[StoredMail, ...]
    # mailbox items (folder the original was moved to, Message-ID) that hold the address
    originals: tuple[tuple[str, str], ...]


def _mentions(address: str, *values: str | bytes | None) -> bool:
    needle = address.lower()
    for value in values:
        if value is None:
            continue
        text_value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if needle in text_value.lower():
            return True
    return False


def citizen_cases(session: Session, address: str) -> list[CaseRow]:
    return list(
        session.execute(
            select(CaseRow)
            .where(func.lower(CaseRow.citizen_email) == address.lower())
            .order_by(CaseRow.id)
        ).scalars()
    )


def _blob(session: Session, digest: str | None) -> bytes | None:
    if digest is None:
        return None
    found = session.get(Blob, digest)
    return None if found is None else found.data


def _case_mails(session: Session, case: CaseRow) -> list[StoredMail]:
    found: list[StoredMail] = []
    for m in case.messages:
        raw = _blob(session, m.raw_sha256)
        if raw is None and m.direction == "out":
            raw = session.execute(
                select(OutboxRow.content).where(OutboxRow.message_id == m.message_id).limit(1)
            ).scalar_one_or_none()
        found.append(
            StoredMail(
                reference=case.reference,
                kind=m.kind,
                direction=m.direction,
                at=m.at,
                subject=m.subject,
                sender=m.sender,
                recipients=m.recipients,
                body_text=m.body_text,
                raw=raw,
                attachments=tuple(
                    (a.filename, a.content_type, _blob(session, a.sha256) or b"")
                    for a in m.attachments
                ),
            )
        )
    return found


def _loose_items(session: Session, address: str) -> list[tuple[IntakeRecordRow, bytes]]:
    """Mailbox items that opened no case (quarantine, automatic mail) but hold the address.
    Rare and only on request, so reading each stored original is acceptable."""
    items = session.execute(
        select(IntakeRecordRow).where(
            IntakeRecordRow.case_id.is_(None), IntakeRecordRow.raw_sha256.is_not(None)
        )
    ).scalars()
    found = []
    for item in items:
        raw = _blob(session, item.raw_sha256)
        if raw is not None and _mentions(address, raw, item.reason):
            found.append((item, raw))
    return found


def citizen_data(session: Session, address: str) -> CitizenData:
    """Everything stored about one e-mail address (GDPR art. 15)."""
    cases = citizen_cases(session, address)
    mails = [mail for case in cases for mail in _case_mails(session, case)]
    originals: list[tuple[str, str]] = []
    for item, raw in _loose_items(session, address):
        mails.append(StoredMail(None, item.outcome, "in", item.arrived_at, "", "", "", "", raw, ()))
        if item.moved_to:
            originals.append((item.moved_to, item.message_id))
    case_ids = [c.id for c in cases]
    if case_ids:
        for item in session.execute(
            select(IntakeRecordRow).where(IntakeRecordRow.case_id.in_(case_ids))
        ).scalars():
            if item.moved_to:
                originals.append((item.moved_to, item.message_id))
    return CitizenData(tuple(cases), tuple(mails), tuple(originals))


@dataclass(frozen=True)
class Erasure:
    cases: tuple[str, ...]
    closed: tuple[str, ...]  # open cases closed because nothing is left to handle
    items: int
    notices: int
    blobs: int


def erase_citizen(session: Session, address: str, now: datetime) -> Erasure:
    """Remove the personal data of one address (GDPR art. 17); what the yearly report
    counts stays (dates, channel, admissibility and reason, service, outcome)."""
    cases = citizen_cases(session, address)
    closed: list[str] = []
    for case in cases:
        if case.state in (CaseState.RECEIVED.value, CaseState.IN_PROGRESS.value):
            closed.append(case.reference)
        purge_personal_data(session, case, ERASED_SUBJECT, now)
        if case.reference in closed:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case.id)
                .values(state=CaseState.CLOSED.value, closed_at=now)
            )
    case_ids = [c.id for c in cases]
    items = list(
        session.execute(
            select(IntakeRecordRow).where(IntakeRecordRow.case_id.in_(case_ids))
        ).scalars()
    ) + [item for item, _raw in _loose_items(session, address)]
    for item in items:
        item.raw_sha256 = None
        item.reason = ""
        if _mentions(address, item.message_id):
            item.message_id = f"erased-{item.id}@mailbot.invalid"
    notices = _drop_mentioning_outbox(session, address)
    session.flush()
    return Erasure(
        tuple(c.reference for c in cases),
        tuple(closed),
        len(items),
        notices,
        drop_orphans(session),
    )


def _drop_mentioning_outbox(session: Session, address: str) -> int:
    """Sent staff notices about mail that opened no case quote its headers."""
    ids = [
        row.id
        for row in session.execute(
            select(OutboxRow).where(OutboxRow.case_id.is_(None), OutboxRow.status != "pending")
        ).scalars()
        if _mentions(address, row.recipients, row.subject, row.content)
    ]
    if ids:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
    return len(ids)


def scrub_free_space(engine: Engine) -> None:
    """After removing personal data: SQLite keeps deleted rows in free pages and in the
    write-ahead log until they are overwritten. Copy the WAL into the database, then
    VACUUM rewrites the file without free pages, and truncate the WAL again. PostgreSQL's
    own VACUUM reclaims dead rows in its own time; nothing to do there."""
    if engine.dialect.name != "sqlite":
        return
    # The driver connection itself: make_engine's BEGIN IMMEDIATE hook must not wrap these
    # (VACUUM and a checkpoint cannot run inside a transaction).
    engine.dispose()  # idle pooled connections would keep the WAL from being truncated
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    if busy and busy[0]:
        log.warning("scrub: another process is reading the database; the WAL shrinks later")


def secure_delete(session: Session) -> None:
    """Deleted content is overwritten with zeros on SQLite (for this connection)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))
