"""Rows that are written once and not changed through the ORM in the same transaction
(audit entries, intake records, outbox rows, the messages of a case and their
attachments): one Core INSERT, built once per table and executed with the row's values.

The ORM's unit of work (add, flush) costs about eight times as much per row; intake writes
five to seven such rows for every mail (bench/README.md). The INSERT runs at once, so the
rows it names (a case, a blob) must be in the database already: a case opened in this
transaction is flushed when it is opened (services/cases.py `open_case`). A later change
to such a row is an UPDATE statement of its own (persistence/cases.py `flag_message`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.orm import Session

from mailbot.persistence.tables import Base

_INSERTS: dict[type[Base], Insert] = {}
_RETURNING_ID: dict[type[Base], Insert] = {}


def insert_row(session: Session, row: type[Base], **values: Any) -> None:
    """INSERT one row of `row`'s table with these column values (the others get their
    column defaults)."""
    statement = _INSERTS.get(row)
    if statement is None:
        statement = _INSERTS[row] = insert(row.__table__)  # type: ignore[arg-type]
    session.execute(statement, values)


def insert_row_id(session: Session, row: type[Base], **values: Any) -> int:
    """`insert_row` for a row that others point to: returns its new `id` (RETURNING, on
    SQLite 3.35 and later and on PostgreSQL)."""
    statement = _RETURNING_ID.get(row)
    if statement is None:
        table = row.__table__
        statement = _RETURNING_ID[row] = insert(table).returning(table.c.id)  # type: ignore[arg-type]
    return int(session.execute(statement, values).scalar_one())
