"""Working days of a Flemish municipality: weekends, Belgian public holidays, closing days.

Pure: the only outside knowledge is the `holidays` data library. Every answer depends on
calendar dates alone, so daylight-saving changes never move anything.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

# Not a national public holiday, so the BE calendar of `holidays` does not have it (its
# "Flemish" subdivision only carries school holidays), yet Flemish local governments close.
FLEMISH_COMMUNITY_DAY = "Feestdag van de Vlaamse Gemeenschap"
CLOSING_DAY = "Sluitingsdag"

_CLOSING_DAY_TEXT = re.compile(r"^\s*(?:(\d{4})-)?(\d{1,2})-(\d{1,2})\s*$")
# A leap year, so that a yearly closing day on 29 February is accepted as a possible date.
_LEAP_YEAR = 2000


@functools.lru_cache(maxsize=64)
def _public_holidays(year: int, flemish: bool) -> Mapping[date, str]:
    """Belgian public holidays of one year, Dutch names; cached because a reminder pass asks
    for the same few years 100,000 times and `holidays` rebuilds its calendar on each call."""
    # Imported here, on the first question about a date: its country data costs 0.15 s
    # of start-up that `mailbot --help` or `cases list` never need.
    import holidays

    # language="nl" explicitly: without it the names follow the process locale.
    found = holidays.country_holidays("BE", years=year, language="nl")
    names: dict[date, str] = dict(found.items())
    if flemish:
        # setdefault: should a later `holidays` release list 11 July, its name wins.
        names.setdefault(date(year, 7, 11), FLEMISH_COMMUNITY_DAY)
    # Read-only view: the cached mapping is shared by every caller.
    return MappingProxyType(names)


def _refuse_datetime(day: date) -> TypeError:
    # A datetime is a date subclass but never equals a date, so it would silently miss
    # every holiday and closing day; callers convert with deadline.local_date first.
    return TypeError(f"expected a calendar date, got the datetime {day!r}")


@dataclass(frozen=True)
class WorkCalendar:
    """The days on which the complaints desk is staffed.

    `closing_days` are (month, day) pairs closed every year, e.g. (12, 24) and (12, 31);
    `extra_closed` are one-off closing dates, e.g. a bridge day. With `flemish` (default)
    11 July, the Flemish Community's holiday, is closed as well.
    """

    closing_days: frozenset[tuple[int, int]] = frozenset()
    extra_closed: frozenset[date] = frozenset()
    flemish: bool = True
    # Working days per year as ascending ordinals, so that stepping and counting working
    # days is a bisection instead of a walk day by day (overdue chains can be long). Kept on
    # the instance: a dict lookup by year is cheaper than hashing the calendar for a cache.
    _tables: dict[int, tuple[int, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # Accept any iterable (a set from config parsing) but store frozensets: the
        # calendar is a cache key, so it must be hashable and immutable.
        object.__setattr__(self, "closing_days", frozenset(self.closing_days))
        object.__setattr__(self, "extra_closed", frozenset(self.extra_closed))
        for month, day in self.closing_days:
            try:
                date(_LEAP_YEAR, month, day)
            except ValueError:
                raise ValueError(
                    f"closing day (month={month}, day={day}) is not a day of the year"
                ) from None
        for closed in self.extra_closed:
            if isinstance(closed, datetime):
                raise _refuse_datetime(closed)

    @classmethod
    def from_closing_days(cls, texts: Iterable[str], *, flemish: bool = True) -> WorkCalendar:
        """A calendar from configured closing days, each as `parse_closing_day` reads them."""
        yearly: set[tuple[int, int]] = set()
        once: set[date] = set()
        for text in texts:
            parsed = parse_closing_day(text)
            if isinstance(parsed, date):
                once.add(parsed)
            else:
                yearly.add(parsed)
        return cls(frozenset(yearly), frozenset(once), flemish)

    def is_working_day(self, day: date) -> bool:
        """Not Saturday or Sunday, not a Belgian public holiday, not a closing day."""
        if isinstance(day, datetime):
            raise _refuse_datetime(day)
        return self._is_working(day)

    def _table(self, year: int) -> tuple[int, ...]:
        table = self._tables.get(year)
        if table is None:
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            table = tuple(
                ordinal
                for ordinal in range(first, last + 1)
                if self._is_working(date.fromordinal(ordinal))
            )
            # Two threads may both build a year; they store the same tuple, so no lock.
            self._tables[year] = table
        return table

    def _is_working(self, day: date) -> bool:
        # Unchecked, for the loops that build the per-year tables.
        if day.weekday() >= 5:
            return False
        if (day.month, day.day) in self.closing_days or day in self.extra_closed:
            return False
        return day not in _public_holidays(day.year, self.flemish)

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it."""
        return self._nearest_working_day(day, forward=True)

    def previous_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the last working day before it."""
        return self._nearest_working_day(day, forward=False)

    def _nearest_working_day(self, day: date, *, forward: bool) -> date:
        if isinstance(day, datetime):
            raise _refuse_datetime(day)
        ordinal = day.toordinal()
        year = day.year
        while True:
            table = self._table(year)
            if forward:
                index = bisect_left(table, ordinal)
                if index < len(table):
                    return date.fromordinal(table[index])
                year += 1
            else:
                index = bisect_right(table, ordinal)
                if index > 0:
                    return date.fromordinal(table[index - 1])
                year -= 1

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (n >= 1); `day` itself never counts."""
        if isinstance(day, datetime):
            raise _refuse_datetime(day)
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        year = day.year
        table = self._table(year)
        index = bisect_right(table, day.toordinal())  # the first working day after `day`
        remaining = n
        while index + remaining > len(table):
            remaining -= len(table) - index
            year += 1
            table = self._table(year)
            index = 0
        return date.fromordinal(table[index + remaining - 1])

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: `start` excluded, `end` included; 0 if end <= start."""
        if isinstance(start, datetime):
            raise _refuse_datetime(start)
        if isinstance(end, datetime):
            raise _refuse_datetime(end)
        if end <= start:
            return 0
        # (working days up to end) - (working days up to start), counted per year.
        full_years = sum(len(self._table(y)) for y in range(start.year, end.year))
        up_to_end = bisect_right(self._table(end.year), end.toordinal())
        up_to_start = bisect_right(self._table(start.year), start.toordinal())
        return full_years + up_to_end - up_to_start

    def holiday_name(self, day: date) -> str | None:
        """Why the desk is closed on `day` apart from the weekend: the Dutch name of the
        public holiday (or of 11 July), "Sluitingsdag" for a closing day, else None."""
        if isinstance(day, datetime):
            raise _refuse_datetime(day)
        name = _public_holidays(day.year, self.flemish).get(day)
        if name is not None:
            return name
        if (day.month, day.day) in self.closing_days or day in self.extra_closed:
            return CLOSING_DAY
        return None


def shift_deadline(deadline: date, calendar: WorkCalendar) -> date:
    """The deadline itself on a working day, else the next working day (the answer cannot
    be expected from a closed desk)."""
    return calendar.next_working_day(deadline)


def parse_closing_day(text: str) -> tuple[int, int] | date:
    """'MM-DD' is closed every year, returned as (month, day); 'YYYY-MM-DD' is closed once,
    returned as a date. Raises ValueError saying what is accepted."""
    match = _CLOSING_DAY_TEXT.match(text)
    usage = (
        "expected a closing day as 'MM-DD' (every year, e.g. '12-24') "
        f"or 'YYYY-MM-DD' (once, e.g. '2027-05-07'), got {text!r}"
    )
    if match is None:
        raise ValueError(usage)
    year_text, first, second = match.groups()
    month, day = int(first), int(second)
    try:
        parsed = date(int(year_text) if year_text else _LEAP_YEAR, month, day)
    except ValueError:
        if year_text is None and 1 <= day <= 12 < month <= 31:
            # Day-month is the usual Belgian order, so point at the likely mix-up.
            usage += f"; did you mean '{day:02d}-{month:02d}' (month first)?"
        raise ValueError(usage) from None
    if year_text:
        return parsed
    return (month, day)
