"""The command line itself: what it loads, how it starts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from servers import Mailbox, SmtpSink
from support import FROM_ADDRESS, mailbot, write_config

HEAVY = ("sqlalchemy", "alembic", "mailbot.daemon", "mailbot.config", "holidays", "jinja2")

# Runs `python -m mailbot ARGS` in this child and then reports which heavy modules it
# loaded: an honest check of what starting the command costs, without timing anything.
PROBE = """
import json, runpy, sys
sys.argv = ["mailbot", *sys.argv[1:]]
try:
    runpy.run_module("mailbot", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
heavy = json.loads(HEAVY)
print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] in heavy or m in heavy)))
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["cases", "--help"]])
def test_help_and_version_load_no_database_or_daemon_code(args: list[str]) -> None:
    probe = PROBE.replace("HEAVY", repr(json.dumps(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.strip().splitlines()
    assert "mailbot" in "\n".join(output)  # the help or the version was printed
    assert json.loads(loaded) == []


# -- the README's installation: commands before the first start, and for monitoring ------


def _install(tmp_path: Path, mailbox: Mailbox, smtp: SmtpSink) -> tuple[Path, Path, Path]:
    """A config as the README installs it: the password in a file only the service may
    read, the SQLite database in a state folder that appears at the first start."""
    database = tmp_path / "state" / "mailbot.sqlite3"
    config = write_config(tmp_path, mailbox, smtp, f"sqlite:///{database}")
    secret = tmp_path / "mailbox-password"
    secret.write_text(mailbox.password + "\n")
    text = config.read_text()
    config.write_text(
        text.replace(f'password = "{mailbox.password}"', f'password_file = "{secret}"')
    )
    return config, database, secret


def _complaint() -> bytes:
    msg = EmailMessage()
    msg["From"] = "An Peeters <an@burger.example>"
    msg["To"] = FROM_ADDRESS
    msg["Subject"] = "Klacht over de vuilnisophaling"
    msg["Message-ID"] = make_msgid(domain="burger.example")
    msg.set_content("Goedemiddag,\n\nMijn vuilniszak is al twee weken niet opgehaald.\n")
    return msg.as_bytes()


def test_before_the_first_start_nothing_creates_the_database_or_reads_the_secret(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    config, database, secret = _install(tmp_path, mailbox, smtp_server)
    secret.rename(tmp_path / "elsewhere")  # as for a monitoring user: no secret at hand
    for command in (["status"], ["cases", "list"], ["reminders", "--dry-run"]):
        done = mailbot("--config", config, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr == (
            f"mailbot: no database at {database} yet: the service creates it when it first "
            "starts (or run `mailbot db upgrade`)\n"
        ), command
        assert not database.parent.exists(), command

    (tmp_path / "elsewhere").rename(secret)  # `check` logs in: it needs the password
    checked = mailbot("--config", config, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"database: {database} does not exist yet (nor its folder {database.parent}, yet): "
        "not checked; fine before the first start" in checked.stdout
    )
    assert "all checks passed" in checked.stdout
    assert not database.parent.exists()


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Makes files and folders immutable (chattr +i): even root cannot write them, as a
    monitoring user with read access only. Undone afterwards."""
    made: list[Path] = []

    def make(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not possible here: {done.stderr.decode().strip()}")
        made.append(path)

    yield make
    for path in reversed(made):
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_status_and_cases_work_with_read_access_only(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpSink,
    immutable: Callable[[Path], None],
) -> None:
    config, database, secret = _install(tmp_path, mailbox, smtp_server)
    database.parent.mkdir()  # systemd's StateDirectory=, at the first start
    mailbox.append("INBOX", _complaint())
    ran = mailbot("--config", config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    secret.unlink()
    # The daemon runs: its connection keeps the WAL files that readers share.
    daemon = sqlite3.connect(database)
    try:
        daemon.execute("SELECT count(*) FROM cases").fetchone()
        files = sorted(database.parent.iterdir())
        for path in [*files, database.parent]:
            immutable(path)
        status = mailbot("--config", config, "status", "--json")
        listed = mailbot("--config", config, "cases", "list")
        planned = mailbot("--config", config, "reminders", "--dry-run")
    finally:
        daemon.close()
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["healthy"] is True and report["open_cases"] == 1
    assert listed.returncode == 0, listed.stderr
    assert "an@burger.example" in listed.stdout and "KL-" in listed.stdout
    assert planned.returncode == 0, planned.stderr
    assert "reminders for" in planned.stdout
