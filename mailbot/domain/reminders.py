"""When to remind staff of a case's statutory deadline.

A case has "moments": heads-ups some calendar days before the deadline, one on the deadline
and escalations once it has passed. Each moment has a key that is stable per case, so the
caller can record which ones went out and send each at most once.

Decisions:
* Before-moments (and the due moment) that fall on a non-working day move EARLIER, to the
  previous working day: a reminder read on Monday about a Sunday deadline is too late.
* A before-moment is only for days after filing; if moving it earlier would put it on or
  before the filing date it is dropped (the later moments still cover the case).
* The due moment is never dropped: with no working day between filing and the deadline it
  stays on the deadline itself.
* Overdue escalations count working days, so they skip weekends, holidays and closing days.
* Moments on the same day collapse into the one closest to the deadline (due beats
  before-2, before-2 beats before-7).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from mailbot.domain.workdays import WorkCalendar

_BEFORE = "before-"
_OVERDUE = "overdue-"
_DUE = "due"


class MomentKind(StrEnum):
    BEFORE = "before"
    DUE = "due"
    OVERDUE = "overdue"


@dataclass(frozen=True, order=True)
class Moment:
    day: date  # the calendar day on which this reminder is due
    kind: MomentKind
    key: str  # stable per case: "before-14", "due", "overdue-1", ...; sent at most once
    days_left: int  # calendar days from `day` to the deadline, negative when overdue


@dataclass(frozen=True)
class ReminderRules:
    before_days: tuple[int, ...] = (14, 7, 2)  # calendar days before the deadline
    overdue_every: int = 5  # working days between overdue escalations
    # before_days without duplicates, closest to the deadline first; sorted once here
    # instead of for each of 100,000 cases.
    _closest_first: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fail when the configuration is loaded, not halfway through a reminder pass.
        if any(n < 1 for n in self.before_days):
            raise ValueError(f"before_days must all be at least 1, got {self.before_days}")
        if self.overdue_every < 1:
            raise ValueError(f"overdue_every must be at least 1, got {self.overdue_every}")
        object.__setattr__(self, "_closest_first", tuple(sorted(set(self.before_days))))


def _moment(day: date, kind: MomentKind, key: str, deadline: date) -> Moment:
    return Moment(day, kind, key, (deadline - day).days)


def _lead_moments(
    deadline: date, filed: date, rules: ReminderRules, calendar: WorkCalendar
) -> Iterator[tuple[date, MomentKind, str]]:
    """The due moment, then the before-moments, closest to the deadline first.

    Not collapsed: previous_working_day is monotonic, so each day is on or before the one
    yielded before it, and of several on one day the first yielded is the one to keep.
    """
    due_day = calendar.previous_working_day(deadline)
    yield (due_day if due_day > filed else deadline), MomentKind.DUE, _DUE
    for n in rules._closest_first:
        target = deadline - timedelta(days=n)
        if target <= filed:
            return  # the remaining ones are even earlier
        day = calendar.previous_working_day(target)
        if day <= filed:
            return
        yield day, MomentKind.BEFORE, f"{_BEFORE}{n}"


def _overdue_moment(deadline: date, calendar: WorkCalendar, k: int, every: int) -> Moment:
    day = calendar.add_working_days(deadline, 1 + (k - 1) * every)
    return _moment(day, MomentKind.OVERDUE, f"{_OVERDUE}{k}", deadline)


def moments(
    deadline: date, filed: date, rules: ReminderRules, calendar: WorkCalendar, until: date
) -> list[Moment]:
    """Every moment of a case up to and including `until`, ascending by day."""
    by_day: dict[date, Moment] = {}
    for day, kind, key in _lead_moments(deadline, filed, rules, calendar):
        if day <= until and day not in by_day:  # the first on a day is the closest
            by_day[day] = _moment(day, kind, key, deadline)
    found = sorted(by_day.values())
    day = calendar.add_working_days(deadline, 1)
    k = 1
    while day <= until:
        found.append(_moment(day, MomentKind.OVERDUE, f"{_OVERDUE}{k}", deadline))
        day = calendar.add_working_days(day, rules.overdue_every)
        k += 1
    return found


@functools.lru_cache(maxsize=1024)
def _key_rank(key: str) -> tuple[int, int] | None:
    """Position of a key in a case's timeline, from the key alone, so that keys sent under
    other rules (before_days or overdue_every since changed) still order correctly; None
    for a key that is not ours."""
    if key == _DUE:
        return (1, 0)
    # before-14 comes before before-7; overdue-1 before overdue-2.
    for prefix, group, sign in ((_BEFORE, 0, -1), (_OVERDUE, 2, 1)):
        if key.startswith(prefix):
            digits = key.removeprefix(prefix)
            if digits.isascii() and digits.isdigit():
                return (group, sign * int(digits))
    return None


def latest_due_moment(
    deadline: date,
    filed: date,
    rules: ReminderRules,
    calendar: WorkCalendar,
    today: date,
    already_sent: Collection[str],
) -> Moment | None:
    """The one moment to send today, or None.

    That is the latest moment on or before `today`, provided it was not sent and comes
    after every moment that was. After downtime only the latest missed moment goes out,
    not a burst, and a moment older than one already sent is never sent.
    """
    latest = latest_moment(deadline, filed, rules, calendar, today)
    if latest is None or superseded(latest, already_sent):
        return None
    return latest


def latest_moment(
    deadline: date, filed: date, rules: ReminderRules, calendar: WorkCalendar, today: date
) -> Moment | None:
    """The latest moment on or before `today`, sent or not: the same for every case with
    this deadline and filing day, so a pass over many cases computes it once per pair."""
    overdue_days = calendar.working_days_between(deadline, today)
    if overdue_days >= 1:
        # The k-th escalation is on working day 1 + (k - 1) * every after the deadline.
        k = (overdue_days - 1) // rules.overdue_every + 1
        return _overdue_moment(deadline, calendar, k, rules.overdue_every)
    # Closest to the deadline first, so the first one on or before today is the latest.
    for day, kind, key in _lead_moments(deadline, filed, rules, calendar):
        if day <= today:
            return _moment(day, kind, key, deadline)
    return None


def superseded(moment: Moment, already_sent: Collection[str]) -> bool:
    """True when `moment`, or a later one of the same case, was already sent."""
    if not already_sent:
        return False
    rank = _key_rank(moment.key)
    sent = [r for r in map(_key_rank, already_sent) if r is not None]
    # Also covers moment.key itself being in already_sent (equal rank).
    return bool(sent) and rank is not None and max(sent) >= rank
