"""The yearly report to the council (decree on local government, art. 302-303): one
self-contained Dutch HTML file with the figures of one year and charts as inline SVG.
It holds no personal data, and its figures come only from what retention and erasure keep
(dates, channel, admissibility and reason, service, outcome)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.commands import OUTCOME_LABELS, REASON_LABELS, InadmissibleReason, Outcome
from mailbot.persistence.records import mails_without_case
from mailbot.records import charts
from mailbot.records.register import CHANNEL_LABELS, RegisterRow, load_rows, year_bounds

# Not a complaint at all (the municipality's own definition): a question, a report of a
# problem in the street, a suggestion. The other reasons concern complaints that are not
# admissible.
NOT_A_COMPLAINT = frozenset(
    {InadmissibleReason.INFORMATIE, InadmissibleReason.MELDING, InadmissibleReason.SUGGESTIE}
)
NO_SERVICE = "(geen dienst aangeduid)"


@dataclass(frozen=True)
class YearFigures:
    year: int
    total: int  # cases received in the year
    complaints: int
    not_complaints: int
    other_mails: int  # mails that opened no case: automatic replies, unreadable mail
    channels: dict[str, int]
    admissible: int
    inadmissible: int
    undecided: int
    reasons: dict[str, int]  # reason code -> cases
    services: dict[str, int]
    outcomes: dict[str, int]  # outcome code -> cases
    answered: int  # the citizen got a reasoned answer (or a reasoned "not admissible")
    in_time: int
    open_cases: int
    open_overdue: int
    median_days: float | None
    p90_days: int | None
    median_working_days: float | None
    p90_working_days: int | None
    months: tuple[int, ...] = field(default=(0,) * 12)

    @property
    def share_in_time(self) -> float | None:
        return round(100 * self.in_time / self.answered, 1) if self.answered else None


def p90(values: Sequence[int]) -> int | None:
    """90th percentile, nearest-rank method: the smallest value that at least 90 % of the
    cases do not exceed (no interpolation, so it is always a real number of days)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _count(rows: Sequence[RegisterRow], test: Callable[[RegisterRow], bool]) -> int:
    return sum(1 for r in rows if test(r))


def _reasons(rows: Sequence[RegisterRow]) -> dict[str, int]:
    found = Counter(r.inadmissible_reason or "" for r in rows if r.admissible is False)
    return _ordered(found, [r.value for r in InadmissibleReason])


def _services(rows: Sequence[RegisterRow]) -> dict[str, int]:
    found = Counter(r.service or NO_SERVICE for r in rows)
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def _outcomes(rows: Sequence[RegisterRow]) -> dict[str, int]:
    return _ordered(Counter(r.outcome or "" for r in rows if r.outcome), [o.value for o in Outcome])


def compute(rows: Sequence[RegisterRow], year: int, other_mails: int, today: date) -> YearFigures:
    answered = [r for r in rows if r.answered_on is not None]
    still_open = [r for r in rows if r.state in ("received", "in_progress")]
    reasons = _reasons(rows)
    not_complaints = sum(n for code, n in reasons.items() if code in NOT_A_COMPLAINT)
    months = Counter(r.received.month for r in rows)
    calendar_days = [r.calendar_days or 0 for r in answered]
    working_days = [r.working_days or 0 for r in answered]
    return YearFigures(
        year=year,
        total=len(rows),
        complaints=len(rows) - not_complaints,
        not_complaints=not_complaints,
        other_mails=other_mails,
        channels=_ordered(Counter(r.channel for r in rows), list(CHANNEL_LABELS)),
        admissible=_count(rows, lambda r: r.admissible is True),
        inadmissible=_count(rows, lambda r: r.admissible is False),
        undecided=_count(rows, lambda r: r.admissible is None),
        reasons=reasons,
        services=_services(rows),
        outcomes=_outcomes(rows),
        answered=len(answered),
        in_time=_count(answered, lambda r: bool(r.in_time)),
        open_cases=len(still_open),
        open_overdue=_count(still_open, lambda r: r.deadline < today),
        median_days=_median(calendar_days),
        p90_days=p90(calendar_days),
        median_working_days=_median(working_days),
        p90_working_days=p90(working_days),
        months=tuple(months.get(m, 0) for m in range(1, 13)),
    )


def _ordered(counts: Counter[str], order: Sequence[str]) -> dict[str, int]:
    """Known keys in their usual order (zeros left out), then any others."""
    known = {key: counts[key] for key in order if counts.get(key)}
    rest = {key: n for key, n in sorted(counts.items()) if key not in known and n}
    return known | rest


def load_figures(
    sessions: sessionmaker[Session], config: Config, year: int, now: datetime
) -> YearFigures:
    tz = config.cases.timezone
    start, end = year_bounds(year, tz)
    with sessions() as session:
        other = sum(mails_without_case(session, config.mailbox.folder, start, end).values())
    rows = load_rows(sessions, config, year)
    return compute(rows, year, other, now.astimezone(tz).date())


def number(value: float | int | None, decimals: int = 0) -> str:
    """Dutch notation: decimal comma; '-' when there is nothing to count."""
    if value is None:
        return "-"
    if decimals == 0 and float(value).is_integer():
        return f"{int(value):d}"
    return f"{value:.{decimals or 1}f}".replace(".", ",")


def _labels() -> dict[str, dict[str, str]]:
    return {
        "channels": CHANNEL_LABELS,
        "reasons": {r.value: label for r, label in REASON_LABELS.items()},
        "outcomes": {o.value: label for o, label in OUTCOME_LABELS.items()},
    }


def render(figures: YearFigures, previous: YearFigures | None, made_on: date) -> str:
    labels = _labels()
    svg = {
        "months": charts.months_chart(
            "maanden", figures.year, figures.months, previous.months if previous else None
        ),
        "reasons": charts.bar_chart(
            "redenen",
            [labels["reasons"].get(k, k) for k in figures.reasons],
            list(figures.reasons.values()),
        ),
        "services": charts.bar_chart(
            "diensten", list(figures.services), list(figures.services.values())
        ),
        "outcomes": charts.bar_chart(
            "beoordeling",
            [labels["outcomes"].get(k, k) for k in figures.outcomes],
            list(figures.outcomes.values()),
        ),
    }
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["number"] = number
    template = environment.get_template("report.html")
    return template.render(
        f=figures,
        p=previous,
        labels=labels,
        svg={k: Markup(v) for k, v in svg.items()},  # SVG text made by matplotlib here
        months=charts.MONTHS,
        made_on=made_on,
    )


def write_report(
    sessions: sessionmaker[Session], config: Config, year: int, path: Path, now: datetime
) -> YearFigures:
    figures = load_figures(sessions, config, year, now)
    previous = load_figures(sessions, config, year - 1, now)
    html = render(
        figures, previous if previous.total else None, now.astimezone(config.cases.timezone).date()
    )
    path.write_text(html, encoding="utf-8")
    return figures
