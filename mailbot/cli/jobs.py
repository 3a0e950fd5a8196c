"""`mailbot reminders` and `mailbot retention` (the daily jobs, by hand), `backlog import`
and `sent rescan`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mailbot.cli.wiring import EXIT_OK, Context, open_app, open_database, reminder_service

if TYPE_CHECKING:
    from mailbot.services.reminders import ReminderPlan


def reminders(args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence.db import require_current_schema

    if args.dry_run:  # reads only: no mail secrets, no write access needed
        service = reminder_service(ctx, open_database(ctx))
        _print_plan(service.run_pass(as_of=args.as_of, dry_run=True), dry_run=True)
        return EXIT_OK
    app = open_app(ctx)
    require_current_schema(app.engine)
    plan = app.reminders.run_pass(as_of=args.as_of)
    _print_plan(plan, dry_run=False)
    if plan.mails:
        stats = app.dispatch_pass()
        print(f"sent {stats.sent}, retry later {stats.retried}, failed {stats.failed}")
    return EXIT_OK


def retention(args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence.db import require_current_schema

    app = open_app(ctx)
    require_current_schema(app.engine)
    purge = app.retention_pass(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"retention (before {purge.cutoff.astimezone(ctx.config.cases.timezone):%Y-%m-%d}): "
        f"{verb} the personal data of {len(purge.cases)} case(s) and {purge.items} "
        f"stored mail(s)"
    )
    for reference in purge.cases:
        print(f"  {reference}")
    return EXIT_OK


def backlog_import(args: argparse.Namespace, ctx: Context) -> int:
    """`mailbot backlog import [--before DATE] [--dry-run]`: the go-live step."""
    from datetime import datetime, time

    from mailbot.persistence.db import upgrade

    app = open_app(ctx)
    upgrade(app.engine)  # the first command on a new installation: the schema comes first
    tz = ctx.config.cases.timezone
    before = datetime.combine(args.before, time(0), tz) if args.before else None
    stats = app.backlog_import(before, dry_run=args.dry_run)
    moment = (before or ctx.clock()).astimezone(tz)
    verb = "would import" if args.dry_run else "imported"
    print(
        f"backlog: {verb} {stats.seen} mail(s) from {ctx.config.mailbox.folder} that arrived "
        f"before {moment:%Y-%m-%d %H:%M}: "
        + (", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "nothing")
    )
    if not args.dry_run and stats.seen:
        print("nobody was mailed but the coordinator (one summary); list them with:")
        print("  mailbot cases list --state imported")
    return EXIT_OK


def sent_rescan(args: argparse.Namespace, ctx: Context) -> int:
    """`mailbot sent rescan --since DATE`: the next pass reads the sent folder from DATE."""
    from datetime import datetime, time

    from mailbot.persistence.db import upgrade

    app = open_app(ctx)
    upgrade(app.engine)
    since = datetime.combine(args.since, time(0), ctx.config.cases.timezone)
    rescan = app.sent_rescan(since)
    print(
        f"sent folder {rescan.folder}: the next pass reads its {rescan.waiting} mail(s) "
        f"from {args.since.isoformat()} on (from uid {rescan.after + 1}); mail already "
        "stored is recognised and not handled twice"
    )
    return EXIT_OK


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
