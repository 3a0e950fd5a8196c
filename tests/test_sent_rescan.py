"""`mailbot sent rescan --since DATE`: answers that were already in the sent folder when it was
first watched are skipped, until the coordinator asks for them. End to end on Dovecot with
the real command line."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from harness import Mailbox, SmtpSink
from support.app import FROM_ADDRESS, mailbot, write_config
from support.mails import complaint

SENT = "Sent"
CITIZEN = "an.peeters@burger.example"


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _answer(in_reply_to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = FROM_ADDRESS
    msg["To"] = CITIZEN
    msg["Subject"] = "Re: Lawaai in de Kerkstraat"
    msg["Message-ID"] = make_msgid(domain="gemeente.example")
    msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content("Beste,\n\nWe hebben de zaak onderzocht en dit is ons antwoord.\n")
    return msg.as_bytes(policy=SMTP)


def _shown(config: Path) -> dict[str, Any]:
    reference = json.loads(_ok(mailbot("--config", config, "cases", "list", "--json")))[0][
        "reference"
    ]
    shown = json.loads(_ok(mailbot("--config", config, "cases", "show", reference, "--json")))
    assert isinstance(shown, dict)
    return shown


def test_answers_already_in_the_sent_folder_are_read_after_a_rescan(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    now = datetime.now(UTC)
    complaint_id = make_msgid(domain="burger.example")
    mailbox.create(SENT)
    mailbox.append(
        "INBOX",
        complaint("An Peeters", CITIZEN, "Lawaai in de Kerkstraat", message_id=complaint_id),
        when=now - timedelta(days=2),
    )
    # The coordinator answered before mailbot first watched the sent folder.
    mailbox.append(SENT, _answer(complaint_id), when=now - timedelta(days=1))
    config = write_config(tmp_path, mailbox, smtp_server, db_url, mailbox={"sent_folder": SENT})

    _ok(mailbot("--config", config, "run", "--once"))
    first = _shown(config)
    assert first["state"] == "received"  # the answer was skipped: the folder is new
    assert [m["kind"] for m in first["messages"]] == ["complaint", "receipt", "notice"]

    since = (now - timedelta(days=3)).date().isoformat()
    said = _ok(mailbot("--config", config, "sent", "rescan", "--since", since))
    assert f"sent folder {SENT}: the next pass reads its 1 mail(s) from {since} on" in said
    _ok(mailbot("--config", config, "run", "--once"))
    second = _shown(config)
    assert second["state"] == "answered"
    kinds = [m["kind"] for m in second["messages"]]
    assert kinds.count("answer") == 1

    # Asked again: the answer is recognised, nothing is handled twice.
    _ok(mailbot("--config", config, "sent", "rescan", "--since", since))
    _ok(mailbot("--config", config, "run", "--once"))
    third = _shown(config)
    assert third["messages"] == second["messages"] and third["state"] == "answered"
