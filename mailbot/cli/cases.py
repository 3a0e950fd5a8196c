"""`mailbot cases list` and `mailbot cases show REF`."""

from __future__ import annotations

import argparse
import json
from datetime import date, tzinfo
from typing import Any

from mailbot.cli.wiring import EXIT_FAILURE, EXIT_OK, Context, open_database, say_error
from mailbot.domain.model import AuditEntry, CaseState, CaseSummary
from mailbot.domain.quoting import trim_quoted


def list_cases(args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence import cases as repo

    database = open_database(ctx)
    tz = ctx.config.cases.timezone
    with database.sessions() as session:
        state = CaseState(args.state) if args.state else None
        found = repo.list_cases(session, state, due_before=args.due_before)
    if args.json:
        print(json.dumps([case_json(c, tz) for c in found], ensure_ascii=False, indent=2))
    else:
        print_table(found, tz)
    return EXIT_OK


def show_case(args: argparse.Namespace, ctx: Context) -> int:
    from mailbot.persistence import audit
    from mailbot.persistence import cases as repo

    database = open_database(ctx)
    tz = ctx.config.cases.timezone
    with database.sessions() as session:
        case = repo.find_case_by_reference(session, args.reference.strip().upper())
        if case is None:
            say_error(f"no case {args.reference}")
            return EXIT_FAILURE
        summary = repo.case_summary(case, with_messages=True)
        entries = audit.trail(session, case.id)
    if args.json:
        data = case_json(summary, tz, messages=True)
        data["audit"] = [audit_json(e, tz) for e in entries]
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print_case(summary, tz)
        print_audit(entries, tz)
    return EXIT_OK


def _iso(value: Any, tz: tzinfo) -> str:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value.isoformat()
    return str(value.astimezone(tz).isoformat())


def case_json(case: CaseSummary, tz: tzinfo, messages: bool = False) -> dict[str, Any]:
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


def audit_json(entry: AuditEntry, tz: tzinfo) -> dict[str, Any]:
    return {
        "at": _iso(entry.at, tz),
        "actor": entry.actor,
        "action": entry.action,
        "state_before": entry.state_before,
        "state_after": entry.state_after,
        "rule": entry.rule,
        "message_id": entry.message_id,
    }


def print_audit(entries: list[AuditEntry], tz: tzinfo) -> None:
    """The audit trail in time order: when, who, action, state before -> after, rule and
    the mail that caused it."""
    print("\nAudit trail:")
    if not entries:
        print("  (none recorded)")
    for e in entries:
        at = e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        change = f"{e.state_before or '-'} -> {e.state_after or '-'}"
        print(f"  {at}  {e.actor}  {e.action}  {change}")
        if e.rule:
            print(f"    rule: {e.rule}")
        if e.message_id:
            print(f"    mail: {e.message_id}")


def print_table(cases: list[CaseSummary], tz: tzinfo) -> None:
    if not cases:
        print("no cases")
        return
    for c in cases:
        received = c.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(
            f"{c.reference}  {c.state.value:<11}  {received}  due {c.deadline.isoformat()}  "
            f"{c.citizen_email:<30}  {c.subject[:60]}"
        )


def print_case(case: CaseSummary, tz: tzinfo) -> None:
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
