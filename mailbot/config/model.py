"""What a loaded configuration is: frozen dataclasses, the Secret wrapper and ConfigError.

Nothing here reads a file; :mod:`mailbot.config.reader` builds these from TOML.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from mailbot.domain.deadline import AnswerPeriod
from mailbot.domain.form import FormSpec
from mailbot.domain.triage import DEFAULT_KEYWORDS, TriageKeywords
from mailbot.domain.workdays import WorkCalendar

Security = Literal["tls", "starttls", "plain"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
AuthMethod = Literal["password", "xoauth2"]
ReminderMode = Literal["digest", "per_case"]

ENV_CONFIG: Final = "MAILBOT_CONFIG"
ENV_CREDENTIALS: Final = "CREDENTIALS_DIRECTORY"
MAILBOX_CREDENTIAL: Final = "mailbox-password"
SMTP_CREDENTIAL: Final = "smtp-password"
OAUTH_CREDENTIAL: Final = "oauth-client-secret"
DEFAULT_OAUTH_SCOPE: Final = "https://outlook.office365.com/.default"

DEFAULT_DATABASE_URL: Final = "sqlite:///mailbot.sqlite3"
DEFAULT_TIMEZONE: Final = "Europe/Brussels"
DEFAULT_ANSWER_WITHIN: Final = "1 month"

IMAP_PORTS: Final[Mapping[Security, int]] = {"tls": 993, "starttls": 143, "plain": 143}
SMTP_PORTS: Final[Mapping[Security, int]] = {"tls": 465, "starttls": 587, "plain": 25}


_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every reason, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        return (type(self), (self.problems,))


class Secret:
    """A password. ``str()`` and ``repr()`` show ``***``; ``reveal()`` gives the real value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, slots=True)
class MicrosoftOAuthConfig:
    """auth = "xoauth2" with oauth_provider = "microsoft": an Azure app's client credentials."""

    tenant: str  # Directory (tenant) ID or the tenant's domain
    client_id: str  # Application (client) ID
    client_secret: Secret
    scope: str = DEFAULT_OAUTH_SCOPE
    secret_expires: date | None = None


@dataclass(frozen=True, slots=True)
class CommandOAuthConfig:
    """auth = "xoauth2" with oauth_provider = "command": a program that prints a token."""

    command: tuple[str, ...]  # argv, run without a shell; command[0] is an absolute path


OAuthConfig = MicrosoftOAuthConfig | CommandOAuthConfig


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """[mailbox]: the IMAP mailbox complaints arrive in."""

    host: str
    port: int
    security: Security
    username: str
    password: Secret
    folder: str = "INBOX"
    processed_folder: str = "Verwerkt"
    quarantine_folder: str = "Quarantaine"
    ca_file: Path | None = None
    batch_size: int = 200
    timeout: float = 60.0
    poll_interval: float = 30.0
    sent_folder: str | None = None
    auth: AuthMethod = "password"  # with "xoauth2", password is Secret("") and oauth is set
    oauth: OAuthConfig | None = None


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """[smtp]: the server receipts and notices are sent through."""

    host: str
    port: int
    security: Security
    username: str | None
    password: Secret | None
    from_address: str
    from_name: str = "Klachtendienst"
    ca_file: Path | None = None
    timeout: float = 30.0
    auth: AuthMethod = "password"  # with "xoauth2", password is None and oauth is set
    oauth: OAuthConfig | None = None


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """[database]: an SQLAlchemy URL; a relative SQLite path is already made absolute."""

    url: str

    def __repr__(self) -> str:
        return f"DatabaseConfig(url={mask_url(self.url)!r})"


@dataclass(frozen=True, slots=True)
class StaffConfig:
    """[staff]: who is told about new cases, and who may send commands by mail."""

    coordinator: str
    members: tuple[str, ...] = ()
    authserv_ids: tuple[str, ...] = ()
    services: Mapping[str, str] = field(default_factory=dict)  # name -> team address
    ops: str | None = None  # who runs the server: warned about logins and expiring secrets

    @property
    def addresses(self) -> frozenset[str]:
        """Everyone whose commands are accepted (when the mail is trustworthy)."""
        return frozenset(a.lower() for a in (self.coordinator, *self.members))


@dataclass(frozen=True, slots=True)
class CasesConfig:
    """[cases]: references and the statutory answer period."""

    reference_prefix: str = "KL"
    answer_within: AnswerPeriod = field(default_factory=lambda: AnswerPeriod(months=1))
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    shift_to_working_day: bool = False
    calendar: WorkCalendar = field(default_factory=WorkCalendar)


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """[daemon]: how `mailbot run` watches the mailbox and shares the work."""

    idle: bool = True
    standby_interval: float = 10.0
    metrics_port: int | None = None


@dataclass(frozen=True, slots=True)
class RemindersConfig:
    """[reminders]: staff reminders before the deadline and escalation after it."""

    enabled: bool = True
    mode: ReminderMode = "digest"
    before_days: tuple[int, ...] = (14, 7, 2)
    overdue_every: int = 5
    send_at: time = time(8, 30)
    escalation: str | None = None


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """[retention]: how long personal data of finished cases is kept (GDPR)."""

    keep_for: AnswerPeriod = field(default_factory=lambda: AnswerPeriod(months=24))


@dataclass(frozen=True, slots=True)
class ReceiptsConfig:
    """[receipts]: limits on automatic receipts, against mail loops and abuse."""

    max_per_sender_per_day: int = 3
    max_per_domain_per_hour: int = 10
    max_per_hour: int = 50  # all receipts together: above it, receipts pause


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    """[intake]: what intake takes in."""

    backlog_limit: int = 20  # old mails a first start accepts without `backlog import`
    max_size_mb: int = 25  # larger mails go to quarantine, the coordinator is told


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """[outbox]: retries of outgoing mail, with exponential backoff between the two waits."""

    max_attempts: int = 12
    retry_initial: float = 60.0
    retry_max: float = 3600.0


@dataclass(frozen=True, slots=True)
class TemplatesConfig:
    """[templates]: an optional folder with the operators' own templates."""

    folder: Path | None = None


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """[logging]"""

    level: LogLevel = "INFO"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole, validated configuration. ``path`` is the absolute path of the file."""

    path: Path
    mailbox: MailboxConfig
    smtp: SmtpConfig
    database: DatabaseConfig
    staff: StaffConfig
    cases: CasesConfig
    receipts: ReceiptsConfig
    outbox: OutboxConfig
    templates: TemplatesConfig
    logging: LoggingConfig
    reminders: RemindersConfig = field(default_factory=RemindersConfig)
    form: FormSpec | None = None
    triage: TriageKeywords = DEFAULT_KEYWORDS
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)

    @property
    def message_id_domain(self) -> str:
        """The domain of ``[smtp] from_address``, lower case, IDNA-encoded: for Message-IDs."""
        return ascii_domain(self.smtp.from_address.rpartition("@")[2])


def ascii_domain(domain: str) -> str:
    """A mail domain in lower case, IDNA-encoded when it is not ASCII."""
    domain = domain.lower()
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", url)
