"""`mailbot run`, `check`, `status` and `db upgrade`: the service and its health."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot.cli.wiring import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    open_app,
    open_database,
    say_error,
)
from mailbot.domain.errors import MailbotError, MailboxLoginError

if TYPE_CHECKING:
    from mailbot.cli.wiring import App
    from mailbot.inbound.imap import ImapMailbox
    from mailbot.services.backlog import BacklogCount


def run(args: argparse.Namespace, ctx: Context) -> int:
    app = open_app(ctx)
    if args.once:
        app.upgrade_schema()
        if not app.leadership.acquire():
            say_error(
                "another instance is active on this database; `run --once` would compete with it"
            )
            return EXIT_FAILURE
    elif not app.wait_for_database():  # the service waits for it, it does not exit
        return EXIT_OK
    try:
        waiting = app.backlog_waiting()  # on a first start, the first login of this run
        if waiting.blocks_start:
            say_error(backlog_warning(waiting, ctx.config.mailbox.folder))
            return EXIT_USAGE
        if not args.once:
            app.run_forever()
            return EXIT_OK
        report = app.run_once()
    except MailboxLoginError as exc:
        app.warn_login_failed(exc)
        raise
    intake = report.intake
    print(
        f"intake: {intake.seen if intake else 0} messages "
        f"{dict(intake.outcomes) if intake else {}}; "
        f"reminders queued {len(report.reminders.mails)}; "
        f"sent {report.dispatch.sent}, retry later {report.dispatch.retried}, "
        f"failed {report.dispatch.failed}"
    )
    return EXIT_OK


def backlog_warning(waiting: BacklogCount, folder: str) -> str:
    return (
        f"{folder} holds {waiting.old} mails older than 3 days and this database has never "
        f"handled a mail: a go-live on a mailbox with history. Run `mailbot backlog import` "
        f"first (see `mailbot backlog import --help`), or nobody gets a receipt for last "
        f"year's mail but everybody would get one; [intake] backlog_limit = {waiting.limit}"
    )


def db_upgrade(_args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence.db import current_revision

    app = open_app(ctx)
    app.upgrade_schema()
    print(f"database at revision {current_revision(app.engine)}")
    return EXIT_OK


def db_backup(args: argparse.Namespace, ctx: Context) -> int:
    """A consistent copy of the SQLite database into a new file, beside the daemon."""
    from mailbot.persistence.db import backup_sqlite, sqlite_path

    url = ctx.config.database.url
    if sqlite_path(url) is None:
        say_error(
            "`db backup` copies SQLite databases; back up PostgreSQL with pg_dump, e.g. "
            "pg_dump -Fc -f mailbot.dump DBNAME"
        )
        return EXIT_USAGE
    target = Path(args.file).resolve()
    if target.exists():
        say_error(f"{target} already exists: give the name of a new file")
        return EXIT_USAGE
    pages = backup_sqlite(url, target)
    print(f"database copied to {target} ({pages} pages, integrity ok)")
    return EXIT_OK


def db_copy(args: argparse.Namespace, ctx: Context) -> int:
    """Every row into a new, empty database, e.g. from SQLite to PostgreSQL."""
    from mailbot.persistence.copy import copy_database

    counts = copy_database(ctx.config.database.url, args.to)
    for table, rows in counts.items():
        print(f"  {table}: {rows} rows")
    print(
        f"copied {sum(counts.values())} rows; now set [database] url to the new database "
        "and start mailbot again"
    )
    return EXIT_OK


def check(_args: argparse.Namespace, ctx: Context) -> int:
    app = open_app(ctx)
    print(f"config: {ctx.config.path}: ok")
    failures = sum((_check_database(ctx), _check_mailbox(app), _check_smtp(app)))
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return EXIT_OK if not failures else EXIT_FAILURE


def _check_database(ctx: Context) -> int:
    """Read-only: `check` never creates the database (run as root before the first
    start, it would leave a file the service cannot write)."""
    from sqlalchemy.exc import SQLAlchemyError

    from mailbot.persistence.db import (
        DatabaseMissingError,
        current_revision,
        head_revision,
        make_engine,
        sqlite_path,
    )

    url = ctx.config.database.url
    path = sqlite_path(url)
    try:
        engine = make_engine(url, read_only=True)
    except DatabaseMissingError:
        assert path is not None
        folder = "" if path.parent.is_dir() else f" (nor its folder {path.parent}, yet)"
        print(
            f"database: {path} does not exist yet{folder}: not checked; fine before the "
            "first start, the service creates it (`mailbot db upgrade` does it now)"
        )
        return 0
    try:
        current = current_revision(engine)
        head = head_revision()
        state = "current" if current == head else f"at {current}, needs `mailbot db upgrade`"
        shown = str(path) if path else engine.url.render_as_string(hide_password=True)
        print(f"database: {shown}: schema {state}")
    except SQLAlchemyError as exc:
        print(f"database: FAILED: {exc}")
        return 1
    finally:
        engine.dispose()
    return 0


def _check_mailbox(app: App) -> int:
    m = app.config.mailbox
    failures = 0
    try:
        with app.mailbox() as mailbox:
            folders = mailbox.list_folders()
            print(f"imap: {m.host}:{m.port} ({m.security}): logged in as {m.username}")
            for folder in (m.folder, m.processed_folder, m.quarantine_folder):
                if folder in folders:
                    print(f"imap: folder {folder}: exists")
                elif folder == m.folder:
                    failures += 1
                    print(f"imap: folder {folder}: MISSING (set [mailbox] folder)")
                else:
                    print(f"imap: folder {folder}: missing, will be created on the first run")
            failures += _check_sent_folder(app, mailbox, folders)
            if m.folder in folders:
                _uv, uids = mailbox.open_folder(m.folder)
                print(f"imap: {len(uids)} messages waiting in {m.folder}")
                _check_backlog(app, mailbox)
    except MailbotError as exc:
        failures += 1
        print(f"imap: FAILED: {exc}")
    return failures


def _check_backlog(app: App, mailbox: ImapMailbox) -> None:
    """The go-live guard's count: old mail that a first start would refuse."""
    from mailbot.services.backlog import OLD_AFTER

    folder, limit = app.config.mailbox.folder, app.config.intake.backlog_limit
    old = len(mailbox.uids_before(folder, app.clock() - OLD_AFTER))
    print(f"imap: {old} of them older than {OLD_AFTER.days} days")
    if old > limit:
        print(
            f"WARNING: {old} old mails (more than [intake] backlog_limit = {limit}): on a "
            "database that never handled a mail, `mailbot run` refuses to start; run "
            "`mailbot backlog import` first, so that nobody gets a receipt for old mail"
        )


