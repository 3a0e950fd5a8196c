"""Rows that are written once and not changed through the ORM in the same transaction
(audit entries, intake records, outbox rows, the messages of a case and their
attachments): one Core INSERT, built once per table and executed with the row's values.

The ORM's unit of work (add, flush) costs about eight times as much per row; intake writes
five to seven such rows for every mail (bench/README.md). The INSERT runs at once, so the
rows it names (a case, a blob) must be in the database already: a case opened in this
transaction is inserted when it is opened (`insert_attached`, from services/cases.py
`open_case`). A later change to a write-once row is an UPDATE statement of its own
(persistence/cases.py `flag_message`); a case is changed through the ORM."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Insert, insert
from sqlalchemy.orm import Session, make_transient_to_detached

from mailbot.persistence.tables import Base

Row = TypeVar("Row", bound=Base)

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


def insert_attached(session: Session, row: type[Row], **values: Any) -> Row:
    """A new row that the transaction goes on reading and changing through the ORM (a
    case): one INSERT ... RETURNING id, and the object attached to the session as if it had
    been loaded, without the unit of work's flush (122 against 194 us a case, SQLite).
    A column not given must be nullable without a default: it is written as NULL and
    known to be None, so that reading it asks the database nothing."""
    for column in row.__table__.columns:
        if column.key in values or column.primary_key:
            continue
        if not column.nullable or column.default is not None or column.server_default is not None:
            raise TypeError(f"insert_attached({row.__name__}): give a value for {column.key}")
        values[column.key] = None
    instance = row(id=insert_row_id(session, row, **values), **values)
    make_transient_to_detached(instance)  # loaded, no pending change, an identity key
    session.add(instance)
    return instance
