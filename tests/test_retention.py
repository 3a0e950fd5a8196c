"""Personal data is not kept forever: the retention period, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import Mailbox, SmtpSink
from sqlalchemy import func, select, update
from support.app import mailbot, new_app, write_config
from support.mails import ARRIVED, complaint

from mailbot.persistence.tables import Blob, CaseMessageRow, CaseRow, OutboxRow


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
