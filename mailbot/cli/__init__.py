"""Command line: `mailbot [--config PATH] COMMAND`. Exit codes: 0 ok, 1 failure,
2 usage or configuration error.

`main` parses the arguments, loads the config and calls the handler the subcommand names
(`mailbot.cli.parser`); the handlers live in one module per command group."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mailbot.cli.wiring import (
    EXIT_FAILURE,
    EXIT_USAGE,
    UNLESS_DRY_RUN,
    Context,
    fake_clock,
    say_error,
)
from mailbot.domain.errors import MailbotError

__all__ = ["main", "setup_logging"]


def setup_logging(level: str) -> None:
    from mailbot.runtime.systemd import JournalFormatter, stderr_is_journal

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
    # APScheduler logs every job run at INFO, Alembic its plugins and migration context on
    # every start: noise in the journal (persistence.db logs a migration itself).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    from mailbot.cli.parser import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    verbose = getattr(args, "verbose", False)
    if not args.needs_config:
        setup_logging("DEBUG" if verbose else "WARNING")
        return int(args.handler(args))
    ctx = _context(args)
    if isinstance(ctx, int):
        return ctx
    try:
        return int(args.handler(args, ctx))
    except MailbotError as exc:
        say_error(str(exc))
        return EXIT_FAILURE
    except Exception as exc:
        line = _database_error(exc, ctx)
        if line is None:
            raise
        say_error(line)
        return EXIT_FAILURE


def _context(args: argparse.Namespace) -> Context | int:
    """The config (exit 2 with every error in it) and the clock; logging set up. Commands
    that connect to no mail server read no secret (see `mail_secrets` in the parser)."""
    from mailbot.config import ConfigError, load_config

    secrets = args.mail_secrets
    if secrets == UNLESS_DRY_RUN:
        secrets = not args.dry_run
    try:
        config = load_config(getattr(args, "config", None), secrets=bool(secrets))
    except ConfigError as exc:
        print(f"mailbot: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging("DEBUG" if getattr(args, "verbose", False) else config.logging.level)
    try:
        clock = fake_clock(os.environ)
    except ValueError as exc:
        say_error(str(exc))
        return EXIT_USAGE
    return Context(config, clock)


def _database_error(exc: Exception, ctx: Context) -> str | None:
    """One line for SQLAlchemy's errors and the database's setup problems, None for any
    other error. Imported only here, on the way out, so that commands without a database
    never load SQLAlchemy."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from mailbot.persistence import db

    if isinstance(exc, OperationalError) and "unable to open database file" in str(exc):
        return db.sqlite_problem(ctx.config.database.url) or str(exc.orig)
    known = (
        SQLAlchemyError,
        db.SchemaNotCurrentError,
        db.DatabaseMissingError,
        db.DatabaseSetupError,
    )
    return str(exc) if isinstance(exc, known) else None
