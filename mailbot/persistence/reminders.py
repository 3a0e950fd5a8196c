"""Which reminder moments were already sent per case."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailbot.domain.reminders import Moment
from mailbot.persistence.tables import ReminderRow

_CHUNK = 5000  # keep IN lists within driver limits


def sent_moments(session: Session, case_ids: Sequence[int]) -> dict[int, set[str]]:
    sent: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(case_ids), _CHUNK):
        chunk = case_ids[start : start + _CHUNK]
        for case_id, moment in session.execute(
            select(ReminderRow.case_id, ReminderRow.moment).where(ReminderRow.case_id.in_(chunk))
        ):
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
