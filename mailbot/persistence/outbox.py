"""Queries about the outbox: what waits, what was sent, to whom."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, bindparam, case, delete, func, literal_column, select, update
from sqlalchemy.orm import Session

from mailbot.persistence.tables import OutboxRow

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


def key_exists(session: Session, key: str) -> bool:
    return session.execute(select(OutboxRow.id).where(OutboxRow.key == key)).first() is not None


def existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set(session.execute(select(OutboxRow.key).where(OutboxRow.key.in_(keys))).scalars())


def due_ids(session: Session, now: datetime, limit: int, after: int = 0) -> list[int]:
    """Pending rows whose next attempt is due, oldest first, with ids above `after`."""
    return list(
        session.execute(
            select(OutboxRow.id)
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.next_attempt_at <= now,
                OutboxRow.id > after,
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        ).scalars()
    )


def make_due(session: Session, now: datetime, failed_too: bool) -> tuple[int, int]:
    """Every waiting row due now; with failed_too, rows given up on pending again with a
    fresh count of attempts. Returns (waiting, failed) counts."""
    waiting = session.scalars(
        update(OutboxRow)
        .where(OutboxRow.status == PENDING, OutboxRow.next_attempt_at > now)
        .values(next_attempt_at=now)
        .returning(OutboxRow.id)
    ).all()
    again: Sequence[int] = []
    if failed_too:
        again = session.scalars(
            update(OutboxRow)
            .where(OutboxRow.status == FAILED)
            .values(status=PENDING, attempts=0, next_attempt_at=now)
            .returning(OutboxRow.id)
        ).all()
    return len(waiting), len(again)


def claim(session: Session, row_id: int, now: datetime, lease: timedelta) -> OutboxRow | None:
    """Lease a due pending row for `lease`: no other pass or instance takes it meanwhile
    (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises). None when
    it is sent, or leased by someone else."""
    row = session.execute(
        select(OutboxRow)
        .where(
            OutboxRow.id == row_id,
            OutboxRow.status == PENDING,
            OutboxRow.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if row is not None:
        row.next_attempt_at = now + lease
    return row


def get(session: Session, row_id: int) -> OutboxRow:
    row = session.get(OutboxRow, row_id)
    assert row is not None, f"outbox row {row_id} vanished"
    return row


def count_receipts_since(session: Session, since: datetime, recipient: str) -> int:
    """Receipts queued to one address since `since` (ix_outbox_receipt_recipient)."""
    counted = session.execute(_receipts_since(), {"recipient": recipient, "since": since})
    return int(counted.scalar_one())


@functools.cache
def _receipts_since() -> Select[int]:
    outbox = OutboxRow.__table__.c
    receipt = outbox.kind == literal_column("'receipt'")  # a literal: the partial index
    return select(func.count(outbox.id)).where(
        receipt,
        outbox.recipients == bindparam("recipient"),
        outbox.created_at >= bindparam("since"),
    )


class HourCounts(NamedTuple):
    """Receipts for the cases whose mail arrived within an hour: to anyone (counted no
    further than the limit it is compared with) and to one mail domain."""

    all: int
    to_domain: int


def count_receipts_for_arrivals(
    session: Session, start: datetime, end: datetime, at_most: int, domain: str
) -> HourCounts:
    """Receipts queued for cases whose mail arrived between start and end (INTERNALDATE):
    a mail loop arrives fast, a backlog read after an outage arrived spread out.

    A receipt carries its case's arrival (`arrived_at`), so the count reads the hour's
    receipts from one index (ix_outbox_receipt_arrival), with their domains, and nothing
    else: found case by case (the hour's cases, then each one's receipt), it cost a
    backlog a twentieth of intake's work a mail (tests/test_query_work.py). Counts no
    further than `at_most`, so a flood within the hour costs each new case a bounded
    count, not one over the whole flood. Below `at_most` the count to `domain` is exact;
    at it, receipts pause for everyone and the domain's count does not matter."""
    everyone, domain_count = session.execute(
        _receipts_for_arrivals(),
        {"start": start, "end": end, "at_most": max(at_most, 0), "domain": domain},
    ).one()
    return HourCounts(int(everyone), int(domain_count))


@functools.cache
def _receipts_for_arrivals() -> Select[int, int]:
    outbox = OutboxRow.__table__.c
    receipt = outbox.kind == literal_column("'receipt'")  # a literal: the partial index
    hour = (
        select(func.coalesce(outbox.recipient_domain, "").label("domain"))
        .where(receipt, outbox.arrived_at >= bindparam("start"))
        .where(outbox.arrived_at <= bindparam("end"))
        .limit(bindparam("at_most"))
        .subquery()
    )
    to_domain = case((hour.c.domain == bindparam("domain"), 1), else_=0)
    return select(func.count(), func.coalesce(func.sum(to_domain), 0)).select_from(hour)


def delete_unlinked_before(session: Session, cutoff: datetime) -> None:
    """Staff notices about mail that opened no case (quarantine) quote its headers:
    retention deletes them once handled and older than the cutoff."""
    session.execute(
        delete(OutboxRow).where(
            OutboxRow.case_id.is_(None),
            OutboxRow.status != PENDING,
            OutboxRow.created_at < cutoff,
        )
    )


def outbox_rows(session: Session, *, include_sent: bool = False) -> list[OutboxRow]:
    """The outbox for `mailbot outbox list`: what waits and what failed (and what was sent,
    with include_sent), in the order it was queued."""
    query = select(OutboxRow).order_by(OutboxRow.id)
    if not include_sent:
        query = query.where(OutboxRow.status != SENT)
    return list(session.execute(query).scalars())
