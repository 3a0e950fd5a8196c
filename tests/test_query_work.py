"""What the queries intake runs for every mail or batch read must not grow with the years
of mail already handled, also on PostgreSQL, whose planner chooses otherwise than
SQLite's (tests/test_query_plans.py checks SQLite's plans of a whole working day).

The per-hour receipt limits are counted before every receipt. A city on PostgreSQL
sends thousands of receipts a year to gmail.com or telenet.be. The count of the last
hour's receipts to the citizen's mail domain once read every receipt ever sent to that
domain, for every case of the hour: each new case of a morning's backlog cost more than
the one before. The work a query does is read from the database itself (PostgreSQL: the
pages EXPLAIN ANALYZE reports, or the rows fetched in this transaction; SQLite: the
virtual machine's steps), not from a clock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, insert, text
from sqlalchemy.orm import Session
from support.mails import ARRIVED

from mailbot.persistence.cases import find_case_by_message_ids
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.persistence.mailbox import seen_before, stored_items
from mailbot.persistence.outbox import HourCounts, count_receipts_for_arrivals, count_receipts_since
from mailbot.persistence.tables import Blob, CaseMessageRow, CaseRow, IntakeRecordRow, OutboxRow

HOUR_CASES = 40  # cases whose mail arrived in the hour before the new one; half to telenet.be


def _case_and_receipt(n: int, at: datetime, domain: str) -> tuple[dict[str, Any], ...]:
    reference = f"KL-2025-{n:05d}"
    case = {
        "id": n,
        "reference": reference,
        "state": "received",
        "channel": "email",
        "citizen_email": f"burger{n}@{domain}",
        "citizen_name": f"Burger {n}",
        "subject": "Klacht",
        "received_at": at,
        "deadline": (at + timedelta(days=30)).date(),
        "created_at": at,
    }
    receipt = {
        "key": f"receipt:{reference}",
        "case_id": n,
        "kind": "receipt",
        "message_id": f"r{n}@gemeente.example",
        "mail_from": "klachten@gemeente.example",
        "recipients": f"burger{n}@{domain}",
        "recipient_domain": domain,
        "arrived_at": at,
        "subject": "Ontvangstbevestiging",
        "content": b"x",
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": at,
        "last_error": "",
        "created_at": at,
    }
    return case, receipt


def _add(engine: Engine, rows: list[tuple[dict[str, Any], ...]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(CaseRow), [case for case, _receipt in rows])
        conn.execute(insert(OutboxRow), [receipt for _case, receipt in rows])


def _history(engine: Engine, first: int, count: int) -> None:
    """Cases of earlier years, each with its receipt to telenet.be."""
    old = ARRIVED - timedelta(days=400)
    _add(
        engine,
        [
            _case_and_receipt(n, old + timedelta(minutes=n), "telenet.be")
            for n in range(first, first + count)
        ],
    )


def _the_hour(engine: Engine) -> None:
    """The cases whose mail arrived in the hour before ARRIVED, half of them to telenet.be."""
    _add(
        engine,
        [
            _case_and_receipt(
                100_000 + n, ARRIVED - timedelta(minutes=n), "telenet.be" if n % 2 else "skynet.be"
            )
            for n in range(HOUR_CASES)
        ],
    )


def _work(engine: Engine, run: Callable[[], HourCounts]) -> tuple[HourCounts, int]:
    """The count's result and the work the database did for it."""
    if engine.dialect.name == "sqlite":
        steps = 0

        def count(*_args: Any) -> int:
            nonlocal steps
            steps += 1
            return 0

        @event.listens_for(engine, "engine_connect")
        def _progress(conn: Any) -> None:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.set_progress_handler(count, 100)

        engine.dispose()
        result = run()
        event.remove(engine, "engine_connect", _progress)
        return result, steps
    pages: list[int] = []

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _explain(conn: Any, cursor: Any, statement: str, params: Any, *_a: Any) -> Any:
        if statement.lstrip().upper().startswith("SELECT") and "recipient_domain" in statement:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            top = plan[0]["Plan"]
            pages.append(top["Shared Hit Blocks"] + top["Shared Read Blocks"])
        return statement, params

    result = run()
    event.remove(engine, "before_cursor_execute", _explain)
    return result, sum(pages)


