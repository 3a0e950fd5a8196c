"""Which reminder moments were already sent per case."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

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
