"""One builder per section: a checked :mod:`mailbot.config.values` table in, a dataclass out."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from mailbot.config.model import (
    DEFAULT_ANSWER_WITHIN,
    DEFAULT_DATABASE_URL,
    IMAP_PORTS,
    MAILBOX_CREDENTIAL,
    SMTP_CREDENTIAL,
    SMTP_PORTS,
    CasesConfig,
    DatabaseConfig,
    MailboxConfig,
    OutboxConfig,
    RemindersConfig,
    RetentionConfig,
    Secret,
    Security,
    SmtpConfig,
    StaffConfig,
    TemplatesConfig,
)
from mailbot.config.oauth import login
from mailbot.config.schema import (
    SECURITY,
    SECURITY_ALIASES,
)
from mailbot.config.values import ADDRESS, Table, got, has_control
from mailbot.domain.deadline import AnswerPeriod
from mailbot.domain.form import FormSpec
from mailbot.domain.triage import DEFAULT_KEYWORDS, TriageKeywords
from mailbot.domain.workdays import WorkCalendar, parse_closing_day

_PREFIX = re.compile(r"[A-Z]{2,6}")
_T = TypeVar("_T")


def _server(
    t: Table, default: Security, ports: Mapping[Security, int], credential: str
) -> dict[str, Any]:
    """The keys [mailbox] and [smtp] share: host, port (by default the usual one for the
    security), security, username and the login (auth, password, oauth)."""
    host = t.host("host")
    port = t.optional_integer("port", 1, 65535)
    security = t.choice("security", default, SECURITY, SECURITY_ALIASES)
    # [smtp] may have no login at all; the mailbox always has one.
    username = t.text("username") if t.name == "mailbox" else t.optional_text("username")
    account = login(t, credential, username)
    return {
        "host": host,
        "port": ports[security] if port is None else port,
        "security": security,
        "username": username,
        "password": account.password,
        "auth": account.auth or "password",
        "oauth": account.oauth,
    }


def mailbox(t: Table) -> MailboxConfig:
    server = _server(t, "tls", IMAP_PORTS, MAILBOX_CREDENTIAL)
    if server["password"] is None:  # with auth = "xoauth2", or already reported
        server["password"] = Secret("")
    folder = t.text("folder", "INBOX")
    processed = t.text("processed_folder", "Verwerkt")
    quarantine = t.text("quarantine_folder", "Quarantaine")
    t.distinct_folders(
        ("folder", folder), ("processed_folder", processed), ("quarantine_folder", quarantine)
    )
    return MailboxConfig(
        **server,
        folder=folder,
        processed_folder=processed,
        quarantine_folder=quarantine,
        ca_file=t.ca_file("ca_file"),
        **t.plain(MailboxConfig),
    )


def smtp(t: Table) -> SmtpConfig:
    server = _server(t, "starttls", SMTP_PORTS, SMTP_CREDENTIAL)
    from_address = t.address("from_address", what="only the address")
    from_name = t.text("from_name", "Klachtendienst", allow_empty=True)
    if has_control(from_name):
        t.invalid("from_name", "contains a line break or another control character")
    return SmtpConfig(
        **server,
        from_address=from_address,
        from_name=from_name,
        ca_file=t.ca_file("ca_file"),
        **t.plain(SmtpConfig),
    )


def database(t: Table) -> DatabaseConfig:
    url = t.text("url", DEFAULT_DATABASE_URL)
    if "url" in t.failed:
        return DatabaseConfig(url)
    scheme, separator, rest = url.partition("://")
    dialect = scheme.partition("+")[0].lower()
    if not separator or not re.fullmatch(r"[A-Za-z0-9+._-]+", scheme):
        t.invalid("url", "is not a URL")
    elif dialect == "postgres":
        t.invalid("url", "write postgresql:// instead of postgres://")
    elif dialect not in ("sqlite", "postgresql"):
        t.invalid("url", f"{scheme!r} is not a supported database")
    elif dialect == "sqlite":
        resolved = resolve_sqlite(scheme, rest, t.source.base)
        if resolved is None:
            t.invalid(
                "url",
                "an SQLite URL has three slashes before a relative path "
                "(sqlite:///mailbot.sqlite3) and four before an absolute one "
                "(sqlite:////var/lib/mailbot/mailbot.sqlite3)",
            )
        else:
            url = resolved
    return DatabaseConfig(url)


def staff(t: Table, services: Table) -> StaffConfig:
    members = []
    for member in t.string_list("members"):
        if ADDRESS.fullmatch(member):
            members.append(member)
        else:
            t.invalid("members", f"{member!r} is not an e-mail address")
    team: dict[str, str] = {}
    for name, address in services.data.items():
        if not isinstance(address, str) or not ADDRESS.fullmatch(address):
            services.report(
                name,
                f"expected the service's team address, e.g. {name} = "
                f'"{name}@gemeente.example"; {got(address, secret=False)}',
            )
        else:
            team[name.lower()] = address
    return StaffConfig(
        coordinator=t.address("coordinator", what="one address"),
        members=tuple(members),
        authserv_ids=tuple(a.lower() for a in t.string_list("authserv_ids")),
        services=team,
        ops=t.address("ops", what="one address") if "ops" in t.data else None,
    )


def cases(t: Table) -> CasesConfig:
    prefix = t.text("reference_prefix", "KL")
    if "reference_prefix" not in t.failed and not _PREFIX.fullmatch(prefix):
        t.invalid("reference_prefix", f"{prefix!r} is not 2 to 6 capital letters A-Z")
    period = AnswerPeriod(months=1)
    answer_within = t.text("answer_within", DEFAULT_ANSWER_WITHIN)
    if "answer_within" not in t.failed:
        try:
            period = AnswerPeriod.parse(answer_within)
        except ValueError as exc:
            t.report("answer_within", str(exc))
    yearly: set[tuple[int, int]] = set()
    once: set[date] = set()
    for text in t.string_list("closing_days"):
        try:
            day = parse_closing_day(text)
        except ValueError as exc:
            t.invalid("closing_days", str(exc))
            continue
        if isinstance(day, date):
            once.add(day)
        else:
            yearly.add(day)
    return CasesConfig(
        reference_prefix=prefix,
        answer_within=period,
        timezone=t.timezone("timezone"),
        **t.plain(CasesConfig),
        calendar=WorkCalendar(closing_days=frozenset(yearly), extra_closed=frozenset(once)),
    )


def form(t: Table) -> FormSpec | None:
    if not t.data:
        return None
    sender = t.address("sender", what="the form's sender address")
    labels: dict[str, tuple[str, ...]] = {}
    for key in t.keys:
        if key.endswith("_labels") and key in t.data:
            values = tuple(v.strip() for v in t.string_list(key) if v.strip())
            if values:
                labels[key] = values
            elif key not in t.failed:
                t.invalid(key, "is empty")
    return FormSpec(sender=sender, **labels)


def triage(t: Table) -> TriageKeywords:
    lists = {key: tuple(t.string_list(key)) for key in t.keys if key in t.data}
    return dataclasses.replace(DEFAULT_KEYWORDS, **lists)


def retention(t: Table) -> RetentionConfig:
    text = t.text("keep_for", "24 months")
    if "keep_for" in t.failed:
        return RetentionConfig()
    try:
        return RetentionConfig(keep_for=AnswerPeriod.parse(text))
    except ValueError as exc:
        t.report("keep_for", str(exc))
        return RetentionConfig()


def reminders(t: Table) -> RemindersConfig:
    before = t.int_list("before_days", (14, 7, 2), minimum=1)
    send_at = time(8, 30)
    text = t.text("send_at", "08:30")
    if "send_at" not in t.failed:
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
        if match is None:
            t.invalid("send_at", f"{text!r} is not a time of day")
        else:
            send_at = time(int(match.group(1)), int(match.group(2)))
    escalation = None
    if "escalation" in t.data:
        escalation = t.address("escalation", what="one address")
    return RemindersConfig(
        **t.plain(RemindersConfig),
        before_days=tuple(sorted(set(before), reverse=True)),
        send_at=send_at,
        escalation=escalation,
    )


def outbox(t: Table) -> OutboxConfig:
    config = OutboxConfig(**t.plain(OutboxConfig))
    retry_initial, retry_max = config.retry_initial, config.retry_max
    if not {"retry_initial", "retry_max"} & t.failed and retry_max < retry_initial:
        t.invalid(
            "retry_max",
            f"{retry_max:g} is less than retry_initial ({retry_initial:g})",
        )
    return config


def templates(t: Table) -> TemplatesConfig:
    folder = t.optional_path("folder")
    if folder is not None and not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        t.invalid("folder", f"{folder} {problem}")
    return TemplatesConfig(folder=folder)


def plain(t: Table, cls: type[_T]) -> _T:
    """A section of plain keys only: every key read as its kind in the schema says."""
    return cls(**t.plain(cls))


def resolve_sqlite(scheme: str, rest: str, base: Path) -> str | None:
    """Make a relative SQLite path absolute against base; None when the URL is malformed."""
    if rest == "":
        return f"{scheme}://"  # in-memory database
    if not rest.startswith("/"):
        return None
    database, question, query = rest[1:].partition("?")
    if database in ("", ":memory:") or database.startswith("file:"):
        return f"{scheme}://{rest}"
    relative = Path(unquote(database))
    if relative.is_absolute():
        return f"{scheme}://{rest}"
    absolute = os.path.normpath(base / relative).replace("%", "%25").replace("?", "%3F")
    return f"{scheme}:///{absolute}{question}{query}"
