"""The argument parser: every subcommand names its handler with `set_defaults(handler=…)`.

Handlers live in one module per command group and import what is heavy (SQLAlchemy,
Alembic, the daemon, holidays, Jinja2) inside the handler, so building this parser and
`mailbot --help` stay fast."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot import __version__
from mailbot.cli import cases, demo, jobs, outbox, records, service
from mailbot.cli.wiring import UNLESS_DRY_RUN
from mailbot.domain.model import CaseState

if TYPE_CHECKING:  # the type argparse gives add_subparsers(), generic only for type checkers
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """\
examples:
  mailbot --config /etc/mailbot/config.toml check
  mailbot --config /etc/mailbot/config.toml db upgrade
  mailbot --config /etc/mailbot/config.toml run --once
  MAILBOT_CONFIG=/etc/mailbot/config.toml mailbot cases list --state received --json
  mailbot cases show KL-2026-0042
"""


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-24") from None


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
    # mail_secrets=False: the command connects to no mail server and reads no secret.
    parser.set_defaults(needs_config=True, mail_secrets=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub, common)
    _add_service(sub, common)
    _add_db(sub, common)
    _add_cases(sub, common)
    _add_jobs(sub, common)
    _add_outbox(sub, common)
    _add_backlog(sub, common)
    _add_sent(sub, common)
    records.add_parsers(sub, parents=[common])  # register, report, privacy
    return parser


def _add_demo(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo",
        parents=[common],
        help="try mailbot on this machine: built-in IMAP and SMTP servers, sample complaints",
        description="Run mailbot's real intake, receipts, notices and reminders against an "
        "in-process IMAP server and SMTP sink with Dutch sample complaints, and print what "
        "the citizens and the coordinator receive. Needs no mail server and no config "
        "(pip install 'mailbot[demo]'). Example: mailbot demo --keep /tmp/mailbot-demo",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="leave config.toml and the SQLite database in DIR, for `mailbot --config "
        "DIR/config.toml cases list` afterwards",
    )
    # The demo makes its own configuration and servers; it needs no config file.
    parser.set_defaults(handler=demo.demo, needs_config=False)


def _add_service(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon (intake and delivery), until SIGTERM",
        description="Run the daemon: read the mailbox, open cases, send receipts and staff "
        "notices. Example: mailbot --config config.toml run --once",
    )
    run.add_argument("--once", action="store_true", help="each job one pass, then exit")
    run.set_defaults(handler=service.run)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="health for monitoring: last fetch and send, queues, open cases; exit 1 if unhealthy",
        description="Print the daemon's health from the database: the last successful "
        "fetch, delivery and reminder pass, the outbox queue, open cases, the oldest unsent "
        "mail and the next reminder run. Exits 1 when unhealthy, for monitoring. Example: "
        "mailbot status --json",
    )
    status.add_argument("--json", action="store_true", help="JSON output")
    status.set_defaults(handler=service.status, mail_secrets=False)

    sub.add_parser(
        "check",
        parents=[common],
        help="check config, database, IMAP login and folders, SMTP connection",
        description="Check the configuration, the database, the IMAP login and folders and "
        "the SMTP connection, and print what was found. Example: mailbot check",
    ).set_defaults(handler=service.check)


def _add_db(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", parents=[common], help="database commands: schema, backup, copy")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="create or migrate the database schema to this version",
        description="Create the tables or migrate them to this version (safe to repeat). "
        "Example: mailbot db upgrade",
    ).set_defaults(handler=service.db_upgrade)
    backup = db_sub.add_parser(
        "backup",
        parents=[common],
        help="copy the SQLite database, consistently, while mailbot runs",
        description="Copy the SQLite database into a new FILE with SQLite's online backup "
        "API: a consistent snapshot, safe while the daemon writes. For PostgreSQL use "
        "pg_dump. Example: mailbot db backup /var/backups/mailbot-2026-12-24.sqlite3",
    )
    backup.add_argument("file", metavar="FILE", help="the new file to write")
    backup.set_defaults(handler=service.db_backup, mail_secrets=False)
    copy = db_sub.add_parser(
        "copy",
        parents=[common],
        help="copy every case, mail and counter into a new, empty database",
        description="Copy the whole database (cases, references and their counters, "
        "messages, outbox, history) into a new, empty database, e.g. from SQLite to "
        "PostgreSQL; stop mailbot first. Example: mailbot db copy --to "
        "postgresql+psycopg://mailbot@db.example/mailbot",
    )
    copy.add_argument("--to", metavar="URL", required=True, help="the new database's URL")
    copy.set_defaults(handler=service.db_copy, mail_secrets=False)


def _add_cases(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("cases", parents=[common], help="list and show cases")
    cases_sub = group.add_subparsers(dest="cases_command", metavar="CASES_COMMAND", required=True)
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
        type=iso_date,
        help="only cases whose deadline is before this date (YYYY-MM-DD)",
    )
    lst.add_argument("--json", action="store_true", help="JSON output")
    lst.set_defaults(handler=cases.list_cases, mail_secrets=False)
    show = cases_sub.add_parser(
        "show",
        parents=[common],
        help="show one case and its messages",
        description="Show one case with all its messages. Example: mailbot cases show KL-2026-0042",
    )
    show.add_argument("reference", metavar="REF", help="case reference, e.g. KL-2026-0042")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.set_defaults(handler=cases.show_case, mail_secrets=False)


def _add_jobs(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    ret = sub.add_parser(
        "retention",
        parents=[common],
        help="remove personal data past [retention] keep_for (the daemon does this nightly)",
        description="Remove the personal data of cases answered or closed longer ago than "
        "[retention] keep_for, and the originals in the mailbox; the numbers for the yearly "
        "report stay. Example: mailbot retention --dry-run",
    )
    ret.add_argument("--dry-run", action="store_true", help="only print what would go")
    ret.set_defaults(handler=jobs.retention)

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
        type=iso_date,
        help="plan as on this date (YYYY-MM-DD) after send_at; default: now",
    )
    rem.set_defaults(handler=jobs.reminders, mail_secrets=UNLESS_DRY_RUN)


def _group(
    sub: Subparsers, common: argparse.ArgumentParser, name: str, help_text: str
) -> Subparsers:
    """A command group such as `mailbot backlog ACTION`."""
    group = sub.add_parser(name, parents=[common], help=help_text)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def _add_backlog(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    backlog_sub = _group(sub, common, "backlog", "the mail already in the mailbox at go-live")
    imp = backlog_sub.add_parser(
        "import",
        parents=[common],
        help="record every mail now in the complaints folder without mailing anyone",
        description="Go-live on a mailbox that already holds mail: every mail that arrived "
        "before --before (default: now) becomes a case in state 'imported' (or joins its "
        "case), is moved to the processed folder, and nobody gets a receipt, notice or "
        "reminder about it; the coordinator gets one summary. Imported cases join the "
        "reminders once the coordinator acts on them (#ontvankelijk, #dienst, ...).",
    )
    imp.add_argument("--before", type=iso_date, metavar="YYYY-MM-DD", help="default: now")
    imp.add_argument("--dry-run", action="store_true", help="count only; store and move nothing")
    imp.set_defaults(handler=jobs.backlog_import)


def _add_sent(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    sent_sub = _group(sub, common, "sent", "the sent folder watched for answers and commands")
    rescan = sent_sub.add_parser(
        "rescan",
        parents=[common],
        help="read the sent folder again from a date on, at the next pass",
        description="The sent folder is read from the moment it is first watched: answers "
        "already there are skipped. This makes the next pass (of the running daemon, or "
        "`mailbot run --once`) read the sent folder's mail from --since on: answers are "
        "stored on their case and stop its reminders; mail already stored is recognised "
        "and handled once. Example: mailbot sent rescan --since 2026-11-01",
    )
    rescan.add_argument("--since", type=iso_date, required=True, metavar="YYYY-MM-DD")
    rescan.set_defaults(handler=jobs.sent_rescan)


def _add_outbox(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("outbox", parents=[common], help="list and retry outgoing mail")
    outbox_sub = group.add_subparsers(
        dest="outbox_command", metavar="OUTBOX_COMMAND", required=True
    )
    lst = outbox_sub.add_parser(
        "list",
        parents=[common],
        help="list the mail waiting to be sent and the mail that failed",
        description="List the outbox: mail waiting to be sent (with its next attempt and "
        "last error) and mail given up on. Example: mailbot outbox list",
    )
    lst.add_argument("--all", action="store_true", help="also the mail already sent")
    lst.add_argument("--json", action="store_true", help="JSON output")
    lst.set_defaults(handler=outbox.list_outbox, mail_secrets=False)
    retry = outbox_sub.add_parser(
        "retry",
        parents=[common],
        help="send the waiting mail now instead of at its next attempt",
        description="Send every waiting mail now, e.g. after an outage of the mail server, "
        "instead of waiting for its next attempt (up to [outbox] retry_max). Example: "
        "mailbot outbox retry --all",
    )
    retry.add_argument(
        "--all", action="store_true", help="also the mail given up on (status failed)"
    )
    retry.set_defaults(handler=outbox.retry)
