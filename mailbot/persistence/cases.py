"""Queries about cases: references, threading, lists and summaries."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, delete, func, select, update
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
from mailbot.domain.reference import find_references
from mailbot.persistence.dialect import in_chunks, prebuilt
from mailbot.persistence.tables import (
    AttachmentRow,
    CaseMessageRow,
    CaseRow,
    OutboxRow,
    ReferenceCounter,
    ReminderRow,
)

DONE_STATES = (CaseState.CLOSED.value, CaseState.ANSWERED.value)
OPEN_STATES = (CaseState.RECEIVED.value, CaseState.IN_PROGRESS.value)


def next_reference_number(session: Session, prefix: str, year: int) -> int:
    """Atomically hand out the next number for (prefix, year).

    One INSERT .. ON CONFLICT DO UPDATE .. RETURNING: PostgreSQL locks the counter row
    until commit, SQLite holds its write lock (BEGIN IMMEDIATE), so two processes never
    get the same number, and a rolled-back transaction gives its number back unseen.
    """
    statement = prebuilt(session, _next_number)
    return int(session.execute(statement, {"prefix": prefix, "year": year}).scalar_one())


def _next_number(insert: Any) -> Any:
    counter = ReferenceCounter.__table__.c  # the table, not the class: a Core statement
    return (
        insert(ReferenceCounter.__table__)
        .values(prefix=bindparam("prefix"), year=bindparam("year"), last_number=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"],
            set_={"last_number": counter.last_number + 1},
        )
        .returning(counter.last_number)
    )


def find_case_by_reference(session: Session, reference: str) -> CaseRow | None:
    return session.execute(
        select(CaseRow).where(CaseRow.reference == reference)
    ).scalar_one_or_none()


def find_case_by_message_ids(session: Session, message_ids: Sequence[str]) -> CaseRow | None:
    """The case that holds any of these Message-IDs (in or out), newest mention first."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    row = session.execute(_case_of_message_ids(), {"ids": ids}).scalar_one_or_none()
    return None if row is None else session.get(CaseRow, row)


@functools.cache
def _case_of_message_ids() -> Select[int]:
    messages = CaseMessageRow.__table__.c
    # Ordered by an expression, not the key itself: found by Message-ID, then the few
    # matches sorted. Ordered by the key, PostgreSQL without statistics walked the whole
    # timeline back from its newest mail to the one asked for (tests/test_query_work.py).
    return (
        select(messages.case_id)
        .where(messages.message_id.in_(bindparam("ids", expanding=True)))
        .order_by((messages.id + 0).desc())
        .limit(1)
    )


def find_thread_case(
    session: Session, subject: str, message_ids: Sequence[str], prefix: str
) -> CaseRow | None:
    """The case a mail belongs to: a known reference in its subject (after any Re:/Antw:
    prefix), else one of the given Message-IDs (In-Reply-To, then References newest first)."""
    for ref in find_references(subject, prefix):
        case = find_case_by_reference(session, str(ref))
        if case is not None:
            return case
    return find_case_by_message_ids(session, message_ids)


def cases_by_reference(session: Session, references: Sequence[str]) -> dict[str, CaseRow]:
    """The cases with these references, read in chunks (a per-case reminder pass over a
    large backlog names tens of thousands)."""
    found: dict[str, CaseRow] = {}
    for chunk in in_chunks(references):
        rows = session.execute(select(CaseRow).where(CaseRow.reference.in_(chunk))).scalars()
        found.update((c.reference, c) for c in rows)
    return found


def earlier_closed(session: Session, case: CaseRow) -> list[tuple[str, str]]:
    """(reference, subject) of the same citizen's other answered or closed cases."""
    if not case.citizen_email:
        return []
    rows = session.execute(_earlier_closed(), {"email": case.citizen_email, "case": case.id})
    return [(ref, subject) for ref, subject in rows]


@functools.cache
def _earlier_closed() -> Select[str, str]:
    cases = CaseRow.__table__.c
    return select(cases.reference, cases.subject).where(
        cases.citizen_email == bindparam("email"),
        cases.id != bindparam("case"),
        cases.state.in_(DONE_STATES),
    )


