"""Command line: `mailbot [--config PATH] COMMAND`. Exit codes: 0 ok, 1 failure,
2 usage or configuration error."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from mailbot import __version__
from mailbot.app import App
from mailbot.config import Config, ConfigError, load_config
from mailbot.domain.errors import MailbotError, MailboxLoginError, PermanentError
from mailbot.domain.model import CaseState, CaseSummary
from mailbot.domain.ports import Clock, system_clock
from mailbot.domain.quoting import trim_quoted
from mailbot.inbound.imap import SENT_NAMES, ImapMailbox
from mailbot.persistence import cases as repo
from mailbot.persistence.db import (
    SchemaNotCurrentError,
    current_revision,
    head_revision,
    require_current_schema,
)
from mailbot.runtime.systemd import JournalFormatter, stderr_is_journal
from mailbot.services.reminders import ReminderPlan

log = logging.getLogger("mailbot")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

EXAMPLES = """\
examples:
  mailbot --config /etc/mailbot/config.toml check
  mailbot --config /etc/mailbot/config.toml db upgrade
  mailbot --config /etc/mailbot/config.toml run --once
  MAILBOT_CONFIG=/etc/mailbot/config.toml mailbot cases list --state received --json
  mailbot cases show KL-2026-0042
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="configuration file (default: $MAILBOT_CONFIG)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description="Mail-driven complaints desk: watches the complaints mailbox, opens a "
        "case per complaint and answers the citizen with a receipt.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"mailbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="try mailbot on this machine: built-in IMAP and SMTP servers, sample complaints",
        description="Run mailbot's real intake, receipts, notices and reminders against an "
        "in-process IMAP server and SMTP sink with Dutch sample complaints, and print what "
        "the citizens and the coordinator receive. Needs no mail server and no config "
        "(pip install 'mailbot[demo]'). Example: mailbot demo --keep /tmp/mailbot-demo",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="leave config.toml and the SQLite database in DIR, for `mailbot --config "
        "DIR/config.toml cases list` afterwards",
    )

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon (intake and delivery), until SIGTERM",
        description="Run the daemon: read the mailbox, open cases, send receipts and staff "
        "notices. Example: mailbot --config config.toml run --once",
    )
    run.add_argument("--once", action="store_true", help="each job one pass, then exit")

    sub.add_parser(
        "status",
        parents=[common],
        help="health for monitoring: last fetch and send, queues, open cases; exit 1 if unhealthy",
        description="Print the daemon's health from the database: the last successful "
        "fetch, delivery and reminder pass, the outbox queue, open cases, the oldest unsent "
        "mail and the next reminder run. Exits 1 when unhealthy, for monitoring. Example: "
        "mailbot status --json",
    ).add_argument("--json", action="store_true", help="JSON output")

    sub.add_parser(
        "check",
        parents=[common],
        help="check config, database, IMAP login and folders, SMTP connection",
        description="Check the configuration, the database, the IMAP login and folders and "
        "the SMTP connection, and print what was found. Example: mailbot check",
    )

    db = sub.add_parser("db", parents=[common], help="database schema commands")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="create or migrate the database schema to this version",
        description="Create the tables or migrate them to this version (safe to repeat). "
        "Example: mailbot db upgrade",
    )

    cases = sub.add_parser("cases", parents=[common], help="list and show cases")
    cases_sub = cases.add_subparsers(dest="cases_command", metavar="CASES_COMMAND", required=True)
    lst = cases_sub.add_parser(
        "list",
        parents=[common],
        help="list cases",
        description="List cases, oldest first. Example: mailbot cases list --state received",
    )
    lst.add_argument("--state", choices=[s.value for s in CaseState], help="only this state")
    lst.add_argument(
        "--due-before",
        metavar="DATE",
        type=_iso_date,
        help="only cases whose deadline is before this date (YYYY-MM-DD)",
    )
    lst.add_argument("--json", action="store_true", help="JSON output")
    show = cases_sub.add_parser(
        "show",
        parents=[common],
        help="show one case and its messages",
        description="Show one case with all its messages. Example: mailbot cases show KL-2026-0042",
    )
    show.add_argument("reference", metavar="REF", help="case reference, e.g. KL-2026-0042")
    show.add_argument("--json", action="store_true", help="JSON output")
    ret = sub.add_parser(
        "retention",
        parents=[common],
        help="remove personal data past [retention] keep_for (the daemon does this nightly)",
        description="Remove the personal data of cases answered or closed longer ago than "
        "[retention] keep_for, and the originals in the mailbox; the numbers for the yearly "
        "report stay. Example: mailbot retention --dry-run",
    )
    ret.add_argument("--dry-run", action="store_true", help="only print what would go")

    rem = sub.add_parser(
        "reminders",
        parents=[common],
        help="send the reminders that are due now, or show them with --dry-run",
        description="Queue and send the staff reminders that are due (normally the daemon "
        "does this at [reminders] send_at). Example: mailbot reminders --dry-run --as-of "
        "2026-12-24",
    )
    rem.add_argument("--dry-run", action="store_true", help="only print what would go out")
    rem.add_argument(
        "--as-of",
        metavar="DATE",
        type=_iso_date,
        help="plan as on this date (YYYY-MM-DD) after send_at; default: now",
    )
    from mailbot.cli_records import add_parsers  # register, report, privacy

    add_parsers(sub, parents=[common])
    return parser


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-24") from None


