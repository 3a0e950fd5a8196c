"""`mailbot outbox list` and `mailbot outbox retry [--all]`: the mail waiting to go out."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, tzinfo
from typing import Any

from mailbot.cli.wiring import EXIT_OK, Context, open_app, open_database


def list_outbox(args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence.outbox import outbox_rows

    tz = ctx.config.cases.timezone
    with open_database(ctx).sessions() as session:
        rows = [_row(r, tz) for r in outbox_rows(session, include_sent=args.all)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("the outbox is empty: nothing waits to be sent" + ("" if args.all else " or failed"))
        return EXIT_OK
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt_at"]
        label = "sent" if r["status"] == "sent" else "next try"
        print(
            f"{r['id']:>6}  {r['status']:<7}  {r['kind']:<12}  queued {_short(r['created_at'])}  "
            f"{label} {_short(when)}  attempts {r['attempts']}  to {r['to']}  {r['subject'][:50]}"
        )
        if r["last_error"]:
            print(f"        last error: {r['last_error']}")
    return EXIT_OK


def retry(args: argparse.Namespace, ctx: Context) -> int:
    app = open_app(ctx)
    from mailbot.persistence.db import require_current_schema

    require_current_schema(app.engine)
    made_due = app.dispatcher.retry_now(failed_too=args.all)
    stats = app.dispatch_pass()
    print(
        f"retried {made_due} waiting mail(s); sent {stats.sent}, retry later {stats.retried}, "
        f"failed {stats.failed}"
    )
    return EXIT_OK


def _row(row: Any, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "kind": row.kind,
        "to": row.recipients,
        "subject": row.subject,
        "attempts": row.attempts,
        "created_at": _local(row.created_at, tz),
        "next_attempt_at": _local(row.next_attempt_at, tz),
        "sent_at": _local(row.sent_at, tz),
        "last_error": row.last_error,
    }


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def _short(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"
