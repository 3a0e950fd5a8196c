"""Benchmark: one reminder pass over many open cases, on SQLite and PostgreSQL.

    .venv/bin/python bench/reminders.py --cases 100000 --db sqlite
    .venv/bin/python bench/reminders.py --cases 100000 --db postgresql \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Cases get deadlines spread over 120 days around the pass day, so that every kind of
moment occurs. Prints the time to plan (a dry run), to run the pass for real (queueing
the mails in the outbox, in per-case and digest mode) and the number of mails queued.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta

import scratch
from sqlalchemy import delete, insert

from mailbot.config import Config, RemindersConfig
from mailbot.domain.model import Address
from mailbot.outbound.render import TemplateRenderer
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.persistence.tables import CaseRow, OutboxRow, ReminderRow
from mailbot.services.outbox import Outbox
from mailbot.services.reminders import ReminderService

PASS_DAY = date(2026, 12, 2)


def config(url: str, mode: str) -> Config:
    escalation = "directeur@gemeente.example"
    return scratch.config(url, RemindersConfig(mode=mode, escalation=escalation))  # type: ignore[arg-type]


def fill(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        deadline = PASS_DAY + timedelta(days=(n % 120) - 60)
        received = datetime(deadline.year, deadline.month, 1, 9, tzinfo=UTC) - timedelta(days=31)
        rows.append(
            {
                "reference": f"KL-2026-{n + 1:06d}",
                "state": "received" if n % 3 else "in_progress",
                "channel": "email",
                "citizen_email": f"burger{n}@burger.example",
                "citizen_name": f"Burger {n}",
                "subject": f"Klacht nummer {n}",
                "received_at": received,
                "deadline": deadline,
                "created_at": now,
                "service": "Omgeving" if n % 7 == 0 else None,
                "service_email": "omgeving@gemeente.example" if n % 7 == 0 else None,
            }
        )
    with engine.begin() as conn:
        for start in range(0, count, 10_000):
            conn.execute(insert(CaseRow), rows[start : start + 10_000])
    engine.dispose()


def run(url: str, mode: str) -> dict[str, float]:
    cfg = config(url, mode)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    renderer = TemplateRenderer(cfg.cases.timezone)
    outbox = Outbox(renderer, Address(cfg.smtp.from_address, "Klachtendienst"), "gemeente.example")
    service = ReminderService(cfg, sessions, outbox, lambda: datetime.now(UTC))
    with engine.begin() as conn:  # each mode starts from a clean slate
        conn.execute(delete(ReminderRow))
        conn.execute(delete(OutboxRow))
    started, cpu = time.perf_counter(), time.process_time()
    plan = service.run_pass(as_of=PASS_DAY, dry_run=True)
    planned, planned_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    done = service.run_pass(as_of=PASS_DAY)
    real, real_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    again = service.run_pass(as_of=PASS_DAY)
    second = time.perf_counter() - started
    engine.dispose()
    assert len(again.mails) == 0, "a second pass must queue nothing"
    return {
        "plan_s": planned,
        "plan_cpu_s": planned_cpu,
        "pass_s": real,
        "pass_cpu_s": real_cpu,
        "second_pass_s": second,
        "moments": len(plan.moments),
        "mails": len(done.mails),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--modes", nargs="+", choices=["per_case", "digest"], default=["per_case", "digest"]
    )
    args = parser.parse_args(argv)
    with scratch.scratch_database(args.db, args.url) as url:
        fill(url, args.cases)
        results = {mode: run(url, mode) for mode in args.modes}
    for mode, r in results.items():
        print(
            f"{args.db:<10} {args.cases:>7} cases  {mode:<8}  plan {r['plan_s']:.2f} s "
            f"(CPU {r['plan_cpu_s']:.2f} s)  pass {r['pass_s']:.2f} s "
            f"(CPU {r['pass_cpu_s']:.2f} s, "
            f"{int(r['moments'])} moments, {int(r['mails'])} mails "
            f"queued)  second pass {r['second_pass_s']:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
