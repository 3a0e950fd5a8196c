"""The audit trail of a case: who, when, from which mail, by which rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.domain.model import AuditEntry
from mailbot.persistence.rows import insert_row
from mailbot.persistence.tables import AuditRow

MAILBOT = "mailbot"  # the actor of what mailbot decides itself


def record(
    session: Session,
    case_id: int,
    at: datetime,
    action: str,
    *,
    actor: str = MAILBOT,
    before: str | None = None,
    after: str | None = None,
    rule: str = "",
    message_id: str | None = None,
) -> None:
    insert_row(
        session,
        AuditRow,
        case_id=case_id,
        at=at,
        actor=actor[:320],
        action=action[:40],
        state_before=before,
        state_after=after,
        rule=rule,
        message_id=message_id,
    )


def trail(session: Session, case_id: int) -> list[AuditEntry]:
    rows = session.execute(
        select(AuditRow).where(AuditRow.case_id == case_id).order_by(AuditRow.at, AuditRow.id)
    ).scalars()
    return [
        AuditEntry(r.at, r.actor, r.action, r.state_before, r.state_after, r.rule, r.message_id)
        for r in rows
    ]
