"""Heartbeats and the facts `mailbot status` reports: the loops' last successes, the
outbox and the open cases. Works beside a running daemon (it only reads, or writes one
heartbeat row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.domain.model import CaseState
from mailbot.persistence.tables import CaseRow, HeartbeatRow, OutboxRow

__all__ = ["StatusFacts", "read_status", "record_heartbeat"]


@dataclass(frozen=True)
class StatusFacts:
    beats: dict[str, HeartbeatRow]
    pending: int
    oldest_pending: datetime | None
    failed: int
    last_sent: datetime | None
    open_cases: int


def record_heartbeat(
    session: Session, loop: str, *, at: datetime, detail: str, instance: str
) -> None:
    """Record that `loop` just succeeded, on `instance` (host:pid)."""
    row = session.get(HeartbeatRow, loop)
    if row is None:
        session.add(HeartbeatRow(loop=loop, at=at, detail=detail, instance=instance))
    else:
        row.at, row.detail, row.instance = at, detail, instance


def read_status(session: Session) -> StatusFacts:
    """The heartbeats, the outbox's pending and failed mails, and the open cases."""
    beats = {b.loop: b for b in session.execute(select(HeartbeatRow)).scalars()}
    pending = session.execute(
        select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(
            OutboxRow.status == "pending"
        )
    ).one()
    failed = session.execute(
        select(func.count(OutboxRow.id)).where(OutboxRow.status == "failed")
    ).scalar_one()
    last_sent = session.execute(select(func.max(OutboxRow.sent_at))).scalar_one()
    open_cases = session.execute(
        select(func.count(CaseRow.id)).where(
            CaseRow.state.in_([CaseState.RECEIVED.value, CaseState.IN_PROGRESS.value])
        )
    ).scalar_one()
    return StatusFacts(
        beats=beats,
        pending=int(pending[0]),
        oldest_pending=pending[1],
        failed=int(failed),
        last_sent=last_sent,
        open_cases=int(open_cases),
    )