def _hour_count(engine: Engine, analyzed: bool) -> tuple[HourCounts, int]:
    if analyzed:  # as autovacuum leaves the tables after a while
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    def run() -> HourCounts:
        with make_sessionmaker(engine)() as session:
            return count_receipts_for_arrivals(
                session, ARRIVED - timedelta(hours=1), ARRIVED, 10_000_000, "telenet.be"
            )

    return _work(engine, run)


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
def test_the_hourly_receipt_count_does_not_read_the_years_before(
    db_url: str, analyzed: bool
) -> None:
    engine = make_engine(db_url)
    try:
        _new_database(engine, "cases", "outbox")
        _the_hour(engine)
        _history(engine, 1, 2_000)
        few, few_work = _hour_count(engine, analyzed)
        _history(engine, 2_001, 18_000)
        many, many_work = _hour_count(engine, analyzed)
    finally:
        engine.dispose()

    # the hour's receipts, counted right: 40 in all, the 20 to telenet.be
    assert few == many == HourCounts(HOUR_CASES, HOUR_CASES // 2)
    # ten times the history, and the count does not much more work than before
    assert many_work <= few_work * 1.25 + 10, (few_work, many_work)


def test_the_hourly_receipt_count_reads_the_receipts_of_the_hour_and_nothing_else(
    db_url: str,
) -> None:
    # A morning's backlog arrived one mail a minute: every new case counts the receipts
    # of the cases that arrived in the hour before it. Found case by case (the hour's
    # cases, then each case's receipt), that count was a twentieth of intake's work a
    # mail in bench/ingest.py: two lookups for every case of the hour, for every new case.
    engine = make_engine(db_url)
    try:
        _new_database(engine, "cases", "outbox")
        _the_hour(engine)
        _history(engine, 1, 200)
        with make_sessionmaker(engine)() as session:
            read = _tables_read(
                session,
                lambda: count_receipts_for_arrivals(
                    session, ARRIVED - timedelta(hours=1), ARRIVED, 10_000_000, "telenet.be"
                ),
            )
    finally:
        engine.dispose()

    # the receipts of the hour answer it alone: no case is read, and (PostgreSQL counts
    # rows) no receipt of the history
    assert "cases" not in read, read
    assert read.get("outbox", 0) <= HOUR_CASES + 2, read


def test_receipts_queued_before_the_upgrade_still_count_for_their_hour(db_url: str) -> None:
    # Migration 0012 gives every receipt its case's arrival: a mail loop that started
    # just before the upgrade is still stopped right after it.
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0011")
        with engine.begin() as conn:
            hour = [_case_and_receipt(n, ARRIVED - timedelta(minutes=n), "x.be") for n in (1, 2)]
            conn.execute(insert(CaseRow), [case for case, _ in hour])
            before = [{k: v for k, v in r.items() if k != "arrived_at"} for _, r in hour]
            conn.execute(insert(OutboxRow), before)
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            counted = count_receipts_for_arrivals(
                session, ARRIVED - timedelta(hours=1), ARRIVED, 100, "x.be"
            )
    finally:
        engine.dispose()

    assert counted == HourCounts(2, 2)


def _tables_read(session: Session, run: Callable[[], HourCounts]) -> dict[str, int]:
    """The tables `run` reads rows of, with how many rows (PostgreSQL), or the tables whose
    columns it reads beyond an index that holds them (SQLite's authorizer, rows as 0)."""
    if session.get_bind().dialect.name == "postgresql":
        before = {name: _rows_read(session, name) for name in ("cases", "outbox")}
        run()
        after = {name: _rows_read(session, name) - before[name] for name in before}
        return {name: rows for name, rows in after.items() if rows}
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    tables: dict[str, int] = {}

    def note(action: int, table: str | None, *_rest: Any) -> int:
        if action == sqlite3.SQLITE_READ and table:
            tables[table] = 0
        return sqlite3.SQLITE_OK

    raw.set_authorizer(note)
    try:
        run()
    finally:
        raw.set_authorizer(None)
    return tables


def _new_database(engine: Engine, *tables: str) -> None:
    """mailbot's schema on an empty database. On PostgreSQL autovacuum leaves these tables
    alone: the go-live morning, no statistics yet and none arriving mid-test (a test that
    wants them runs ANALYZE itself)."""
    upgrade(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))


def _rows_read(session: Session, *tables: str) -> int:
    """The rows this transaction has read from these tables so far, through indexes or
    by walking them (PostgreSQL's pg_stat_xact_user_tables)."""
    read = text(
        "SELECT sum(coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)) "
        "FROM pg_stat_xact_user_tables WHERE relname IN :tables"
    ).bindparams(bindparam("tables", expanding=True))
    return int(session.execute(read, {"tables": list(tables)}).scalar_one() or 0)


def test_a_plan_made_while_the_tables_were_empty_is_not_kept_as_they_fill(pg_url: str) -> None:
    # The go-live morning on a new PostgreSQL database: the first receipts are counted
    # while the outbox holds a handful of rows. psycopg prepares a statement run five
    # times, and PostgreSQL then keeps one generic plan for it, made for the empty table,
    # while the morning's backlog fills the table: it read every receipt of the day for
    # each new case.
    engine = make_engine(pg_url)
    try:
        _new_database(engine, "outbox")
        _history(engine, 1, 5)
        since = ARRIVED - timedelta(days=800)
        with engine.connect() as conn, Session(bind=conn) as session:
            for n in range(1, 16):
                count_receipts_since(session, since, f"burger{n % 5 + 1}@telenet.be")
            session.commit()
            _history(engine, 6, 5_000)

            before = _rows_read(session, "outbox")
            found = count_receipts_since(session, since, "burger4000@telenet.be")
            work = _rows_read(session, "outbox") - before
    finally:
        engine.dispose()

    assert found == 1
    assert work <= 5, f"one receipt counted, {work} receipts read for it"


