"""`mailbot cases show REF` shows the case's audit trail (issue 14.4): what mailbot and the
staff did, in time order, through a real complaint and a real command mail on Dovecot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness import Mailbox, SmtpSink
from support.app import COORDINATOR, mailbot, write_config
from support.mails import complaint
from support.staff import MX, staff_mail


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_cases_show_lists_the_audit_trail_of_a_command(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, db_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, db_url, staff={"authserv_ids": [MX]})
    mailbox.append("INBOX", complaint("An Peeters", "an@burger.example", "Vuilnisophaling"))
    _ok(mailbot("--config", config, "run", "--once"))
    reference = json.loads(_ok(mailbot("--config", config, "cases", "list", "--json")))[0][
        "reference"
    ]
    command = staff_mail(COORDINATOR, f"Re: {reference}", "#ontvankelijk\n")
    mailbox.append("INBOX", command)
    _ok(mailbot("--config", config, "run", "--once"))
    command_id = next(
        line.split(":", 1)[1].strip().strip("<>")
        for line in command.decode().splitlines()
        if line.lower().startswith("message-id:")
    )

    shown = json.loads(_ok(mailbot("--config", config, "cases", "show", reference, "--json")))
    trail = shown["audit"]
    assert [(e["actor"], e["action"], e["state_before"], e["state_after"]) for e in trail] == [
        ("mailbot", "new_case", None, "received"),
        (COORDINATOR, "#ontvankelijk", "received", "in_progress"),
        ("mailbot", "command", None, None),  # intake's own line for the command mail
    ]
    assert [e["at"] for e in trail] == sorted(e["at"] for e in trail)
    assert trail[1]["message_id"] == trail[2]["message_id"] == command_id
    assert trail[1]["rule"] == "regel 1: #ontvankelijk"
    assert "receipt sent" in trail[0]["rule"]

    text = _ok(mailbot("--config", config, "cases", "show", reference))
    section = text[text.index("Audit trail:") :]
    assert section.index("new_case") < section.index("#ontvankelijk")
    assert f"{COORDINATOR}  #ontvankelijk  received -> in_progress" in section
    assert "rule: regel 1: #ontvankelijk" in section
    assert f"mail: {command_id}" in section
