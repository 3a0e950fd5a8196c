"""The command line itself: what it loads, how it starts."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from harness import DovecotServer, Mailbox, SmtpSink
from support.app import FROM_ADDRESS, mailbot, new_app, write_config

from mailbot.app import App
from mailbot.persistence.tables import OutboxRow

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
        assert done.returncode == 0, f"chattr +i: {done.stderr.decode().strip()}"
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


# -- operator mistakes: one line that says what to fix, no traceback -------------------------


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("mailbot: "), done.stderr
    return last


def test_a_postgresql_url_without_the_driver_says_which_extra_to_install(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/mailbot"
    config = write_config(tmp_path, mailbox, smtp_server, url)
    without_driver = (  # as if `pip install mailbot` had left out the [postgresql] extra
        "import sys; sys.modules['psycopg'] = None; "
        "from mailbot.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    for command in (["status"], ["run", "--once"]):
        done = subprocess.run(
            [sys.executable, "-c", without_driver, "--config", str(config), *command],
            capture_output=True,
            text=True,
            check=False,
        )
        assert _one_error_line(done) == (
            "mailbot: the database driver psycopg is not installed: install mailbot[postgresql]"
        )


@pytest.mark.parametrize("mistake", ["no folder", "a folder"])
def test_an_sqlite_path_that_cannot_be_opened_is_named(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, mistake: str
) -> None:
    if mistake == "no folder":
        database = tmp_path / "state" / "mailbot.sqlite3"
        why = f"the folder {tmp_path / 'state'} does not exist"
    else:
        database = tmp_path / "mailbot.sqlite3"
        database.mkdir()
        why = "it is a folder; name a file in [database] url"
    # Relative to the config file, as the README allows: the line shows where that is.
    config = write_config(tmp_path, mailbox, smtp_server, f"sqlite:///{database.name}")
    if mistake == "no folder":
        config.write_text(config.read_text().replace(database.name, "state/mailbot.sqlite3"))
    for command in (["run", "--once"], ["db", "upgrade"]):
        done = mailbot("--config", config, *command)
        assert _one_error_line(done) == (
            f"mailbot: cannot open the SQLite database {database}: {why}"
        )


def test_the_metrics_port_in_use_is_one_line(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path,
            mailbox,
            smtp_server,
            f"sqlite:///{tmp_path / 'm.sqlite3'}",
            daemon={"metrics_port": port},
        )
        done = mailbot("--config", config, "run", timeout=60)
    assert _one_error_line(done) == (
        f"mailbot: [daemon] metrics_port = {port}: 127.0.0.1:{port} is already in use; "
        "choose another port or stop what listens there"
    )


def test_tls_against_a_plain_port_and_the_reverse_name_the_right_security(
    tmp_path: Path, dovecot_tls: DovecotServer, mailbox_tls: Mailbox, smtp_server: SmtpSink
) -> None:
    plain = dovecot_tls.starttls_port
    assert plain is not None
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    ca = str(dovecot_tls.ca_path)
    config = write_config(
        tmp_path,
        mailbox_tls,
        smtp_server,
        url,
        mailbox={"security": "tls", "port": plain, "ca_file": ca, "timeout": 5.0},
        smtp={"security": "tls", "timeout": 5.0},
    )
    checked = mailbot("--config", config, "check")
    assert checked.returncode == 1
    assert (
        f"imap: FAILED: IMAP 127.0.0.1:{plain}: port {plain} speaks plain IMAP: "
        'use security = "starttls"' in checked.stdout
    ), checked.stdout
    assert (
        f"smtp: FAILED: SMTP 127.0.0.1:{smtp_server.port}: port {smtp_server.port} speaks "
        'plain SMTP: use security = "starttls"' in checked.stdout
    ), checked.stdout
    assert "Traceback" not in checked.stderr

    tls = dovecot_tls.port  # imaps: TLS from the first byte
    config = write_config(
        tmp_path,
        mailbox_tls,
        smtp_server,
        url,
        mailbox={"security": "starttls", "port": tls, "ca_file": ca, "timeout": 2.0},
        smtp={"host": dovecot_tls.host, "port": tls, "security": "plain", "timeout": 2.0},
    )
    checked = mailbot("--config", config, "check")
    assert (
        f'imap: FAILED: IMAP 127.0.0.1:{tls}: port {tls} speaks TLS: use security = "tls"'
        in checked.stdout
    ), checked.stdout
    assert (
        f'smtp: FAILED: SMTP 127.0.0.1:{tls}: port {tls} speaks TLS: use security = "tls"'
        in checked.stdout
    ), checked.stdout
    once = mailbot("--config", config, "run", "--once")
    assert _one_error_line(once) == (
        f'mailbot: IMAP 127.0.0.1:{tls}: port {tls} speaks TLS: use security = "tls"'
    )


def test_ordinary_commands_log_no_alembic_lines(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, f"sqlite:///{tmp_path / 'm.sqlite3'}")
    for command in (["db", "upgrade"], ["run", "--once"], ["status"], ["db", "upgrade"]):
        done = mailbot("--config", config, *command)
        assert done.returncode in (0, 1), done.stderr  # status: unhealthy without a fetch
        assert "alembic" not in done.stderr, (command, done.stderr)


# -- the outbox: list, retry, and a delivery pass that takes everything due ---------------


def _queue(app: App, count: int, start: int = 0) -> None:
    """Mails in the outbox as the services leave them: complete messages, due now."""
    now = datetime.now(UTC)
    with app.sessions.begin() as session:
        for n in range(start, start + count):
            msg = EmailMessage()
            msg["From"], msg["To"] = FROM_ADDRESS, f"burger{n}@burger.example"
            msg["Subject"], msg["Message-ID"] = f"Ontvangstbevestiging {n}", make_msgid()
            msg.set_content("Goedendag,\n\nWe hebben je bericht goed ontvangen.\n")
            session.add(
                OutboxRow(
                    key=f"test:{n}",
                    kind="receipt",
                    message_id=msg["Message-ID"],
                    mail_from=FROM_ADDRESS,
                    recipients=f"burger{n}@burger.example",
                    subject=msg["Subject"],
                    content=msg.as_bytes(),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )


def test_a_delivery_pass_sends_everything_due_not_only_the_first_batch(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    app = new_app(write_config(tmp_path, mailbox, smtp_server, sqlite_url))
    _queue(app, 7)
    stats = app.dispatcher.run_pass(limit=3)  # `run --once` reads 500 rows at a time
    assert stats.sent == 7
    assert len(smtp_server.wait_for(7)) == 7


def test_outbox_list_and_retry_after_an_outage(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        sqlite_url,
        outbox={"retry_initial": 3600.0, "retry_max": 3600.0, "max_attempts": 2},
    )
    app = new_app(config)
    _queue(app, 3)
    smtp_server.fail_next(2, code=451, text="4.3.0 disk full")  # the outage
    smtp_server.fail_next(1, code=550, text="5.7.1 refused")
    stats = app.dispatch_pass()
    assert (stats.sent, stats.retried, stats.failed) == (0, 2, 1)

    listed = mailbot("--config", config, "outbox", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "burger" in line]
    assert len(lines) == 3
    assert sum("pending" in line and "attempts 1" in line for line in lines) == 2
    assert sum("failed" in line for line in lines) == 1
    assert "last error: 451 4.3.0 disk full" in listed.stdout
    # The refused mail is reported to the coordinator: that notice waits too.
    as_json = json.loads(mailbot("--config", config, "outbox", "list", "--json").stdout)
    assert sorted((r["kind"], r["status"]) for r in as_json) == [
        ("notice", "pending"),
        ("receipt", "failed"),
        ("receipt", "pending"),
        ("receipt", "pending"),
    ]

    retried = mailbot("--config", config, "outbox", "retry")  # not an hour later: now
    assert retried.returncode == 0, retried.stderr
    assert "retried 2 waiting mail(s); sent 3," in retried.stdout  # and the notice
    assert len(smtp_server.wait_for(3)) == 3
    assert "failed" in mailbot("--config", config, "outbox", "list").stdout

    again = mailbot("--config", config, "outbox", "retry", "--all")
    assert "retried 1 waiting mail(s); sent 1," in again.stdout, again.stdout + again.stderr
    assert len(smtp_server.wait_for(4)) == 4
    empty = mailbot("--config", config, "outbox", "list")
    assert "the outbox is empty" in empty.stdout
    assert len(mailbot("--config", config, "outbox", "list", "--all").stdout.splitlines()) == 4


def test_cases_show_lists_the_timeline_in_time_order(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    first = EmailMessage()
    first["From"], first["To"] = "An Peeters <an@burger.example>", FROM_ADDRESS
    first["Subject"], first["Message-ID"] = "Klacht over de vuilnisophaling", make_msgid()
    first.set_content("Goedemiddag,\n\nMijn vuilniszak is niet opgehaald.\n")
    again = EmailMessage()
    again["From"], again["To"] = "An Peeters <an@burger.example>", FROM_ADDRESS
    again["Subject"] = "Re: Klacht over de vuilnisophaling"
    again["Message-ID"], again["In-Reply-To"] = make_msgid(), first["Message-ID"]
    again.set_content("Ik vergat: het gaat om de Kerkstraat 12.\n")
    mailbox.append("INBOX", first.as_bytes(), when=datetime(2026, 11, 24, 7, 50, tzinfo=UTC))
    mailbox.append("INBOX", again.as_bytes(), when=datetime(2026, 11, 24, 7, 56, tzinfo=UTC))
    # One pass at 09:15 Brussels time handles both: the receipt and notice for the first
    # mail are written before the follow-up that arrived at 08:56.
    env = dict(os.environ, MAILBOT_FAKE_NOW="2026-11-24T09:15:00+01:00")
    ran = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    reference = json.loads(mailbot("--config", config, "cases", "list", "--json").stdout)[0][
        "reference"
    ]
    shown = json.loads(mailbot("--config", config, "cases", "show", reference, "--json").stdout)
    moments = [(m["at"], m["kind"]) for m in shown["messages"]]
    assert moments == sorted(moments, key=lambda m: m[0]), moments
    assert [kind for _at, kind in moments][:2] == ["complaint", "follow_up"], moments
    text = mailbot("--config", config, "cases", "show", reference).stdout
    assert text.index("08:56") < text.index("09:15"), text


def test_db_backup_copies_what_was_committed_while_a_writer_is_busy(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    database = tmp_path / "mailbot.sqlite3"
    config = write_config(tmp_path, mailbox, smtp_server, f"sqlite:///{database}")
    mailbox.append("INBOX", _complaint())
    assert mailbot("--config", config, "run", "--once").returncode == 0
    # The daemon's side: a committed change still in the WAL (not checkpointed), and a
    # write transaction in progress that is not committed.
    daemon = sqlite3.connect(database, isolation_level=None)
    try:
        daemon.execute("PRAGMA wal_autocheckpoint = 0")
        daemon.execute("UPDATE cases SET subject = 'committed, in the WAL'")
        daemon.execute("BEGIN IMMEDIATE")
        daemon.execute("UPDATE cases SET subject = 'not committed'")
        assert (tmp_path / "mailbot.sqlite3-wal").stat().st_size > 0
        copy = tmp_path / "backup" / "copy.sqlite3"
        copy.parent.mkdir()
        done = mailbot("--config", config, "db", "backup", copy)
    finally:
        daemon.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"database copied to {copy} (")
    restored = write_config(copy.parent, mailbox, smtp_server, f"sqlite:///{copy}")
    listed = json.loads(mailbot("--config", restored, "cases", "list", "--json").stdout)
    assert [c["subject"] for c in listed] == ["committed, in the WAL"]

    again = mailbot("--config", config, "db", "backup", copy)
    assert again.returncode == 2
    assert again.stderr == f"mailbot: {copy} already exists: give the name of a new file\n"


def test_db_backup_names_pg_dump_for_postgresql(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, pg_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, pg_url)
    done = mailbot("--config", config, "db", "backup", tmp_path / "copy")
    assert done.returncode == 2
    assert "pg_dump" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "copy").exists()


def test_db_copy_moves_sqlite_to_postgresql_and_the_desk_carries_on(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, pg_url: str
) -> None:
    sqlite_config = write_config(
        tmp_path, mailbox, smtp_server, f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    )
    mailbox.append("INBOX", _complaint())
    mailbox.append("INBOX", _complaint())
    assert mailbot("--config", sqlite_config, "run", "--once").returncode == 0
    before = json.loads(mailbot("--config", sqlite_config, "cases", "list", "--json").stdout)
    assert [c["reference"][-4:] for c in before] == ["0001", "0002"]
    shown = mailbot("--config", sqlite_config, "cases", "show", before[0]["reference"], "--json")

    copied = mailbot("--config", sqlite_config, "db", "copy", "--to", pg_url)
    assert copied.returncode == 0, copied.stderr
    assert "  cases: 2 rows" in copied.stdout and "  reference_counters: 1 rows" in copied.stdout

    (tmp_path / "pg").mkdir()
    pg_config = write_config(tmp_path / "pg", mailbox, smtp_server, pg_url)
    after = json.loads(mailbot("--config", pg_config, "cases", "list", "--json").stdout)
    assert after == before
    again = mailbot("--config", pg_config, "cases", "show", before[0]["reference"], "--json")
    assert json.loads(again.stdout) == json.loads(shown.stdout)
    outbox = json.loads(mailbot("--config", pg_config, "outbox", "list", "--all", "--json").stdout)
    assert len(outbox) == 4 and {r["status"] for r in outbox} == {"sent"}

    mailbox.append("INBOX", _complaint())  # the counter and the ids carry on
    assert mailbot("--config", pg_config, "run", "--once").returncode == 0
    now = json.loads(mailbot("--config", pg_config, "cases", "list", "--json").stdout)
    assert [c["reference"][-4:] for c in now] == ["0001", "0002", "0003"]

    twice = mailbot("--config", sqlite_config, "db", "copy", "--to", pg_url)
    assert twice.returncode == 1
    assert "already holds data" in twice.stderr and "Traceback" not in twice.stderr