def fake_clock(environ: Mapping[str, str]) -> Clock:
    """MAILBOT_FAKE_NOW=2026-12-24T08:30:00+01:00 makes mailbot live at that moment (time
    still runs from there): for staging and tests of the statutory clock."""
    value = environ.get("MAILBOT_FAKE_NOW", "")
    if not value:
        return system_clock
    fake = datetime.fromisoformat(value)
    if fake.tzinfo is None:
        raise ValueError(f"MAILBOT_FAKE_NOW={value!r} needs a UTC offset, e.g. +01:00")
    offset = fake - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def setup_logging(level: str) -> None:
    fmt = "%(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_journal():
        # Under systemd the journal adds its own timestamps; the <N> prefix on each line
        # gives it the level, so `journalctl -u mailbot -p warning` finds warnings.
        handler.setFormatter(JournalFormatter(fmt))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s " + fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # mail-parser logs header contents (names, addresses) at WARNING and ERROR; our own
    # parse module records its repairs as defects, without personal data in the journal.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    # APScheduler logs every job run at INFO: noise in the journal.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "demo":
        # The demo makes its own configuration and servers; it needs no config file.
        from mailbot.demo import run_demo  # here: pymap is an optional extra

        setup_logging("DEBUG" if getattr(args, "verbose", False) else "WARNING")
        return run_demo(sys.stdout, keep=args.keep)
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"mailbot: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging("DEBUG" if getattr(args, "verbose", False) else config.logging.level)
    try:
        return _dispatch(args, config)
    except SchemaNotCurrentError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except MailboxLoginError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (MailbotError, SQLAlchemyError) as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    try:
        clock = fake_clock(os.environ)
    except ValueError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    app = App(config, clock)
    if getattr(args, "handler", None) is not None:  # commands from cli_records
        return int(args.handler(app, args))
    if args.command == "status":
        require_current_schema(app.engine)
        return _status(app, as_json=args.json)
    if args.command == "run":
        app.upgrade_schema()
        if args.once:
            if not app.leadership.acquire():
                print(
                    "mailbot: another instance is active on this database; `run --once` "
                    "would compete with it",
                    file=sys.stderr,
                )
                return EXIT_FAILURE
            try:
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
        app.run_forever()
        return EXIT_OK
    if args.command == "check":
        return _check(app)
    if args.command == "db":
        app.upgrade_schema()
        print(f"database at revision {current_revision(app.engine)}")
        return EXIT_OK
    if args.command == "retention":
        require_current_schema(app.engine)
        purge = app.retention_pass(dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"retention (before {purge.cutoff.astimezone(config.cases.timezone):%Y-%m-%d}): "
            f"{verb} the personal data of {len(purge.cases)} case(s) and {purge.items} "
            f"stored mail(s)"
        )
        for reference in purge.cases:
            print(f"  {reference}")
        return EXIT_OK
    if args.command == "reminders":
        require_current_schema(app.engine)
        plan = app.reminders.run_pass(as_of=args.as_of, dry_run=args.dry_run)
        _print_plan(plan, dry_run=args.dry_run)
        if not args.dry_run and plan.mails:
            stats = app.dispatch_pass()
            print(f"sent {stats.sent}, retry later {stats.retried}, failed {stats.failed}")
        return EXIT_OK
    if args.command == "cases":
        require_current_schema(app.engine)
        tz = config.cases.timezone
        with app.sessions() as session:
            if args.cases_command == "list":
                state = CaseState(args.state) if args.state else None
                found = repo.list_cases(session, state, due_before=args.due_before)
                if args.json:
                    print(
                        json.dumps([_case_json(c, tz) for c in found], ensure_ascii=False, indent=2)
                    )
                else:
                    _print_table(found, tz)
                return EXIT_OK
            case = repo.find_case_by_reference(session, args.reference.strip().upper())
            if case is None:
                print(f"mailbot: no case {args.reference}", file=sys.stderr)
                return EXIT_FAILURE
            summary = repo.case_summary(case, with_messages=True)
        if args.json:
            print(json.dumps(_case_json(summary, tz, messages=True), ensure_ascii=False, indent=2))
        else:
            _print_case(summary, tz)
        return EXIT_OK
    raise AssertionError(args.command)