def _check_sent_folder(app: App, mailbox: ImapMailbox, folders: list[str]) -> int:
    """Print which folder is watched for answers and commands; 1 if the configured one is
    missing. Warns when nothing sent by staff can be trusted: no sent folder and no
    [staff] authserv_ids."""
    from mailbot.inbound.imap import SENT_NAMES

    sent = app.config.mailbox.sent_folder
    if sent and sent not in folders:
        print(f"imap: sent folder {sent}: MISSING (folders: {', '.join(sorted(folders))})")
        return 1
    if sent:
        print(f"imap: sent folder {sent}: exists, watched for answers and commands")
        return 0
    found = app.sent.find(mailbox)
    if found:
        print(
            f"imap: sent folder {found}: found on the server, watched for answers and commands "
            "(set [mailbox] sent_folder to choose another)"
        )
    else:
        print(
            "imap: sent folder: none found (no folder marked \\Sent, none named "
            f"{', '.join(SENT_NAMES)}): answers sent from the shared mailbox are not seen; "
            "set [mailbox] sent_folder"
        )
        if not app.config.staff.authserv_ids:
            print(
                "WARNING: no sent folder and no [staff] authserv_ids: no command sent by mail "
                "can be trusted; set [mailbox] sent_folder or [staff] authserv_ids"
            )
    return 0


def _check_smtp(app: App) -> int:
    s = app.config.smtp
    try:
        greeting = app.sender.check()
    except MailbotError as exc:
        print(f"smtp: FAILED: {exc}")
        return 1
    print(f"smtp: {s.host}:{s.port} ({s.security}): ok {greeting}")
    return 0


def status(args: argparse.Namespace, ctx: Context) -> int:
    """Healthy when the mailbox was read recently and no mail waits too long to go out."""
    from mailbot.persistence.status import read_status

    database = open_database(ctx)
    cfg = ctx.config
    now = ctx.clock()
    with database.sessions() as session:
        found = read_status(session)
    beats = found.beats
    problems: list[str] = []
    fetch_limit = timedelta(seconds=max(300.0, 5 * cfg.mailbox.poll_interval))
    intake = beats.get("intake")
    if intake is None:
        problems.append("the mailbox was never read")
    elif now - intake.at > fetch_limit:
        problems.append(f"no successful fetch since {_ago(now - intake.at)}")
    oldest = found.oldest_pending
    if oldest is not None and now - oldest > timedelta(minutes=30):
        problems.append(f"a mail has waited {_ago(now - oldest)} to be sent")
    report = {
        "healthy": not problems,
        "problems": problems,
        "last_fetch": intake.at.isoformat() if intake else None,
        "last_fetch_by": intake.instance if intake else None,
        "last_send": found.last_sent.isoformat() if found.last_sent else None,
        "last_reminder_pass": beats["reminders"].at.isoformat() if "reminders" in beats else None,
        "outbox_pending": found.pending,
        "outbox_failed": found.failed,
        "oldest_unsent": oldest.isoformat() if oldest is not None else None,
        "open_cases": found.open_cases,
        "next_reminder_run": _next_reminder_run(ctx, now) if cfg.reminders.enabled else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("healthy" if not problems else "UNHEALTHY: " + "; ".join(problems))
        for key, value in report.items():
            if key not in ("healthy", "problems"):
                print(f"  {key.replace('_', ' ')}: {value if value is not None else '-'}")
    return EXIT_OK if not problems else EXIT_FAILURE


def _next_reminder_run(ctx: Context, now: datetime) -> str:
    tz = ctx.config.cases.timezone
    local = now.astimezone(tz)
    next_run = datetime.combine(local.date(), ctx.config.reminders.send_at, tz)
    if next_run <= local:
        next_run += timedelta(days=1)
    return next_run.isoformat()


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
