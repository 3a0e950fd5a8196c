"""Which reminder moments were already sent per case."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailbot.domain.reminders import Moment
from mailbot.persistence.cases import OPEN_STATES
from mailbot.persistence.tables import CaseRow, ReminderRow


def sent_moments(session: Session, deadline_by: date) -> dict[int, set[str]]:
    """The moments already sent, per open case with a deadline on or before the day."""
    sent: dict[int, set[str]] = defaultdict(set)
    rows = session.execute(
        select(ReminderRow.case_id, ReminderRow.moment)
        .join(CaseRow, CaseRow.id == ReminderRow.case_id)
        .where(CaseRow.state.in_(OPEN_STATES), CaseRow.deadline <= deadline_by)
    )
    for case_id, moment in rows:
        sent[case_id].add(moment)
    return sent


def record_moments(
    session: Session, moments: Sequence[tuple[int, Moment]], mode: str, now: datetime
) -> None:
    """Record the moments of a pass as sent, in one multi-row INSERT."""
    if moments:
        session.execute(
            insert(ReminderRow),
            [
                {
                    "case_id": case_id,
                    "moment": moment.key,
                    "day": moment.day,
                    "mode": mode,
                    "created_at": now,
                }
                for case_id, moment in moments
            ],
        )