def flag_message(session: Session, message_id: int) -> None:
    """Mark a message of a case for a person's eye (a citizen writing after the case was
    answered or closed)."""
    session.execute(
        update(CaseMessageRow).where(CaseMessageRow.id == message_id).values(flagged=True),
        execution_options={"synchronize_session": False},  # no loaded row to keep in step
    )


class OpenCase(NamedTuple):
    """What reminders and digests need of a case: plain values, no ORM object (a pass
    reads tens of thousands of them)."""

    id: int
    reference: str
    state: str
    citizen_email: str
    citizen_name: str
    subject: str
    received_at: datetime
    deadline: date
    service: str | None
    service_email: str | None


_OPEN_CASE = (
    CaseRow.id,
    CaseRow.reference,
    CaseRow.state,
    CaseRow.citizen_email,
    CaseRow.citizen_name,
    CaseRow.subject,
    CaseRow.received_at,
    CaseRow.deadline,
    CaseRow.service,
    CaseRow.service_email,
)


class CaseDates(NamedTuple):
    """The few columns a reminder pass sorts every open case by."""

    id: int
    state: str
    received_at: datetime
    deadline: date
    service_email: str | None


def open_case_dates(session: Session) -> list[CaseDates]:
    """Every open case, earliest deadline first, read once per reminder pass."""
    rows = session.execute(
        select(
            CaseRow.id, CaseRow.state, CaseRow.received_at, CaseRow.deadline, CaseRow.service_email
        )
        .where(CaseRow.state.in_(OPEN_STATES))
        .order_by(CaseRow.deadline, CaseRow.id)
    )
    return [CaseDates._make(row) for row in rows]


def open_cases_by_id(session: Session, ids: Sequence[int]) -> dict[int, OpenCase]:
    """What staff mails show of these cases, by id."""
    found: dict[int, OpenCase] = {}
    for chunk in in_chunks(ids):
        rows = session.execute(select(*_OPEN_CASE).where(CaseRow.id.in_(chunk)))
        found.update((row.id, OpenCase._make(row)) for row in rows)
    return found


def finished_before(session: Session, cutoff: datetime) -> list[CaseRow]:
    """Answered or closed cases, not purged yet, finished before the cutoff."""
    finished = func.coalesce(CaseRow.closed_at, CaseRow.answered_at)
    return list(
        session.execute(
            select(CaseRow)
            .where(
                CaseRow.state.in_(DONE_STATES),
                CaseRow.purged_at.is_(None),
                finished.is_not(None),
                finished < cutoff,
            )
            .order_by(CaseRow.id)
        ).scalars()
    )


def purge_personal_data(session: Session, case: CaseRow, subject: str, now: datetime) -> None:
    """Delete a case's messages, attachments, sent mail and reminders and blank the
    citizen; what the yearly report counts stays.

    The statements leave the session's other objects alone (synchronize_session off):
    by default SQLAlchemy checks every object the session holds against each DELETE and
    UPDATE, and a retention pass holding thousands of cases and records then took time
    in the square of their number (bench/retention.py). `case` itself, if this session
    holds it, is expired, so that what it shows afterwards is read again."""
    unsynchronized = {"synchronize_session": False}
    message_ids = select(CaseMessageRow.id).where(CaseMessageRow.case_id == case.id)
    statements = [
        delete(AttachmentRow).where(AttachmentRow.message_id.in_(message_ids)),
        delete(CaseMessageRow).where(CaseMessageRow.case_id == case.id),
        delete(OutboxRow).where(OutboxRow.case_id == case.id),
        delete(ReminderRow).where(ReminderRow.case_id == case.id),
        update(CaseRow)
        .where(CaseRow.id == case.id)
        .values(
            citizen_name="",
            citizen_email="",
            citizen_address=None,
            subject=subject,
            purged_at=now,
        ),
    ]
    for statement in statements:
        session.execute(statement, execution_options=unsynchronized)
    if case in session:
        session.expire(case)


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
