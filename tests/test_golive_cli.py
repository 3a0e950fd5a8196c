"""The go-live as an operator types it (issue 11.1): 40 mails from 2025, read long ago, in a
real Dovecot INBOX, and the real command line in a child process on the test database."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import Mailbox, SmtpSink
from support.app import COORDINATOR, mailbot, write_config
from support.mails import body_text, complaint

OLD = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
COUNT = 40


def _old_mailbox(mailbox: Mailbox) -> None:
    for n in range(COUNT):
        mailbox.append(
            "INBOX",
            complaint(f"Burger {n}", f"b{n}@burger{n % 5}.example", f"Oude klacht {n}"),
            when=OLD + timedelta(hours=n),
            flags=[b"\\Seen"],
        )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _cases(config: Path, *args: str) -> list[dict[str, object]]:
    listed = json.loads(_ok(mailbot("--config", config, "cases", "list", "--json", *args)))
    assert isinstance(listed, list)
    return listed


def test_the_go_live_on_the_command_line(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    _old_mailbox(mailbox)
    config = write_config(tmp_path, mailbox, smtp_server, db_url)

    checked = _ok(mailbot("--config", config, "check"))
    assert f"imap: {COUNT} messages waiting in INBOX" in checked
    assert f"imap: {COUNT} of them older than 3 days" in checked
    assert f"WARNING: {COUNT} old mails (more than [intake] backlog_limit = 20)" in checked
    assert "mailbot backlog import" in checked

    refused = mailbot("--config", config, "run", "--once")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert "INBOX holds 40 mails older than 3 days" in refused.stderr
    assert "Run `mailbot backlog import` first" in refused.stderr
    assert smtp_server.messages == [] and len(mailbox.uids("INBOX")) == COUNT

    dry = _ok(mailbot("--config", config, "backlog", "import", "--dry-run"))
    assert f"backlog: would import {COUNT} mail(s) from INBOX" in dry
    assert len(mailbox.uids("INBOX")) == COUNT and mailbox.uids("Verwerkt") == []
    assert smtp_server.messages == [] and _cases(config) == []

    done = _ok(mailbot("--config", config, "backlog", "import"))
    assert f"backlog: imported {COUNT} mail(s) from INBOX" in done
    assert "mailbot cases list --state imported" in done
    assert mailbox.uids("INBOX") == [] and len(mailbox.uids("Verwerkt")) == COUNT

    # A new complaint today: the first `run --once` answers it, and only it.
    mailbox.append("INBOX", complaint("An Nieuw", "an@nieuw.example", "Vandaag"))
    ran = _ok(mailbot("--config", config, "run", "--once"))
    assert "intake: 1 messages" in ran
    citizens = [m for m in smtp_server.messages if COORDINATOR not in m.rcpt_tos]
    assert [m.rcpt_tos for m in citizens] == [("an@nieuw.example",)]
    to_coordinator = [m for m in smtp_server.messages if COORDINATOR in m.rcpt_tos]
    summaries = [m for m in to_coordinator if "40 oude mails" in m.subject]
    assert len(summaries) == 1
    assert "cases list --state imported" in body_text(summaries[0])
    assert len(to_coordinator) == 2  # the summary and the new case's notice

    imported = _cases(config, "--state", "imported")
    assert len(imported) == COUNT
    assert {c["state"] for c in imported} == {"imported"}
    assert all(str(c["received_at"]).startswith("2025-03-") for c in imported)
    listed = _ok(mailbot("--config", config, "cases", "list", "--state", "imported"))
    assert listed.count("b0@burger0.example") == 1

    # A restart after downtime is no go-live: the database has handled mail.
    for n in range(COUNT):
        mailbox.append(
            "INBOX",
            complaint(f"Later {n}", f"l{n}@later.example", f"Tijdens de panne {n}"),
            when=datetime.now(UTC) - timedelta(days=5, hours=n),
        )
    again = mailbot("--config", config, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "intake: 40 messages" in again.stdout
