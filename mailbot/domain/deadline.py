"""The statutory clock: a reasoned answer at the latest one month after filing."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_PERIOD = re.compile(
    r"^\s*(\d+)\s*(month|months|maand|maanden|day|days|dag|dagen)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class AnswerPeriod:
    """A period of calendar months or calendar days."""

    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> AnswerPeriod:
        """'1 month', '2 months', '30 days'; raises ValueError with what is accepted."""
        match = _PERIOD.match(text)
        if match is None or int(match.group(1)) <= 0:
            raise ValueError(
                f"expected a positive number of months or days, e.g. '1 month' or '30 days', "
                f"got {text!r}"
            )
        count = int(match.group(1))
        unit = match.group(2).lower()
        if unit.startswith(("month", "maand")):
            return cls(months=count)
        return cls(days=count)

    def __str__(self) -> str:
        if self.months:
            return f"{self.months} month" + ("s" if self.months != 1 else "")
        return f"{self.days} day" + ("s" if self.days != 1 else "")


def add_months(start: date, months: int) -> date:
    """Calendar months; a day that the target month lacks becomes its last day
    (31 January + 1 month = 28 or 29 February)."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def local_date(moment: datetime, timezone: ZoneInfo) -> date:
    """The calendar date of an aware moment in the municipality's time zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times inside mailbot are aware")
    return moment.astimezone(timezone).date()


def compute_deadline(received_at: datetime, period: AnswerPeriod, timezone: ZoneInfo) -> date:
    """Latest date for the reasoned answer, counted from the local arrival date.

    Only dates are used, so a daylight-saving change never moves the result.
    """
    filed = local_date(received_at, timezone)
    if period.months:
        return add_months(filed, period.months)
    return filed + timedelta(days=period.days)
