"""What `mailbot status` and the metrics read from the database: heartbeats, the outbox
queue, open cases. Read-only queries, safe beside a running daemon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.domain.model import CaseState
from mailbot.persistence.tables import CaseRow, HeartbeatRow, OutboxRow


@dataclass(frozen=True)
class StatusFacts:
    beats: dict[str, HeartbeatRow]
    pending: int
    oldest_pending: datetime | None
    failed: int
    last_sent: datetime | None
    open_cases: int


def read_status(session: Session) -> StatusFacts:
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


def outbox_rows(session: Session, *, include_sent: bool = False) -> list[OutboxRow]:
    """The outbox for `mailbot outbox list`: what waits and what failed (and what was sent,
    with include_sent), in the order it was queued."""
    query = select(OutboxRow).order_by(OutboxRow.id)
    if not include_sent:
        query = query.where(OutboxRow.status != "sent")
    return list(session.execute(query).scalars())
