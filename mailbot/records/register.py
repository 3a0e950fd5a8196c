"""The complaints register (klachtenregister): one row per case received in a year, for
the coordinator's own follow-up and for audits; CSV or Excel (xlsx)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import Config
from mailbot.domain.commands import OUTCOME_LABELS, Outcome
from mailbot.domain.deadline import local_date
from mailbot.domain.workdays import WorkCalendar
from mailbot.persistence.records import CaseRecord, case_records

CHANNEL_LABELS = {"email": "e-mail", "form": "webformulier", "letter": "brief"}
STATE_LABELS = {
    "received": "ontvangen",
    "in_progress": "in behandeling",
    "answered": "beantwoord",
    "closed": "afgesloten",
}
COLUMNS = (
    "Referentie",
    "Kanaal",
    "Ontvangen",
    "Termijn",
    "Status",
    "Ontvankelijk",
    "Reden onontvankelijk",
    "Dienst",
    "Beoordeling",
    "Beantwoord op",
    "Werkdagen",
    "Kalenderdagen",
    "Tijdig beantwoord",
)


@dataclass(frozen=True)
class RegisterRow:
    reference: str
    channel: str
    received: date  # in the municipality's time zone
    deadline: date
    state: str
    admissible: bool | None
    inadmissible_reason: str | None
    service: str | None
    outcome: str | None
    answered_on: date | None
    working_days: int | None
    calendar_days: int | None
    in_time: bool | None

    def cells(self) -> tuple[Any, ...]:
        """The row as the register shows it; dates stay dates (xlsx date cells)."""
        return (
            self.reference,
            CHANNEL_LABELS.get(self.channel, self.channel),
            self.received,
            self.deadline,
            STATE_LABELS.get(self.state, self.state),
            _yes_no(self.admissible),
            self.inadmissible_reason or "",
            self.service or "",
            OUTCOME_LABELS[Outcome(self.outcome)] if self.outcome else "",
            self.answered_on,
            self.working_days,
            self.calendar_days,
            _yes_no(self.in_time),
        )


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("ja" if value else "nee")


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """1 January 00:00 up to the next 1 January, local time, as UTC instants."""
    start = datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
    return start, datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC)


def answered_at(record: CaseRecord) -> datetime | None:
    """When the citizen got a reasoned answer: the answer itself, or the reasoned reply
    that the complaint is not admissible (which closes the case)."""
    if record.answered_at is not None:
        return record.answered_at
    if record.admissible is False and record.closed_at is not None:
        return record.closed_at
    return None


def register_row(record: CaseRecord, tz: ZoneInfo, calendar: WorkCalendar) -> RegisterRow:
    received = local_date(record.received_at, tz)
    deadline = date.fromisoformat(record.deadline_iso)
    answered = answered_at(record)
    answered_on = local_date(answered, tz) if answered is not None else None
    return RegisterRow(
        reference=record.reference,
        channel=record.channel,
        received=received,
        deadline=deadline,
        state=record.state,
        admissible=record.admissible,
        inadmissible_reason=record.inadmissible_reason,
        service=record.service,
        outcome=record.outcome,
        answered_on=answered_on,
        working_days=(
            calendar.working_days_between(received, answered_on) if answered_on else None
        ),
        calendar_days=(answered_on - received).days if answered_on else None,
        in_time=(answered_on <= deadline) if answered_on else None,
    )


def load_rows(sessions: sessionmaker[Session], config: Config, year: int) -> list[RegisterRow]:
    tz = config.cases.timezone
    start, end = year_bounds(year, tz)
    with sessions() as session:
        records = case_records(session, start, end)
    return [register_row(r, tz, config.cases.calendar) for r in records]


def write_csv(rows: Sequence[RegisterRow], stream: IO[str]) -> None:
    """Semicolons and ISO dates: what Excel with Belgian settings opens as columns (the
    caller writes UTF-8 with a byte order mark, so accents survive)."""
    writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(c) for c in row.cells()])


def _csv_cell(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def write_xlsx(rows: Sequence[RegisterRow], target: IO[bytes], year: int) -> None:
    """A real spreadsheet: date cells, a bold header row with filters, the header and the
    reference column frozen."""
    from openpyxl import Workbook  # the [records] extra; only this command needs it
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"Klachten {year}"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row.cells()))
    for index, name in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(name) + 4)
        if name in ("Ontvangen", "Termijn", "Beantwoord op"):
            for cell in sheet[letter][1:]:
                cell.number_format = "DD/MM/YYYY"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"
    sheet.freeze_panes = "B2"
    book.save(target)
