"""Personal data is not kept forever: the retention period, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import Mailbox, SmtpSink
from sqlalchemy import func, insert, select, update
from support.app import mailbot, new_app, write_config
from support.mails import ARRIVED, complaint

from mailbot.persistence.cases import cases_by_reference
from mailbot.persistence.db import make_engine, make_sessionmaker, upgrade
from mailbot.persistence.mailbox import items_to_purge
from mailbot.persistence.tables import Blob, CaseMessageRow, CaseRow, IntakeRecordRow, OutboxRow


def test_finished_cases_lose_their_personal_data_after_the_retention_period(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    photo = b"\xff\xd8" + b"foto van de stoep" * 50
    mailbox.append(
        "INBOX",
        complaint(
            "An Peeters",
            "an@burger.example",
            "Stoep kapot",
            attachment=("stoep.jpg", "image/jpeg", photo),
            message_id="<oud@burger.example>",
        ),
        when=ARRIVED,
    )
    mailbox.append(
        "INBOX",
        complaint("Bo Maes", "bo@burger.example", "Nog open", message_id="<open@burger.example>"),
        when=ARRIVED,
    )
    mailbox.append("INBOX", b"garbage without any header line\r\n", when=ARRIVED)
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, retention={"keep_for": "24 months"}
    )
    app = new_app(config)
    app.run_once()
    closed_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    with app.sessions.begin() as session:
        session.execute(
            update(CaseRow)
            .where(CaseRow.reference == "KL-2026-0001")
            .values(
                state="closed", closed_at=closed_at, admissible=False, inadmissible_reason="melding"
            )
        )
    assert len(mailbox.uids("Verwerkt")) == 2 and len(mailbox.uids("Quarantaine")) == 1

    def at(moment: datetime) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailbot", "--config", str(config), "retention"],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, MAILBOT_FAKE_NOW=moment.isoformat()),
        )

    early = at(closed_at + timedelta(days=700))  # not yet 24 months
    assert early.returncode == 0, early.stderr
    assert "removed the personal data of 0 case(s)" in early.stdout

    late = at(closed_at + timedelta(days=740))
    assert late.returncode == 0, late.stderr
    assert "removed the personal data of 1 case(s)" in late.stdout
    assert "KL-2026-0001" in late.stdout

    show = json.loads(mailbot("--config", config, "cases", "show", "KL-2026-0001", "--json").stdout)
    assert show["citizen_name"] == "" and show["citizen_email"] == ""
    assert show["subject"] == "(verwijderd na de bewaartermijn)"
    assert show["messages"] == []
    # what the yearly report counts is still there
    assert (show["state"], show["admissible"], show["inadmissible_reason"]) == (
        "closed",
        False,
        "melding",
    )
    assert show["received_at"].startswith("2026-11-24")

    with app.sessions() as session:
        blobs = session.execute(select(Blob.data)).scalars().all()
        assert photo not in blobs
        assert not any(b"an@burger.example" in b for b in blobs)
        assert any(b"bo@burger.example" in b for b in blobs)  # the open case keeps its mail
        assert (
            session.execute(
                select(func.count(CaseMessageRow.id)).where(CaseMessageRow.case_id == 2)
            ).scalar_one()
            == 3
        )
        outbox = session.execute(select(OutboxRow.recipients)).scalars().all()
        assert "an@burger.example" not in outbox and "bo@burger.example" in outbox
    remaining = mailbox.fetch_all("Verwerkt")
    assert len(remaining) == 1 and b"open@burger.example" in remaining[0]


def test_a_night_that_purges_more_cases_than_one_statement_can_name(db_url: str) -> None:
    # The first night after years of use, or after retention was switched on late, finds
    # tens of thousands of finished cases due at once: more than a driver takes as
    # parameters of one statement (psycopg: 65,535). The pass must still find every
    # stored original, or it fails every night and keeps the personal data for ever.
    engine = make_engine(db_url)
    upgrade(engine)
    due = list(range(1, 70_001))
    old = ARRIVED - timedelta(days=3 * 365)
    with engine.begin() as conn:
        blobs = [{"sha256": f"{n:064x}", "size": 1, "data": b"x"} for n in (1, 2)]
        conn.execute(insert(Blob), blobs)
        conn.execute(
            insert(CaseRow),
            [
                {
                    "id": case_id,
                    "reference": f"KL-2023-{case_id:05d}",
                    "state": "closed",
                    "channel": "email",
                    "citizen_email": "an@burger.example",
                    "citizen_name": "An",
                    "subject": "Oud",
                    "received_at": old,
                    "deadline": old.date(),
                    "created_at": old,
                }
                for case_id in (due[0], due[-1])
            ],
        )
        conn.execute(
            insert(IntakeRecordRow),
            [
                {
                    "folder": "INBOX",
                    "uidvalidity": 1,
                    "uid": uid,
                    "message_id": f"<{uid}@burger.example>",
                    "raw_sha256": blob["sha256"],
                    "arrived_at": old,
                    "outcome": "new_case",
                    "case_id": case_id,
                    "processed_at": old,
                }
                for uid, blob, case_id in ((1, blobs[0], due[0]), (2, blobs[1], due[-1]))
            ],
        )
    with make_sessionmaker(engine)() as session:
        items = items_to_purge(session, due, ARRIVED)
        references = [f"KL-2023-{case_id:05d}" for case_id in due]
        found = cases_by_reference(session, references)
    engine.dispose()

    assert sorted(item.case_id for item in items if item.case_id) == [due[0], due[-1]]
    assert sorted(found) == ["KL-2023-00001", "KL-2023-70000"]
