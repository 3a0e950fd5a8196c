"""Queries about the outbox: what waits, what was sent, to whom."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, ScalarSelect, delete, func, literal_column, select
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


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Pending rows whose next attempt is due, oldest first."""
    return list(
        session.execute(
            select(OutboxRow.id)
            .where(OutboxRow.status == PENDING, OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id)
            .limit(limit)
        ).scalars()
    )


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


@dataclass(frozen=True)
class ReceiptCounts:
    """Receipts queued lately, each count capped at its limit (counting stops there)."""

    last_hour: int
    to_domain_last_hour: int
    to_address_last_day: int


def count_recent_receipts(
    session: Session,
    now: datetime,
    address: str,
    domain: str,
    limits: tuple[int, int, int],
) -> ReceiptCounts:
    """The three receipt-limit counts in one statement: all receipts in the last hour,
    to `domain` in the last hour, to `address` in the last 24 hours. Each reads an index
    (ix_outbox_kind_created and the two partial receipt indexes) and stops at its limit,
    so the cost does not grow with the outbox."""
    receipt = OutboxRow.kind == literal_column("'receipt'")  # a literal: the partial indexes
    recent = OutboxRow.created_at >= now - timedelta(hours=1)
    day_ago = now - timedelta(days=1)

    def capped(limit: int, *where: ColumnElement[bool]) -> ScalarSelect[int]:
        rows = select(OutboxRow.id).where(receipt, *where).limit(limit).subquery()
        return select(func.count()).select_from(rows).scalar_subquery()

    total, per_domain, per_address = limits
    row = session.execute(
        select(
            capped(total, recent),
            capped(per_domain, OutboxRow.recipient_domain == domain, recent),
            capped(per_address, OutboxRow.recipients == address, OutboxRow.created_at >= day_ago),
        )
    ).one()
    return ReceiptCounts(int(row[0]), int(row[1]), int(row[2]))


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