def _check(app: App) -> int:
    cfg = app.config
    failures = 0
    print(f"config: {cfg.path}: ok")
    try:
        with app.engine.connect():
            pass
        current = current_revision(app.engine)
        head = head_revision()
        state = "current" if current == head else f"at {current}, needs `mailbot db upgrade`"
        print(f"database: {app.engine.url.render_as_string(hide_password=True)}: schema {state}")
    except SQLAlchemyError as exc:
        failures += 1
        print(f"database: FAILED: {exc}")
    try:
        with app.mailbox() as mailbox:
            folders = mailbox.list_folders()
            print(
                f"imap: {cfg.mailbox.host}:{cfg.mailbox.port} ({cfg.mailbox.security}): "
                f"logged in as {cfg.mailbox.username}"
            )
            for folder in (
                cfg.mailbox.folder,
                cfg.mailbox.processed_folder,
                cfg.mailbox.quarantine_folder,
            ):
                if folder in folders:
                    print(f"imap: folder {folder}: exists")
                elif folder == cfg.mailbox.folder:
                    failures += 1
                    print(f"imap: folder {folder}: MISSING (set [mailbox] folder)")
                else:
                    print(f"imap: folder {folder}: missing, will be created on the first run")
            failures += _check_sent_folder(app, mailbox, folders)
            if cfg.mailbox.folder in folders:
                _uv, uids = mailbox.open_folder(cfg.mailbox.folder)
                print(f"imap: {len(uids)} messages waiting in {cfg.mailbox.folder}")
    except MailboxLoginError as exc:
        failures += 1
        print(f"imap: FAILED: {exc}")
    except MailbotError as exc:
        failures += 1
        print(f"imap: FAILED: {exc}")
    try:
        greeting = app.sender.check()
        print(f"smtp: {cfg.smtp.host}:{cfg.smtp.port} ({cfg.smtp.security}): ok {greeting}")
    except (MailbotError, PermanentError) as exc:
        failures += 1
        print(f"smtp: FAILED: {exc}")
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return EXIT_OK if not failures else EXIT_FAILURE


def _check_sent_folder(app: App, mailbox: ImapMailbox, folders: list[str]) -> int:
    """Print which folder is watched for answers and commands; 1 if the configured one is
    missing. Warns when nothing sent by staff can be trusted: no sent folder and no
    [staff] authserv_ids."""
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


def _iso(value: Any, tz: Any) -> str:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value.isoformat()
    return str(value.astimezone(tz).isoformat())


