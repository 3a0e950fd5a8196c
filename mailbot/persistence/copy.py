"""`mailbot db copy --to URL`: every row of one database into a new, empty one (SQLite to
PostgreSQL when a desk outgrows one file), keeping ids, references, reference counters,
the outbox and the history, so that the daemon carries on where it stopped."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Integer, func, select, text

from mailbot.persistence.db import (
    DatabaseSetupError,
    make_engine,
    require_current_schema,
    upgrade,
)
from mailbot.persistence.tables import Base

log = logging.getLogger(__name__)

CHUNK = 500  # rows per INSERT; blobs hold whole mails, so memory stays bounded


def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every table from source to target (created or migrated to this version, and
    empty); one consistent read of the source, one transaction on the target.
    Returns the number of rows per table."""
    source = make_engine(source_url, read_only=True)
    target = make_engine(target_url)
    try:
        require_current_schema(source)
        upgrade(target)
        counts: dict[str, int] = {}
        with source.connect() as reading, target.begin() as writing:
            if source.dialect.name == "sqlite":
                reading.exec_driver_sql("BEGIN")  # one snapshot for all tables
            _refuse_if_not_empty(writing)
            for table in Base.metadata.sorted_tables:  # parents before children
                counts[table.name] = _copy_table(reading, writing, table.name)
            if target.dialect.name == "postgresql":
                _advance_sequences(writing)
        return counts
    finally:
        source.dispose()
        target.dispose()


def _refuse_if_not_empty(writing: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        if writing.execute(select(func.count()).select_from(table)).scalar_one():
            raise DatabaseSetupError(
                f"the target database already holds data (table {table.name}): "
                "copy into a new, empty database"
            )


def _copy_table(reading: Connection, writing: Connection, name: str) -> int:
    table = Base.metadata.tables[name]
    order = list(table.primary_key.columns)
    rows = reading.execution_options(yield_per=CHUNK).execute(select(table).order_by(*order))
    copied = 0
    for chunk in rows.partitions():
        writing.execute(table.insert(), [dict(row._mapping) for row in chunk])
        copied += len(chunk)
    log.info("db copy: %s: %s rows", name, copied)
    return copied


def _advance_sequences(writing: Connection) -> None:
    """PostgreSQL's id sequences start at 1: move each past the copied ids."""
    for table in Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or not isinstance(key[0].type, Integer):
            continue
        writing.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT max({key[0].name}) FROM {table.name}), 0) + 1, false)"
            ),
            {"table": table.name, "column": key[0].name},
        )
