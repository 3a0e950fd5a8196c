"""Pure rules: working days, deadline shifting and reminder moments."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain.deadline import AnswerPeriod, compute_deadline
from mailbot.domain.reminders import (
    Moment,
    MomentKind,
    ReminderRules,
    latest_due_moment,
    moments,
)
from mailbot.domain.workdays import (
    WorkCalendar,
    parse_closing_day,
    shift_deadline,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
PLAIN = WorkCalendar()  # Belgian public holidays and 11 July, no municipal closing days
# As a municipality would configure it: closed on Christmas Eve and New Year's Eve.
MUNICIPAL = WorkCalendar.from_closing_days(["12-24", "12-31"])
RULES = ReminderRules()


def d(text: str) -> date:
    return date.fromisoformat(text)


def naive_is_working(calendar: WorkCalendar, day: date) -> bool:
    return day.weekday() < 5 and calendar.holiday_name(day) is None


# --- working days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2027-01-01", "Nieuwjaar"),
        ("2027-03-29", "Paasmaandag"),  # Easter Monday
        ("2026-04-06", "Paasmaandag"),
        ("2026-05-01", "Dag van de Arbeid"),
        ("2026-05-14", "O. L. H. Hemelvaart"),  # Ascension
        ("2026-05-25", "Pinkstermaandag"),
        ("2025-07-11", "Feestdag van de Vlaamse Gemeenschap"),
        ("2026-07-21", "Nationale feestdag"),
        ("2025-08-15", "O. L. V. Hemelvaart"),  # Assumption
        ("2027-08-15", "O. L. V. Hemelvaart"),  # a Sunday: named, and closed anyway
        ("2027-07-11", "Feestdag van de Vlaamse Gemeenschap"),  # a Sunday as well
        ("2026-11-02", None),  # All Souls' Day is not a public holiday
        ("2026-11-11", "Wapenstilstand"),
        ("2025-12-25", "Kerstmis"),
    ],
)
def test_holiday_names_are_dutch(day: str, name: str | None) -> None:
    assert PLAIN.holiday_name(d(day)) == name
    if name is not None:
        assert not PLAIN.is_working_day(d(day))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2027-07-11", False),  # Sunday
        ("2027-08-15", False),  # Sunday
        ("2025-07-11", False),  # Friday, Flemish Community holiday
        ("2025-08-15", False),  # Friday, Assumption
        ("2026-07-10", True),  # Friday before a Saturday 11 July
        ("2027-03-29", False),  # Easter Monday
        ("2027-03-30", True),
        ("2026-04-03", True),  # Good Friday is only a bank holiday
        ("2025-12-26", True),  # 26 December is only a bank holiday in Belgium
        ("2026-05-15", True),  # Friday after Ascension: no public holiday
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert PLAIN.is_working_day(d(day)) is working


def test_eleven_july_only_for_flemish_calendars() -> None:
    # Not a national public holiday: a non-Flemish calendar works on 11 July.
    assert WorkCalendar(flemish=False).is_working_day(d("2025-07-11"))
    assert WorkCalendar(flemish=False).holiday_name(d("2025-07-11")) is None
    assert not WorkCalendar().is_working_day(d("2025-07-11"))


@pytest.mark.parametrize(
    ("deadline", "shifted"),
    [
        ("2026-03-15", "2026-03-16"),  # Sunday -> Monday
        ("2026-03-14", "2026-03-16"),  # Saturday -> Monday
        ("2026-03-16", "2026-03-16"),  # a working day stays
        ("2024-07-11", "2024-07-12"),  # 11 July on a Thursday
        ("2025-07-11", "2025-07-14"),  # 11 July on a Friday: over the weekend
        ("2026-07-11", "2026-07-13"),  # 11 July on a Saturday
        ("2027-07-11", "2027-07-12"),  # 11 July on a Sunday
        ("2024-08-15", "2024-08-16"),  # 15 August on a Thursday
        ("2025-08-15", "2025-08-18"),  # 15 August on a Friday
        ("2026-08-15", "2026-08-17"),  # 15 August on a Saturday
        ("2027-08-15", "2027-08-16"),  # 15 August on a Sunday
        ("2026-04-06", "2026-04-07"),  # Easter Monday
        ("2026-04-04", "2026-04-07"),  # Easter Saturday: weekend and Easter Monday
        ("2027-03-28", "2027-03-30"),  # Easter Sunday (also the DST Sunday) + Monday
        ("2026-05-24", "2026-05-26"),  # Whit Sunday + Whit Monday
        ("2027-07-21", "2027-07-22"),  # National Day
        ("2025-12-25", "2025-12-26"),  # Christmas; 26 December is a working day
        ("2026-12-25", "2026-12-28"),  # Christmas on a Friday
        ("2027-10-30", "2027-11-02"),  # Saturday, DST Sunday, All Saints on Monday
    ],
)
def test_shift_deadline_to_next_working_day(deadline: str, shifted: str) -> None:
    assert shift_deadline(d(deadline), PLAIN) == d(shifted)


@pytest.mark.parametrize(
    ("closing", "deadline", "shifted"),
    [
        (["12-24", "12-31"], "2025-12-24", "2025-12-26"),  # 24 closed, 25 Christmas
        (["12-24", "12-31"], "2025-12-31", "2026-01-02"),  # 31 closed, 1 January
        (["12-24", "12-31"], "2026-12-24", "2026-12-28"),  # Thu closed, Fri, weekend
        (["12-24", "12-31"], "2025-12-23", "2025-12-23"),  # the day before is open
        (["12-24", "12-26", "12-31"], "2025-12-24", "2025-12-29"),  # 24, 25, 26, weekend
        (["12-24", "12-26", "12-31"], "2025-12-26", "2025-12-29"),
        (["2027-05-07"], "2027-05-06", "2027-05-10"),  # Ascension, bridge day, weekend
        (["2027-05-07"], "2028-05-26", "2028-05-26"),  # a one-off day is closed once
        ([], "2025-12-24", "2025-12-24"),  # without configuration 24 December is open
    ],
)
def test_shift_deadline_over_closing_days(closing: list[str], deadline: str, shifted: str) -> None:
    calendar = WorkCalendar.from_closing_days(closing)
    assert shift_deadline(d(deadline), calendar) == d(shifted)


def test_closing_day_is_named() -> None:
    assert MUNICIPAL.holiday_name(d("2025-12-24")) == "Sluitingsdag"
    assert MUNICIPAL.holiday_name(d("2025-12-25")) == "Kerstmis"
    assert MUNICIPAL.holiday_name(d("2025-12-27")) is None  # a plain Saturday


@pytest.mark.parametrize(
    ("friday", "monday"),
    [
        ("2026-03-27", "2026-03-30"),  # summer time starts Sunday 29 March 2026
        ("2026-10-23", "2026-10-26"),  # winter time starts Sunday 25 October 2026
        ("2028-03-24", "2028-03-27"),
        ("2028-10-27", "2028-10-30"),
    ],
)
def test_daylight_saving_weekend_is_an_ordinary_weekend(friday: str, monday: str) -> None:
    fri, mon = d(friday), d(monday)
    assert PLAIN.is_working_day(fri)
    assert PLAIN.is_working_day(mon)
    assert shift_deadline(fri, PLAIN) == fri
    assert shift_deadline(fri + timedelta(days=1), PLAIN) == mon
    assert shift_deadline(fri + timedelta(days=2), PLAIN) == mon
    assert PLAIN.add_working_days(fri, 1) == mon
    assert PLAIN.working_days_between(fri, mon) == 1


def test_deadline_of_a_mail_filed_in_the_dst_night_then_shifted() -> None:
    # 00:05 CET on Sunday 29 March 2026, the night summer time starts.
    arrived = datetime(2026, 3, 28, 23, 5, tzinfo=UTC)
    deadline = compute_deadline(arrived, AnswerPeriod(days=27), BRUSSELS)
    assert deadline == d("2026-04-25")  # a Saturday
    assert shift_deadline(deadline, PLAIN) == d("2026-04-27")


def test_add_working_days_and_count() -> None:
    # Christmas week 2025 with the municipal closing days: 24, 25, 31 Dec and 1 Jan closed.
    assert MUNICIPAL.add_working_days(d("2025-12-23"), 1) == d("2025-12-26")
    assert MUNICIPAL.add_working_days(d("2025-12-23"), 4) == d("2026-01-02")
    assert MUNICIPAL.working_days_between(d("2025-12-23"), d("2026-01-02")) == 4
    assert MUNICIPAL.working_days_between(d("2026-01-02"), d("2025-12-23")) == 0
    assert MUNICIPAL.working_days_between(d("2026-01-02"), d("2026-01-02")) == 0
    assert PLAIN.next_working_day(d("2027-03-27")) == d("2027-03-30")
    assert PLAIN.previous_working_day(d("2027-03-29")) == d("2027-03-26")
    with pytest.raises(ValueError, match="at least 1"):
        PLAIN.add_working_days(d("2026-01-05"), 0)


def test_calendar_arithmetic_matches_walking_day_by_day() -> None:
    rng = random.Random(20260311)
    start_of_range = d("2024-06-01")
    for calendar in (PLAIN, MUNICIPAL, WorkCalendar(flemish=False)):
        for _ in range(300):
            start = start_of_range + timedelta(days=rng.randrange(1500))
            end = start + timedelta(days=rng.randrange(-5, 800))
            walked = sum(
                naive_is_working(calendar, start + timedelta(days=i))
                for i in range(1, (end - start).days + 1)
            )
            assert calendar.working_days_between(start, end) == walked
            n = rng.randrange(1, 300)
            day, left = start, n
            while left:
                day += timedelta(days=1)
                left -= naive_is_working(calendar, day)
            assert calendar.add_working_days(start, n) == day
            after = start
            while not naive_is_working(calendar, after):
                after += timedelta(days=1)
            assert calendar.next_working_day(start) == after


def test_datetimes_are_refused() -> None:
    # A datetime never equals a date, so it would silently miss every holiday.
    with pytest.raises(TypeError, match="calendar date"):
        PLAIN.is_working_day(datetime(2025, 12, 25, 9, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("12-24", (12, 24)),
        (" 12-31 ", (12, 31)),
        ("1-2", (1, 2)),
        ("02-29", (2, 29)),
        ("2027-05-07", date(2027, 5, 7)),
    ],
)
def test_parse_closing_day(text: str, parsed: tuple[int, int] | date) -> None:
    assert parse_closing_day(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("24-12", "did you mean '12-24'"),
        ("13-01", "'MM-DD'"),
        ("12/24", "'MM-DD'"),
        ("2027-02-29", "'YYYY-MM-DD'"),
        ("", "'MM-DD'"),
        ("kerstavond", "got 'kerstavond'"),
    ],
)
def test_parse_closing_day_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_closing_day(text)


def test_calendar_refuses_impossible_closing_day() -> None:
    with pytest.raises(ValueError, match="not a day of the year"):
        WorkCalendar(closing_days=frozenset({(2, 30)}))


# --- reminder moments ---------------------------------------------------------------------


def keys(found: list[Moment]) -> list[str]:
    return [m.key for m in found]


def test_moments_of_a_normal_case() -> None:
    # Filed Thursday 15 January 2026; the deadline, Sunday 15 February, is not shifted.
    found = moments(d("2026-02-15"), d("2026-01-15"), RULES, PLAIN, until=d("2026-03-02"))
    assert found == [
        # 1 February is a Sunday: the heads-up comes on the Friday before.
        Moment(d("2026-01-30"), MomentKind.BEFORE, "before-14", 16),
        Moment(d("2026-02-06"), MomentKind.BEFORE, "before-7", 9),  # 8 Feb is a Sunday
        # before-2 (Friday 13th) and the due moment (the Sunday, moved to the Friday)
        # fall on one day: the one closest to the deadline stays.
        Moment(d("2026-02-13"), MomentKind.DUE, "due", 2),
        Moment(d("2026-02-16"), MomentKind.OVERDUE, "overdue-1", -1),
        Moment(d("2026-02-23"), MomentKind.OVERDUE, "overdue-2", -8),
        Moment(d("2026-03-02"), MomentKind.OVERDUE, "overdue-3", -15),
    ]


def test_moments_of_a_shifted_deadline_on_working_days() -> None:
    deadline = shift_deadline(d("2026-02-15"), PLAIN)  # Monday 16 February
    found = moments(deadline, d("2026-01-15"), RULES, PLAIN, until=deadline)
    assert [(m.day, m.key, m.days_left) for m in found] == [
        (d("2026-02-02"), "before-14", 14),
        (d("2026-02-09"), "before-7", 7),
        (d("2026-02-13"), "before-2", 3),  # Saturday 14th moved to Friday 13th
        (d("2026-02-16"), "due", 0),
    ]


def test_moments_stop_at_until() -> None:
    found = moments(d("2026-02-16"), d("2026-01-15"), RULES, PLAIN, until=d("2026-02-09"))
    assert keys(found) == ["before-14", "before-7"]
    assert moments(d("2026-02-16"), d("2026-01-15"), RULES, PLAIN, until=d("2026-01-20")) == []


def test_case_filed_three_days_before_its_deadline() -> None:
    # Filed Monday 9 March, deadline Thursday 12 March: only before-2 is after filing.
    found = moments(d("2026-03-12"), d("2026-03-09"), RULES, PLAIN, until=d("2026-03-13"))
    assert [(m.day, m.key) for m in found] == [
        (d("2026-03-10"), "before-2"),
        (d("2026-03-12"), "due"),
        (d("2026-03-13"), "overdue-1"),
    ]


def test_before_moment_is_not_moved_onto_the_filing_day() -> None:
    # Filed Friday, deadline Monday: before-2 (Saturday) would move to the filing day.
    found = moments(d("2026-03-16"), d("2026-03-13"), RULES, PLAIN, until=d("2026-03-16"))
    assert keys(found) == ["due"]


def test_due_moment_is_never_dropped() -> None:
    # Filed Friday, deadline Sunday: no working day in between, so the due moment stays
    # on the deadline itself rather than before filing.
    found = moments(d("2026-03-15"), d("2026-03-13"), RULES, PLAIN, until=d("2026-03-16"))
    assert [(m.day, m.key) for m in found] == [
        (d("2026-03-15"), "due"),
        (d("2026-03-16"), "overdue-1"),
    ]


def test_before_moments_move_earlier_over_holidays() -> None:
    # Deadline Wednesday 8 April 2026: before-2 is Easter Monday, so it moves back over
    # the weekend to Friday 3 April (Good Friday is a working day).
    found = moments(d("2026-04-08"), d("2026-03-01"), RULES, PLAIN, until=d("2026-04-08"))
    assert [(m.day, m.key) for m in found] == [
        (d("2026-03-25"), "before-14"),
        (d("2026-04-01"), "before-7"),
        (d("2026-04-03"), "before-2"),  # Monday 6 April is Easter Monday
        (d("2026-04-08"), "due"),
    ]


def test_overdue_escalations_skip_weekends_holidays_and_closing_days() -> None:
    rules = ReminderRules(before_days=(), overdue_every=5)
    found = moments(d("2025-12-23"), d("2025-11-20"), rules, MUNICIPAL, until=d("2026-01-14"))
    assert [(m.day, m.key) for m in found] == [
        (d("2025-12-23"), "due"),
        (d("2025-12-26"), "overdue-1"),  # 24 closed, 25 Christmas
        # 29, 30, 2, 5, 6: 31 December closed, 1 January New Year, weekends
        (d("2026-01-06"), "overdue-2"),
        (d("2026-01-13"), "overdue-3"),
    ]


def test_overdue_every_working_day() -> None:
    rules = ReminderRules(before_days=(), overdue_every=1)
    found = moments(d("2026-04-02"), d("2026-03-01"), rules, PLAIN, until=d("2026-04-08"))
    assert [(m.day, m.key) for m in found] == [
        (d("2026-04-02"), "due"),
        (d("2026-04-03"), "overdue-1"),
        (d("2026-04-07"), "overdue-2"),  # weekend and Easter Monday skipped
        (d("2026-04-08"), "overdue-3"),
    ]


def test_duplicate_before_days_collapse() -> None:
    rules = ReminderRules(before_days=(2, 3, 2))
    # Deadline Monday 16 March 2026: before-2 is Saturday 14th and before-3 Friday 13th.
    found = moments(d("2026-03-16"), d("2026-02-16"), rules, PLAIN, until=d("2026-03-16"))
    assert [(m.day, m.key) for m in found] == [
        (d("2026-03-13"), "before-2"),
        (d("2026-03-16"), "due"),
    ]


@pytest.mark.parametrize(("before_days", "overdue_every"), [((14, 0), 5), ((-1,), 5), ((7,), 0)])
def test_rules_refuse_nonsense(before_days: tuple[int, ...], overdue_every: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReminderRules(before_days, overdue_every)


# --- the moment to send today ---------------------------------------------------------------

DEADLINE = d("2026-02-16")  # Monday
FILED = d("2026-01-15")


def due_today(today: str, sent: set[str]) -> Moment | None:
    return latest_due_moment(DEADLINE, FILED, RULES, PLAIN, d(today), sent)


@pytest.mark.parametrize(
    ("today", "sent", "expected"),
    [
        ("2026-01-20", set(), None),  # nothing yet
        ("2026-02-02", set(), "before-14"),
        ("2026-02-05", set(), "before-14"),  # missed on its day, still the latest
        ("2026-02-05", {"before-14"}, None),
        # Down from 1 to 10 February: before-14 and before-7 missed, only before-7 goes.
        ("2026-02-10", set(), "before-7"),
        ("2026-02-10", {"before-14"}, "before-7"),
        ("2026-02-16", {"before-14", "before-7", "before-2"}, "due"),
        # Down for a month after the deadline: one escalation, not five.
        ("2026-03-20", {"before-14", "before-7", "before-2", "due"}, "overdue-5"),
        ("2026-03-20", {"overdue-5"}, None),
        # A moment older than one already sent is never sent.
        ("2026-02-13", {"due"}, None),
        ("2026-02-13", {"overdue-1"}, None),
        # Keys that are not ours are ignored.
        ("2026-02-13", {"manual", "overdue-", "before-x"}, "before-2"),
        # Sent under other rules (before_days was (10,)): before-7 still comes after it.
        ("2026-02-09", {"before-10"}, "before-7"),
    ],
)
def test_latest_due_moment(today: str, sent: set[str], expected: str | None) -> None:
    moment = due_today(today, sent)
    assert (moment.key if moment else None) == expected


def test_daemon_down_for_a_week_sends_one_reminder() -> None:
    # Last run on the first overdue day; back a week and a half later: overdue-2 and
    # overdue-3 were both missed, only overdue-3 goes out, once.
    sent = {"before-14", "before-7", "before-2", "due", "overdue-1"}
    first = due_today("2026-03-04", sent)
    assert first == Moment(d("2026-03-03"), MomentKind.OVERDUE, "overdue-3", -15)
    assert due_today("2026-03-04", sent | {first.key}) is None


def test_second_call_on_the_same_day_sends_nothing() -> None:
    first = due_today("2026-02-09", set())
    assert first is not None
    assert first.key == "before-7"
    assert due_today("2026-02-09", {first.key}) is None


def test_daily_runs_send_every_moment_once_on_its_day() -> None:
    sent: list[Moment] = []
    day = FILED
    while day <= d("2026-04-30"):
        moment = latest_due_moment(DEADLINE, FILED, RULES, PLAIN, day, {m.key for m in sent})
        if moment is not None:
            assert moment.day == day
            sent.append(moment)
        day += timedelta(days=1)
    assert sent == moments(DEADLINE, FILED, RULES, PLAIN, until=d("2026-04-30"))


def test_latest_due_moment_agrees_with_moments() -> None:
    rng = random.Random(11072027)
    for _ in range(2000):
        filed = d("2025-01-01") + timedelta(days=rng.randrange(900))
        deadline = filed + timedelta(days=rng.choice([3, 10, 28, 30, 31]))
        rules = ReminderRules(rng.choice([(14, 7, 2), (), (5, 1)]), rng.choice([1, 3, 5]))
        calendar = rng.choice([PLAIN, MUNICIPAL])
        today = filed + timedelta(days=rng.randrange(-3, 120))
        found = moments(deadline, filed, rules, calendar, until=today)
        expected = found[-1] if found else None
        assert latest_due_moment(deadline, filed, rules, calendar, today, ()) == expected