def _case_json(case: CaseSummary, tz: Any, messages: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reference": case.reference,
        "state": case.state.value,
        "channel": case.channel.value,
        "citizen_email": case.citizen_email,
        "citizen_name": case.citizen_name,
        "subject": case.subject,
        "received_at": _iso(case.received_at, tz),
        "deadline": case.deadline.isoformat(),
        "service": case.service,
        "admissible": case.admissible,
        "inadmissible_reason": case.inadmissible_reason,
        "outcome": case.outcome,
    }
    if messages:
        data["messages"] = [
            {
                "direction": m.direction.value,
                "kind": m.kind.value,
                "message_id": m.message_id,
                "subject": m.subject,
                "at": _iso(m.at, tz),
                "from": m.sender,
                "to": m.recipients,
                "flagged": m.flagged,
                "text": trim_quoted(m.body_text),
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in m.attachments
                ],
            }
            for m in case.messages
        ]
    return data


def _status(app: App, as_json: bool) -> int:
    """Healthy when the mailbox was read recently and no mail waits too long to go out."""
    cfg = app.config
    now = app.clock()
    found = app.status()
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
    local = now.astimezone(cfg.cases.timezone)
    next_run = datetime.combine(local.date(), cfg.reminders.send_at, cfg.cases.timezone)
    if next_run <= local:
        next_run += timedelta(days=1)
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
        "next_reminder_run": next_run.isoformat() if cfg.reminders.enabled else None,
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print("healthy" if not problems else "UNHEALTHY: " + "; ".join(problems))
        for key, value in report.items():
            if key not in ("healthy", "problems"):
                print(f"  {key.replace('_', ' ')}: {value if value is not None else '-'}")
    return EXIT_OK if not problems else EXIT_FAILURE


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _print_plan(plan: ReminderPlan, dry_run: bool) -> None:
    verb = "would send" if dry_run else "queued"
    if not plan.mails:
        print(f"reminders for {plan.day.isoformat()}: nothing to send")
        return
    print(f"reminders for {plan.day.isoformat()}: {verb} {len(plan.mails)} mail(s)")
    for mail in plan.mails:
        refs = ", ".join(c.reference for c in mail.cases)
        what = mail.moment.key if mail.moment else mail.template
        print(f"  {what:<10} to {', '.join(mail.to)}: {refs}")


def _print_table(cases: list[CaseSummary], tz: Any) -> None:
    if not cases:
        print("no cases")
        return
    for c in cases:
        received = c.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(
            f"{c.reference}  {c.state.value:<11}  {received}  due {c.deadline.isoformat()}  "
            f"{c.citizen_email:<30}  {c.subject[:60]}"
        )


def _print_case(case: CaseSummary, tz: Any) -> None:
    print(f"{case.reference}  {case.state.value}  ({case.channel.value})")
    print(f"citizen:  {case.citizen_name} <{case.citizen_email}>")
    print(f"subject:  {case.subject}")
    print(f"received: {case.received_at.astimezone(tz).strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"deadline: {case.deadline.isoformat()}")
    if case.service:
        print(f"service:  {case.service}")
    if case.admissible is not None:
        verdict = "yes" if case.admissible else f"no ({case.inadmissible_reason})"
        print(f"admissible: {verdict}")
    if case.outcome:
        print(f"outcome:  {case.outcome}")
    print("timeline:")
    for m in case.messages:
        at = m.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        arrow = "<-" if m.direction.value == "in" else "->"
        who = m.sender if m.direction.value == "in" else m.recipients
        flag = "  [!] after the case was answered or closed" if m.flagged else ""
        print(f"\n  {at} {arrow} {m.kind.value} {who}{flag}")
        print(f"  subject: {m.subject}")
        for a in m.attachments:
            print(f"  attachment: {a.filename} ({a.content_type}, {a.size} bytes)")
        text = trim_quoted(m.body_text).strip()
        if text and m.kind.value not in ("receipt", "notice", "reminder", "confirmation"):
            for line in text.splitlines()[:40]:
                print(f"    | {line}")