def test_the_batch_lookup_of_stored_mail_reads_the_batch_not_the_folder(pg_url: str) -> None:
    # Before each batch intake asks which of its UIDs it stored already (a crash between
    # commit and MOVE). PostgreSQL answered from the folder's part of the unique index and
    # filtered the UIDs: every mail ever taken from INBOX, for every batch, and with IDLE
    # a batch is one or two new mails.
    engine = make_engine(pg_url)
    try:
        _new_database(engine, "mailbox_items")
        with engine.begin() as conn:
            conn.execute(
                insert(IntakeRecordRow),
                [
                    {
                        "folder": "INBOX",
                        "uidvalidity": 7,
                        "uid": uid,
                        "message_id": f"<{uid}@burger.example>",
                        "arrived_at": ARRIVED,
                        "outcome": "new_case",
                        "processed_at": ARRIVED,
                    }
                    for uid in range(1, 20_001)
                ],
            )
        with engine.connect() as conn, Session(bind=conn) as session:
            before = _rows_read(session, "mailbox_items")
            found = stored_items(session, "INBOX", 7, [19_999, 20_000, 20_001, 20_002])
            work = _rows_read(session, "mailbox_items") - before
    finally:
        engine.dispose()

    assert sorted(found) == [19_999, 20_000]
    assert work <= 10, f"two stored mails found, {work} records read for them"


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
def test_looking_up_a_mail_by_message_id_reads_that_mail_not_the_years(
    pg_url: str, analyzed: bool
) -> None:
    # Every mail asks whether mailbot sent it itself or handled it before (seen_before),
    # and a follow-up which case holds the mail it answers (find_case_by_message_ids).
    # On a new database PostgreSQL walked the timeline from its newest mail back, or every
    # mail mailbot sent, to answer: each follow-up of a backlog cost more than the last.
    engine = make_engine(pg_url)
    try:
        _new_database(engine, "cases", "outbox", "messages", "mailbox_items")
        _history(engine, 1, 10_000)
        _timeline(engine, 10_000)
        # PostgreSQL 13 and later vacuum a table that only grows (counting its rows) long
        # before they analyse it (learning its values): the plans of a go-live backlog
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("ANALYZE" if analyzed else "VACUUM")
            )
        with engine.connect() as conn, Session(bind=conn) as session:
            before = _rows_read(session, "messages", "mailbox_items")
            case = find_case_by_message_ids(session, ["<in5@burger.example>"])
            new = seen_before(session, "<nieuw@burger.example>", "f" * 64)
            old = seen_before(session, "<in7@burger.example>", "f" * 64)
            work = _rows_read(session, "messages", "mailbox_items") - before
            assert case is not None and case.id == 5
    finally:
        engine.dispose()

    assert not new.sent_by_us and new.copy is None
    assert old.copy is not None and old.copy.message_id == "<in7@burger.example>"
    assert work <= 20, f"three mails looked up, {work} rows read for them"


def _timeline(engine: Engine, cases: int) -> None:
    """Each case's complaint (stored, with its intake record) and its receipt (sent)."""
    with engine.begin() as conn:
        conn.execute(insert(Blob), [{"sha256": "a" * 64, "size": 1, "data": b"x"}])
        conn.execute(
            insert(CaseMessageRow),
            [
                {
                    "case_id": n,
                    "direction": direction,
                    "kind": kind,
                    "message_id": message_id,
                    "at": ARRIVED,
                    "raw_sha256": raw,
                    "flagged": False,
                }
                for n in range(1, cases + 1)
                for direction, kind, message_id, raw in (
                    ("in", "complaint", f"<in{n}@burger.example>", "a" * 64),
                    ("out", "receipt", f"r{n}@gemeente.example", None),
                )
            ],
        )
        conn.execute(
            insert(IntakeRecordRow),
            [
                {
                    "folder": "INBOX",
                    "uidvalidity": 1,
                    "uid": n,
                    "message_id": f"<in{n}@burger.example>",
                    "fingerprint": "f" * 64,
                    "raw_sha256": "a" * 64,
                    "arrived_at": ARRIVED,
                    "outcome": "new_case",
                    "case_id": n,
                    "processed_at": ARRIVED,
                }
                for n in range(1, cases + 1)
            ],
        )
