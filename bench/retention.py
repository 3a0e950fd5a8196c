"""Benchmark: the daily retention pass over years of cases, on SQLite and PostgreSQL.

    .venv/bin/python bench/retention.py --cases 20000 --db sqlite
    .venv/bin/python bench/retention.py --cases 20000 --db postgresql \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Fills a database as years of use leave it: N cases, half of them closed three years ago
(past the default retention period of 24 months, so this pass purges them), half still
recent; each case with the citizen's mail (its stored original), the receipt, an
attachment on every third case, the intake record of the mail; and N/2 mails that opened
no case (auto-replies, duplicates), half of them old. Then one retention pass as the
daemon runs it each night, and a second one that finds nothing new. Prints the time of
each pass, of the orphaned-blob sweep inside it, and what was removed.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import scratch
from sqlalchemy import insert, text

import mailbot.services.retention as retention
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.persistence.tables import (
    AttachmentRow,
    Blob,
    CaseMessageRow,
    CaseRow,
    IntakeRecordRow,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=3 * 365)
CHUNK = 5_000


def _blob(tag: str) -> dict[str, Any]:
    data = f"{tag} {'x' * 200}".encode()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "data": data}


def _case(n: int) -> tuple[dict[str, Any], datetime]:
    old = n % 2 == 0
    at = OLD if old else NOW - timedelta(days=n % 300)
    row = {
        "id": n + 1,
        "reference": f"KL-{at.year}-{n + 1:06d}",
        "state": "closed" if old else "received",
        "channel": "email",
        "citizen_email": f"burger{n}@burger.example",
        "citizen_name": f"Burger {n}",
        "subject": f"Klacht nummer {n}",
        "received_at": at,
        "deadline": (at + timedelta(days=31)).date(),
        "created_at": at,
        "closed_at": at + timedelta(days=20) if old else None,
    }
    return row, at


def _mail_rows(n: int, case_id: int | None, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """The rows one mail leaves: its original, its intake record, and for a case its
    message, the receipt and perhaps an attachment."""
    raw = _blob(f"mail {n}")
    rows: dict[str, list[dict[str, Any]]] = {"blobs": [raw], "items": [], "messages": []}
    rows["items"].append(
        {
            "folder": "INBOX",
            "uidvalidity": 1,
            "uid": n + 1,
            "message_id": f"<m{n}@burger.example>",
            "raw_sha256": raw["sha256"],
            "arrived_at": at,
            "outcome": "new_case" if case_id else "no_case",
            "case_id": case_id,
            "processed_at": at,
            "moved_to": "Verwerkt",
        }
    )
    if case_id is None:
        return rows
    message = {"case_id": case_id, "kind": "complaint", "subject": "Klacht", "at": at}
    rows["messages"].append(
        {
            **message,
            "id": 2 * n + 1,
            "direction": "in",
            "message_id": f"<m{n}@burger.example>",
            "raw_sha256": raw["sha256"],
        }
    )
    rows["messages"].append(
        {
            **message,
            "id": 2 * n + 2,
            "direction": "out",
            "message_id": f"<r{n}@gemeente.example>",
            "raw_sha256": None,
        }
    )
    if n % 3 == 0:
        photo = _blob(f"photo {n}")
        rows["blobs"].append(photo)
        rows["attachments"] = [
            {
                "message_id": 2 * n + 1,
                "filename": "foto.jpg",
                "content_type": "image/jpeg",
                "size": photo["size"],
                "sha256": photo["sha256"],
            }
        ]
    return rows


def fill(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    tables = {
        "cases": CaseRow,
        "blobs": Blob,
        "messages": CaseMessageRow,
        "attachments": AttachmentRow,
        "items": IntakeRecordRow,
    }
    extra = count // 2  # mails that opened no case, numbered after the cases' mails
    with engine.begin() as conn:
        for start in range(0, count + extra, CHUNK):
            batch: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
            for n in range(start, min(start + CHUNK, count + extra)):
                if n < count:
                    case, at = _case(n)
                    batch["cases"].append(case)
                    mail = _mail_rows(n, case["id"], at)
                else:
                    at = OLD if n % 2 == 0 else NOW - timedelta(days=n % 300)
                    mail = _mail_rows(n, None, at)
                for name, found in mail.items():
                    batch[name].extend(found)
            for name, row in tables.items():  # parents before the rows that point to them
                if batch[name]:
                    conn.execute(insert(row), batch[name])
    if engine.dialect.name == "postgresql":
        # Years of use: autovacuum has analysed the tables long since (a bulk load leaves
        # the planner without statistics until it comes by).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()


def run(url: str) -> dict[str, float]:
    engine = make_engine(url)
    service = retention.RetentionService(
        scratch.config(url), make_sessionmaker(engine), lambda: NOW
    )
    sweep = [0.0]
    namespace = vars(retention)  # the sweep, timed where the pass calls it
    drop = namespace["drop_orphans"]

    def timed(session: Any) -> int:
        started = time.perf_counter()
        try:
            return int(drop(session))
        finally:
            sweep[0] += time.perf_counter() - started

    namespace["drop_orphans"] = timed
    try:
        started = time.perf_counter()
        report = service.run_pass()
        first, first_sweep = time.perf_counter() - started, sweep[0]
        started = time.perf_counter()
        again = service.run_pass()
        second = time.perf_counter() - started
    finally:
        namespace["drop_orphans"] = drop
        engine.dispose()
    assert not again.cases and not again.items, "a second pass must find nothing"
    return {
        "pass_s": first,
        "sweep_s": first_sweep,
        "second_pass_s": second,
        "cases": len(report.cases),
        "items": report.items,
        "blobs": report.blobs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    with scratch.scratch_database(args.db, args.url) as url:
        fill(url, args.cases)
        result = run(url)
    print(
        f"{args.db:<10} {args.cases:>7} cases  pass {result['pass_s']:.2f} s "
        f"(orphaned blobs {result['sweep_s']:.2f} s)  removed {int(result['cases'])} cases, "
        f"{int(result['items'])} mails, {int(result['blobs'])} blobs  "
        f"second pass {result['second_pass_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
