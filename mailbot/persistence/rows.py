"""Rows that are written once and not changed through the ORM in the same transaction
(audit entries, intake records, outbox rows, the messages of a case and their
attachments, blobs): one INSERT, compiled once per table, database and set of columns.

The ORM's unit of work (add, flush) costs about eight times as much per row; intake writes
five to seven such rows for every mail (bench/README.md). Even a Core INSERT through
`Session.execute` spends about 30 us of Python a row on SQLite (looking the compiled
statement up by its cache key, building the execution context, processing each value),
six times what SQLite itself takes: so the INSERT is compiled here once, each value goes
through its column type's bind processor (the same one SQLAlchemy uses), and the
statement runs with `Connection.exec_driver_sql` on the session's connection, about 10 us
a row. That keeps what the rest of mailbot relies on: the session's transaction and
savepoints, the engine's events, and SQLAlchemy's exceptions (an IntegrityError is still
a `WriteConflict`, a DataError an `UnstorableValue`).

The INSERT runs at once, so the rows it names (a case, a blob) must be in the database
already: a case opened in this transaction is flushed when it is opened
(services/cases.py `open_case`). A later change to such a row is an UPDATE statement of
its own (persistence/cases.py `flag_message`). Like any Core statement on a table, it
does not flush the session first."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Insert, Table, bindparam, insert
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.orm import Session

from mailbot.persistence.tables import Base


class _Compiled(NamedTuple):
    sql: str
    order: Callable[[dict[str, Any]], tuple[Any, ...]] | None  # positional (SQLite)
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    defaults: Mapping[str, Any]  # the scalar defaults of the columns not given


# (statement kind, table, database and driver, columns given) -> compiled; a few dozen
_COMPILED: dict[tuple[str, str, str, str, frozenset[str]], _Compiled | None] = {}


def insert_row(session: Session, row: type[Base], **values: Any) -> None:
    """INSERT one row of `row`'s table with these column values (the others get their
    column defaults)."""
    table: Table = row.__table__  # type: ignore[assignment]
    execute_insert(session, "insert", table, values, lambda: insert(table))


def insert_row_id(session: Session, row: type[Base], **values: Any) -> int:
    """`insert_row` for a row that others point to: returns its new `id` (RETURNING, on
    SQLite 3.35 and later and on PostgreSQL)."""
    table: Table = row.__table__  # type: ignore[assignment]
    result = execute_insert(
        session, "returning id", table, values, lambda: insert(table).returning(table.c.id)
    )
    return int(result.scalar_one())


def execute_insert(
    session: Session,
    kind: str,
    table: Table,
    values: dict[str, Any],
    build: Callable[[], Insert],
) -> CursorResult[Any]:
    """Run `build()` (an INSERT on `table`, the same statement for the same `kind`) with
    these column values, compiled once for this database and these columns."""
    connection = session.connection()
    dialect = connection.dialect
    key = (kind, table.name, dialect.name, dialect.driver, frozenset(values))
    if key not in _COMPILED:
        _COMPILED[key] = _compile(build(), table, dialect, values)
    compiled = _COMPILED[key]
    if compiled is None:  # a column default only SQLAlchemy can compute: its own way
        return session.execute(build(), values)  # type: ignore[return-value]
    params = {**compiled.defaults, **values} if compiled.defaults else dict(values)
    for name, process in compiled.processors:
        params[name] = process(params[name])
    if compiled.order is not None:
        return connection.exec_driver_sql(compiled.sql, compiled.order(params))
    return connection.exec_driver_sql(compiled.sql, params)


def _compile(
    statement: Insert, table: Table, dialect: Dialect, values: Mapping[str, Any]
) -> _Compiled | None:
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.key in values or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        defaults[column.key] = column.default.arg  # type: ignore[attr-defined]
    names = sorted({*values, *defaults})
    columns = {name: table.columns[name] for name in names}
    bound = statement.values({n: bindparam(n, type_=c.type) for n, c in columns.items()})
    compiled = bound.compile(dialect=dialect)
    processors = []
    for name, column in columns.items():
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process))
    order = _picker(tuple(compiled.positiontup or ())) if compiled.positional else None
    return _Compiled(str(compiled), order, tuple(processors), defaults)


def _picker(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of these names, in this order, as a tuple."""
    if len(names) > 1:
        return operator.itemgetter(*names)  # a tuple for two or more names
    return lambda params: tuple(params[name] for name in names)
