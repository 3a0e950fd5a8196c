"""The configuration file: TOML in, frozen dataclasses out, every mistake reported at once.

``load_config`` reads one TOML file, checks every section and key, and either returns a
:class:`Config` or raises :class:`ConfigError` listing *all* problems, one per line, each naming
the file, the key as ``[section] key`` and what is expected::

    /etc/mailbot/config.toml: [mailbox] host: missing; expected the IMAP server's host name, ...
    /etc/mailbot/config.toml: [mailbox] hots: unknown key; did you mean 'host'?

Passwords come from a file (``password_file``), an environment variable (``password_env``),
a systemd credential (``$CREDENTIALS_DIRECTORY/mailbox-password`` or ``smtp-password``) or,
discouraged, the file itself (``password``). They are wrapped in :class:`Secret` and never
appear in a repr or an error message.

Relative paths (``password_file``, ``ca_file``, ``[templates] folder`` and a relative SQLite
database) are resolved against the directory of the configuration file, so the result does not
depend on the directory mailbot is started from.
"""

from __future__ import annotations

import dataclasses
import difflib
import hmac
import math
import os
import re
import shutil
import ssl
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final, Literal, TypeVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mailbot.domain.deadline import AnswerPeriod
from mailbot.domain.form import FormSpec
from mailbot.domain.triage import DEFAULT_KEYWORDS, TriageKeywords
from mailbot.domain.workdays import WorkCalendar, parse_closing_day

__all__ = [
    "AuthMethod",
    "CasesConfig",
    "CommandOAuthConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "LogLevel",
    "LoggingConfig",
    "MailboxConfig",
    "MicrosoftOAuthConfig",
    "OAuthConfig",
    "OutboxConfig",
    "ReceiptsConfig",
    "Secret",
    "Security",
    "SmtpConfig",
    "StaffConfig",
    "TemplatesConfig",
    "load_config",
]

Security = Literal["tls", "starttls", "plain"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
AuthMethod = Literal["password", "xoauth2"]

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


# --------------------------------------------------------------------------------------------
# Public types


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
        return f"DatabaseConfig(url={_mask_url(self.url)!r})"


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


ReminderMode = Literal["digest", "per_case"]


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
    """[receipts]: at most this many automatic receipts to one address per day."""

    max_per_sender_per_day: int = 3


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

    @property
    def message_id_domain(self) -> str:
        """The domain of ``[smtp] from_address``, lower case, IDNA-encoded: for Message-IDs."""
        return _ascii_domain(self.smtp.from_address.rpartition("@")[2])


# --------------------------------------------------------------------------------------------
# The schema: every section, every key, what is expected and an example line.


@dataclass(frozen=True, slots=True)
class _Key:
    expect: str
    example: str
    secret: bool = False


def _password_keys(login: str, credential: str, env_name: str) -> dict[str, _Key]:
    return {
        "password": _Key(
            f"the {login} password itself (prefer password_file or password_env)",
            'password = "..."',
            secret=True,
        ),
        "password_file": _Key(
            f"the path of a file that holds only the {login} password",
            f'password_file = "/etc/mailbot/{credential}"',
        ),
        "password_env": _Key(
            f"the name of an environment variable that holds the {login} password",
            f'password_env = "{env_name}"',
        ),
    }


def _oauth_keys() -> dict[str, _Key]:
    return {
        "auth": _Key(
            'how to log in: "password" (username and password) or "xoauth2" (an OAuth2 access '
            "token, as Microsoft 365 requires)",
            'auth = "xoauth2"',
        ),
        "oauth_provider": _Key(
            'where the access token comes from with auth = "xoauth2": "microsoft" (an Azure '
            'app registration) or "command" (a program that prints the token)',
            'oauth_provider = "microsoft"',
        ),
        "oauth_tenant": _Key(
            "the Microsoft 365 tenant: the Directory (tenant) ID or the tenant's domain",
            'oauth_tenant = "gemeente.onmicrosoft.com"',
        ),
        "oauth_client_id": _Key(
            "the Application (client) ID of the Azure app registration, a GUID",
            'oauth_client_id = "0b5c6e2a-3f41-4d7e-9a8b-1c2d3e4f5a6b"',
        ),
        "oauth_client_secret": _Key(
            "the Azure app's client secret (its Value) itself (prefer oauth_client_secret_file "
            "or oauth_client_secret_env)",
            'oauth_client_secret = "..."',
            secret=True,
        ),
        "oauth_client_secret_file": _Key(
            "the path of a file that holds only the Azure app's client secret",
            f'oauth_client_secret_file = "/etc/mailbot/{OAUTH_CREDENTIAL}"',
        ),
        "oauth_client_secret_env": _Key(
            "the name of an environment variable that holds the Azure app's client secret",
            'oauth_client_secret_env = "MAILBOT_OAUTH_CLIENT_SECRET"',
        ),
        "oauth_scope": _Key(
            "the OAuth2 scope of the client-credentials flow, ending in /.default",
            f'oauth_scope = "{DEFAULT_OAUTH_SCOPE}"',
        ),
        "oauth_secret_expires": _Key(
            'the day the Azure client secret expires, "YYYY-MM-DD" (mailbot warns 30 days before)',
            'oauth_secret_expires = "2027-11-30"',
        ),
        "oauth_token_command": _Key(
            "a list of a program and its arguments, run without a shell, that prints an access "
            "token",
            'oauth_token_command = ["/usr/local/bin/get-token", "--account", "klachten"]',
        ),
    }


_SCHEMA: Final[dict[str, dict[str, _Key]]] = {
    "mailbox": {
        "host": _Key("the IMAP server's host name", 'host = "imap.example.be"'),
        "port": _Key(
            'the IMAP port, 1 to 65535 (default 993 with security = "tls", 143 otherwise)',
            "port = 993",
        ),
        "security": _Key(
            'one of "tls" (TLS from the start, port 993), "starttls" (port 143) '
            'or "plain" (no encryption)',
            'security = "tls"',
        ),
        "username": _Key("the mailbox login name", 'username = "klachten@gemeente.example"'),
        **_password_keys("mailbox", MAILBOX_CREDENTIAL, "MAILBOT_MAILBOX_PASSWORD"),
        **_oauth_keys(),
        "folder": _Key("the IMAP folder new complaints arrive in", 'folder = "INBOX"'),
        "processed_folder": _Key(
            "the IMAP folder handled mail is moved to", 'processed_folder = "Verwerkt"'
        ),
        "quarantine_folder": _Key(
            "the IMAP folder for mail that could not be handled",
            'quarantine_folder = "Quarantaine"',
        ),
        "ca_file": _Key(
            "the path of an extra CA bundle (PEM) to trust", 'ca_file = "/etc/mailbot/ca.pem"'
        ),
        "batch_size": _Key("how many messages to fetch at a time, 1 to 5000", "batch_size = 200"),
        "timeout": _Key("the network timeout in seconds, more than 0", "timeout = 60.0"),
        "sent_folder": _Key(
            "the folder where the mail client keeps mail sent from the complaints mailbox "
            "(watched for reasoned answers and commands; never moved)",
            'sent_folder = "Verzonden items"',
        ),
        "poll_interval": _Key(
            "the seconds between two looks in the mailbox, more than 0", "poll_interval = 30.0"
        ),
    },
    "smtp": {
        "host": _Key("the SMTP server's host name", 'host = "smtp.example.be"'),
        "port": _Key(
            'the SMTP port, 1 to 65535 (default 465 with security = "tls", 587 with "starttls", '
            '25 with "plain")',
            "port = 587",
        ),
        "security": _Key(
            'one of "starttls" (port 587), "tls" (TLS from the start, port 465) '
            'or "plain" (no encryption)',
            'security = "starttls"',
        ),
        "username": _Key(
            "the SMTP login name, for a server that wants a login",
            'username = "klachten@gemeente.example"',
        ),
        **_password_keys("SMTP", SMTP_CREDENTIAL, "MAILBOT_SMTP_PASSWORD"),
        **_oauth_keys(),
        "from_address": _Key(
            "the e-mail address receipts are sent from",
            'from_address = "klachten@gemeente.example"',
        ),
        "from_name": _Key(
            "the sender name shown on receipts, on one line", 'from_name = "Klachtendienst"'
        ),
        "ca_file": _Key(
            "the path of an extra CA bundle (PEM) to trust", 'ca_file = "/etc/mailbot/ca.pem"'
        ),
        "timeout": _Key("the network timeout in seconds, more than 0", "timeout = 30.0"),
    },
    "database": {
        "url": _Key(
            'an SQLAlchemy database URL starting with "sqlite" or "postgresql"',
            f'url = "{DEFAULT_DATABASE_URL}"',
        ),
    },
    "staff": {
        "coordinator": _Key(
            "the e-mail address of the complaints coordinator",
            'coordinator = "klachtencoordinator@gemeente.example"',
        ),
        "members": _Key(
            "a list of more staff addresses that may send commands by mail",
            'members = ["collega@gemeente.example"]',
        ),
        "ops": _Key(
            "the address of whoever runs mailbot's server, warned by mail when a login "
            "fails or a secret is about to expire (besides the coordinator)",
            'ops = "ict@gemeente.example"',
        ),
        "authserv_ids": _Key(
            "a list of host names of your own receiving mail servers, whose "
            "Authentication-Results headers (RFC 8601) are trusted",
            'authserv_ids = ["mx.gemeente.example"]',
        ),
    },
    "services": {},
    "daemon": {
        "idle": _Key(
            "true or false: wait for new mail with IMAP IDLE where the server offers it "
            "(else poll every poll_interval seconds)",
            "idle = true",
        ),
        "standby_interval": _Key(
            "seconds between a standby instance's tries to take over from the active one",
            "standby_interval = 10.0",
        ),
        "metrics_port": _Key(
            "a port for Prometheus metrics on 127.0.0.1, 1024 to 65535 (default: off)",
            "metrics_port = 9469",
        ),
    },
    "form": {
        "sender": _Key(
            "the address the website's complaint form mails from",
            'sender = "formulier@gemeente.example"',
        ),
        **{
            f"{field}_labels": _Key(
                f"a list of the labels the form uses for the citizen's {what}",
                f'{field}_labels = ["{example}"]',
            )
            for field, what, example in (
                ("name", "name", "Naam"),
                ("first_name", "first name", "Voornaam"),
                ("email", "e-mail address", "E-mail"),
                ("subject", "subject", "Onderwerp"),
                ("text", "complaint text", "Klacht"),
                ("address", "postal address", "Adres"),
                ("phone", "phone number", "Telefoon"),
            )
        },
    },
    "triage": {
        field: _Key(
            f"a list of words or phrases that suggest {what} (replaces the built-in list)",
            f'{field} = ["{example}"]',
        )
        for field, what, example in (
            ("melding", "a report (melding) rather than a complaint", "straatlamp"),
            ("informatie", "a request for information", "openingsuren"),
            ("suggestie", "a suggestion", "voorstel"),
            ("gerecht", "court proceedings", "advocaat"),
            ("sociale_media", "a complaint posted on social media", "facebook"),
            ("throwaway_domains", "a throwaway address (mail domains)", "yopmail.com"),
        )
    },
    "cases": {
        "reference_prefix": _Key(
            "2 to 6 capital letters that start every case reference (KL-2026-0042)",
            'reference_prefix = "KL"',
        ),
        "answer_within": _Key(
            'the answer period, a number of months or days such as "1 month" or "30 days"',
            f'answer_within = "{DEFAULT_ANSWER_WITHIN}"',
        ),
        "timezone": _Key("an IANA time zone name", f'timezone = "{DEFAULT_TIMEZONE}"'),
        "shift_to_working_day": _Key(
            "true or false: move a deadline on a weekend, Belgian public holiday or closing "
            "day to the next working day",
            "shift_to_working_day = true",
        ),
        "closing_days": _Key(
            'a list of days the municipality is closed: "MM-DD" every year or "YYYY-MM-DD" once',
            'closing_days = ["12-24", "12-31"]',
        ),
    },
    "reminders": {
        "enabled": _Key("true or false", "enabled = true"),
        "mode": _Key('"digest" or "per_case"', 'mode = "digest"'),
        "before_days": _Key(
            "a list of whole numbers of days before the deadline, each 1 or more",
            "before_days = [14, 7, 2]",
        ),
        "overdue_every": _Key(
            "the working days between two escalations of an overdue case, 1 or more",
            "overdue_every = 5",
        ),
        "send_at": _Key('a local time of day "HH:MM"', 'send_at = "08:30"'),
        "escalation": _Key(
            "one address that also gets the escalation of overdue cases",
            'escalation = "algemeen.directeur@gemeente.example"',
        ),
    },
    "retention": {
        "keep_for": _Key(
            "how long after a case was answered or closed its personal data is kept, in "
            'months or days, e.g. "24 months"',
            'keep_for = "24 months"',
        ),
    },
    "receipts": {
        "max_per_sender_per_day": _Key(
            "the most automatic receipts sent to one address per day, at least 1",
            "max_per_sender_per_day = 3",
        ),
    },
    "outbox": {
        "max_attempts": _Key(
            "how many times to try sending one mail, at least 1", "max_attempts = 12"
        ),
        "retry_initial": _Key(
            "the seconds to wait before the first retry, more than 0", "retry_initial = 60.0"
        ),
        "retry_max": _Key(
            "the longest wait between two retries in seconds, at least retry_initial",
            "retry_max = 3600.0",
        ),
    },
    "templates": {
        "folder": _Key(
            "the path of a folder with your own templates", 'folder = "/etc/mailbot/templates"'
        ),
    },
    "logging": {
        "level": _Key('one of "DEBUG", "INFO", "WARNING" or "ERROR"', 'level = "INFO"'),
    },
}

_PASSWORD_SOURCES: Final = ("password", "password_file", "password_env")
_CLIENT_SECRET_SOURCES: Final = (
    "oauth_client_secret",
    "oauth_client_secret_file",
    "oauth_client_secret_env",
)
_INLINE_SECRETS: Final = ("password", "oauth_client_secret")
_FILE_SECRETS: Final = ("password_file", "oauth_client_secret_file")
_MICROSOFT_KEYS: Final = (
    "oauth_tenant",
    "oauth_client_id",
    *_CLIENT_SECRET_SOURCES,
    "oauth_scope",
    "oauth_secret_expires",
)
_COMMAND_KEYS: Final = ("oauth_token_command",)
_OAUTH_KEYS: Final = ("oauth_provider", *_MICROSOFT_KEYS, *_COMMAND_KEYS)
_AUTH: Final[dict[str, AuthMethod]] = {"password": "password", "xoauth2": "xoauth2"}
_AUTH_ALIASES: Final = {
    "oauth": "xoauth2",
    "oauth2": "xoauth2",
    "xoauth": "xoauth2",
    "oauthbearer": "xoauth2",
    "modern": "xoauth2",
    "basic": "password",
    "plain": "password",
    "login": "password",
}
_OAUTH_PROVIDERS: Final = {"microsoft": "microsoft", "command": "command"}
_OAUTH_PROVIDER_ALIASES: Final = {
    "azure": "microsoft",
    "entra": "microsoft",
    "m365": "microsoft",
    "microsoft365": "microsoft",
    "office365": "microsoft",
    "o365": "microsoft",
    "msal": "microsoft",
    "exchange": "microsoft",
    "cmd": "command",
    "program": "command",
    "script": "command",
    "exec": "command",
}
_TENANT_ALIASES: Final = frozenset({"common", "organizations", "consumers"})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

_SECURITY: Final[dict[str, Security]] = {"tls": "tls", "starttls": "starttls", "plain": "plain"}
_SECURITY_ALIASES: Final = {
    "ssl": "tls",
    "ssl/tls": "tls",
    "tls/ssl": "tls",
    "imaps": "tls",
    "smtps": "tls",
    "implicit": "tls",
    "start_tls": "starttls",
    "start-tls": "starttls",
    "explicit": "starttls",
    "none": "plain",
    "off": "plain",
}
_LEVELS: Final[dict[str, LogLevel]] = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
}
_LEVEL_ALIASES: Final = {"warn": "WARNING", "critical": "ERROR", "fatal": "ERROR"}

_MODES: Final[dict[str, ReminderMode]] = {"digest": "digest", "per_case": "per_case"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PREFIX = re.compile(r"[A-Z]{2,6}")
_LABEL = r"[^\W_]+(?:-+[^\W_]+)*"
_ADDRESS = re.compile(rf"[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+")
_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")
_TOML_POSITION = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$", re.DOTALL)
_TOML_END = re.compile(r"^(.*) \(at end of document\)$", re.DOTALL)

_T = TypeVar("_T")
_MISSING: Final = object()


# --------------------------------------------------------------------------------------------
# Loading


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Config:
    """Read and check the configuration file.

    ``path`` defaults to ``env["MAILBOT_CONFIG"]``; ``env`` defaults to ``os.environ`` and is
    also where ``password_env`` and ``$CREDENTIALS_DIRECTORY`` are looked up.
    ``secrets=False`` reads no secret at all (they stay empty): for the commands that
    connect to no mail server, run by users who may not read the secrets.
    Raises :class:`ConfigError` with every problem found.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is None:
        from_env = environ.get(ENV_CONFIG, "")
        if not from_env:
            raise ConfigError(
                [
                    "no configuration file given: pass --config /etc/mailbot/config.toml "
                    f"or set {ENV_CONFIG}=/etc/mailbot/config.toml "
                    "(start from config.example.toml)"
                ]
            )
        path = from_env
    label = os.fspath(path)
    absolute = Path(os.path.abspath(label))
    document = _read_toml(absolute, label)
    loader = _Loader(label, absolute, environ, secrets=secrets)
    config = loader.build(document)
    if loader.problems:
        raise ConfigError(loader.problems)
    return config


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{label}: no such file; to start, copy config.example.toml (shipped with "
                f"mailbot) to {label} and fill in [mailbox], [smtp] and [staff]"
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"{label}: is a directory; expected the path of the TOML configuration file"]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read the file: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{label}: line {line}: not valid UTF-8; save the file as UTF-8 text"]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(label, str(exc))]) from None


def _syntax_problem(label: str, message: str) -> str:
    hint = ""
    if message.startswith("Invalid value"):
        hint = '; text needs quotes, e.g. host = "imap.example.be"'
    elif message.startswith(("Unterminated", "Unclosed")):
        hint = "; a quote or bracket is not closed"
    elif message.startswith(("Cannot overwrite", "Cannot declare")):
        hint = "; a key or section appears twice"
    position = _TOML_POSITION.match(message)
    if position is not None:
        what, line, column = position.groups()
        return f"{label}: line {line}, column {column}: invalid TOML: {what}{hint}"
    end = _TOML_END.match(message)
    if end is not None:
        return f"{label}: at the end of the file: invalid TOML: {end.group(1)}{hint}"
    return f"{label}: invalid TOML: {message}{hint}"


class _Loader:
    def __init__(
        self, label: str, path: Path, env: Mapping[str, str], *, secrets: bool = True
    ) -> None:
        self.label = label
        self.path = path
        self.base = path.parent
        self.env = env
        self.secrets = secrets
        self.problems: list[str] = []

    def build(self, document: Mapping[str, Any]) -> Config:
        self._check_top_level(document)
        tables = {name: self._table(document, name) for name in _SCHEMA}
        mailbox = self._mailbox(tables["mailbox"])
        smtp = self._smtp(tables["smtp"])
        return Config(
            path=self.path,
            mailbox=mailbox,
            smtp=smtp,
            database=self._database(tables["database"]),
            staff=self._staff(tables["staff"], tables["services"]),
            cases=self._cases(tables["cases"]),
            receipts=self._receipts(tables["receipts"]),
            outbox=self._outbox(tables["outbox"]),
            templates=self._templates(tables["templates"]),
            logging=self._logging(tables["logging"]),
            reminders=self._reminders(tables["reminders"]),
            form=self._form(tables["form"]),
            retention=self._retention(tables["retention"]),
            daemon=DaemonConfig(
                idle=tables["daemon"].boolean("idle", True),
                standby_interval=tables["daemon"].number("standby_interval", 10.0),
                metrics_port=tables["daemon"].optional_integer("metrics_port", 1024, 65535),
            ),
            triage=self._triage(tables["triage"]),
        )

    # -- structure ---------------------------------------------------------------------------

    def _check_top_level(self, document: Mapping[str, Any]) -> None:
        for name, value in document.items():
            if name in _SCHEMA:
                continue
            if isinstance(value, dict):
                match = difflib.get_close_matches(name, list(_SCHEMA), n=1)
                hint = (
                    f"did you mean [{match[0]}]?"
                    if match
                    else "known sections: " + ", ".join(f"[{s}]" for s in _SCHEMA)
                )
                self.problems.append(f"{self.label}: [{name}]: unknown section; {hint}")
            else:
                owners = [section for section, keys in _SCHEMA.items() if name in keys]
                hint = (
                    "it belongs in " + " or ".join(f"[{s}]" for s in owners)
                    if owners
                    else "every key belongs in a section such as [mailbox]"
                )
                self.problems.append(
                    f"{self.label}: {name}: unknown key outside any section; {hint}"
                )

    def _table(self, document: Mapping[str, Any], name: str) -> _Table:
        value = document.get(name, {})
        if not isinstance(value, dict):
            self.problems.append(
                f"{self.label}: [{name}]: expected a section, written as [{name}] on a line of "
                f"its own with its keys below; {_got(value, secret=True)}"
            )
            value = {}
        table = _Table(self, name, value)
        if name != "services":  # [services] keys are the names of the services
            table.check_unknown()
        return table

    # -- sections ----------------------------------------------------------------------------

    def _mailbox(self, t: _Table) -> MailboxConfig:
        host = t.host("host")
        port = t.optional_integer("port", 1, 65535)
        security = t.choice("security", "tls", _SECURITY, _SECURITY_ALIASES)
        username = t.text("username")
        auth = t.auth()
        oauth: OAuthConfig | None = None
        password: Secret | None = None
        if auth == "xoauth2":
            oauth = t.oauth()
        elif auth == "password":
            t.no_oauth()
            password = t.secret(MAILBOX_CREDENTIAL, required=True)
        folder = t.text("folder", "INBOX")
        processed = t.text("processed_folder", "Verwerkt")
        quarantine = t.text("quarantine_folder", "Quarantaine")
        t.distinct_folders(
            ("folder", folder), ("processed_folder", processed), ("quarantine_folder", quarantine)
        )
        return MailboxConfig(
            host=host,
            port=IMAP_PORTS[security] if port is None else port,
            security=security,
            username=username,
            password=Secret("") if password is None else password,
            folder=folder,
            processed_folder=processed,
            quarantine_folder=quarantine,
            ca_file=t.ca_file("ca_file"),
            batch_size=t.integer("batch_size", 200, 1, 5000),
            timeout=t.number("timeout", 60.0),
            poll_interval=t.number("poll_interval", 30.0),
            sent_folder=t.optional_text("sent_folder"),
            auth=auth or "password",
            oauth=oauth,
        )

    def _smtp(self, t: _Table) -> SmtpConfig:
        host = t.host("host")
        port = t.optional_integer("port", 1, 65535)
        security = t.choice("security", "starttls", _SECURITY, _SECURITY_ALIASES)
        username = t.optional_text("username")
        auth = t.auth()
        oauth: OAuthConfig | None = None
        password: Secret | None = None
        if auth == "xoauth2":
            if username is None and "username" not in t.failed:
                t.missing("username", 'auth = "xoauth2" logs in as this user')
            oauth = t.oauth()
        elif auth == "password":
            t.no_oauth()
            password = t.secret(SMTP_CREDENTIAL, required=username is not None)
            if username is None and "username" not in t.failed:
                given = [key for key in _PASSWORD_SOURCES if key in t.data]
                if given:
                    t.missing("username", f"{given[0]} is given, so a login name is needed")
                password = None
        from_address = t.address("from_address", what="only the address")
        from_name = t.text("from_name", "Klachtendienst", allow_empty=True)
        if _has_control(from_name):
            t.invalid("from_name", "contains a line break or another control character")
        return SmtpConfig(
            host=host,
            port=SMTP_PORTS[security] if port is None else port,
            security=security,
            username=username,
            password=password,
            from_address=from_address,
            from_name=from_name,
            ca_file=t.ca_file("ca_file"),
            timeout=t.number("timeout", 30.0),
            auth=auth or "password",
            oauth=oauth,
        )

    def _database(self, t: _Table) -> DatabaseConfig:
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
            resolved = _resolve_sqlite(scheme, rest, self.base)
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

    def _staff(self, t: _Table, services: _Table) -> StaffConfig:
        members = []
        for member in t.string_list("members"):
            if _ADDRESS.fullmatch(member):
                members.append(member)
            else:
                t.invalid("members", f"{member!r} is not an e-mail address")
        team: dict[str, str] = {}
        for name, address in services.data.items():
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                services.report(
                    name,
                    f"expected the service's team address, e.g. {name} = "
                    f'"{name}@gemeente.example"; {_got(address, secret=False)}',
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

    def _cases(self, t: _Table) -> CasesConfig:
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
            shift_to_working_day=t.boolean("shift_to_working_day", False),
            calendar=WorkCalendar(closing_days=frozenset(yearly), extra_closed=frozenset(once)),
        )

    def _form(self, t: _Table) -> FormSpec | None:
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

    def _triage(self, t: _Table) -> TriageKeywords:
        lists = {key: tuple(t.string_list(key)) for key in t.keys if key in t.data}
        return dataclasses.replace(DEFAULT_KEYWORDS, **lists)

    def _retention(self, t: _Table) -> RetentionConfig:
        text = t.text("keep_for", "24 months")
        if "keep_for" in t.failed:
            return RetentionConfig()
        try:
            return RetentionConfig(keep_for=AnswerPeriod.parse(text))
        except ValueError as exc:
            t.report("keep_for", str(exc))
            return RetentionConfig()

    def _reminders(self, t: _Table) -> RemindersConfig:
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
            enabled=t.boolean("enabled", True),
            mode=t.choice("mode", "digest", _MODES, {"per-case": "per_case", "case": "per_case"}),
            before_days=tuple(sorted(set(before), reverse=True)),
            overdue_every=t.integer("overdue_every", 5, 1, None),
            send_at=send_at,
            escalation=escalation,
        )

    def _receipts(self, t: _Table) -> ReceiptsConfig:
        return ReceiptsConfig(
            max_per_sender_per_day=t.integer("max_per_sender_per_day", 3, 1, None)
        )

    def _outbox(self, t: _Table) -> OutboxConfig:
        max_attempts = t.integer("max_attempts", 12, 1, None)
        retry_initial = t.number("retry_initial", 60.0)
        retry_max = t.number("retry_max", 3600.0)
        if not {"retry_initial", "retry_max"} & t.failed and retry_max < retry_initial:
            t.invalid(
                "retry_max",
                f"{retry_max:g} is less than retry_initial ({retry_initial:g})",
            )
        return OutboxConfig(
            max_attempts=max_attempts, retry_initial=retry_initial, retry_max=retry_max
        )

    def _templates(self, t: _Table) -> TemplatesConfig:
        folder = t.optional_path("folder")
        if folder is not None and not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            t.invalid("folder", f"{folder} {problem}")
        return TemplatesConfig(folder=folder)

    def _logging(self, t: _Table) -> LoggingConfig:
        return LoggingConfig(level=t.choice("level", "INFO", _LEVELS, _LEVEL_ALIASES))


class _Table:
    """One section: typed getters that record a problem and return a placeholder on error."""

    def __init__(self, loader: _Loader, name: str, data: Mapping[str, Any]) -> None:
        self.loader = loader
        self.name = name
        self.data = data
        self.keys = _SCHEMA[name]
        self.failed: set[str] = set()

    # -- reporting ---------------------------------------------------------------------------

    def report(self, key: str, message: str) -> None:
        self.failed.add(key)
        self.loader.problems.append(f"{self.loader.label}: [{self.name}] {key}: {message}")

    def _expected(self, key: str) -> str:
        spec = self.keys[key]
        return f"expected {spec.expect}, e.g. {spec.example}"

    def missing(self, key: str, reason: str = "") -> None:
        why = f" ({reason})" if reason else ""
        self.report(key, f"missing{why}; {self._expected(key)}")

    def invalid(self, key: str, reason: str) -> None:
        self.report(key, f"{reason}; {self._expected(key)}")

    def check_unknown(self) -> None:
        for key in self.data:
            if key in self.keys:
                continue
            match = difflib.get_close_matches(key, list(self.keys), n=1)
            owners = [s for s, keys in _SCHEMA.items() if key in keys and s != self.name]
            if match:
                hint = f"did you mean {match[0]!r}?"
            elif owners:
                hint = f"{key!r} belongs in " + " or ".join(f"[{s}]" for s in owners)
            else:
                hint = "known keys: " + ", ".join(self.keys)
            self.report(key, f"unknown key; {hint}")

    # -- raw access --------------------------------------------------------------------------

    def _get(self, key: str, expected: str, accept: Callable[[object], bool]) -> object:
        """The value if present and of an accepted type; _MISSING if absent or wrong."""
        if key not in self.data:
            return _MISSING
        value: object = self.data[key]
        if accept(value):
            return value
        secret = self.keys[key].secret
        hint = ""
        if isinstance(value, str) and expected != "a string" and _is_number(value):
            hint = "; remove the quotes"
        elif expected == "a string" and isinstance(value, int | float):
            hint = "; put the value in quotes"
        elif expected == "a whole number" and isinstance(value, float) and value.is_integer():
            hint = "; leave out the decimal point"
        self.report(
            key,
            f"expected {expected}, e.g. {self.keys[key].example}; "
            f"{_got(value, secret=secret)}{hint}",
        )
        return _MISSING

    def _string(self, key: str) -> str | None:
        value = self._get(key, "a string", lambda v: isinstance(v, str))
        return value if isinstance(value, str) else None

    # -- typed getters -----------------------------------------------------------------------

    def text(self, key: str, default: str | None = None, *, allow_empty: bool = False) -> str:
        """A string; required when default is None. Placeholder on error: default or ''."""
        value = self._string(key)
        if value is None:
            if key not in self.data and default is None:
                self.missing(key)
            return "" if default is None else default
        if not allow_empty and not value.strip():
            self.invalid(key, "is empty")
            return "" if default is None else default
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._string(key)
        if value is not None and not value.strip():
            self.invalid(key, "is empty; leave the key out instead")
            return None
        return value

    def host(self, key: str) -> str:
        host = self.text(key)
        if key in self.failed:
            return host
        if "://" in host:
            self.invalid(key, f"{host!r} is a URL; give only the host name")
        elif re.fullmatch(r"[^:\s]+:\d+", host):
            self.invalid(key, f"{host!r} contains a port; put the port in port = ...")
        elif re.search(r"[\s/@]", host) or host.startswith("."):
            self.invalid(key, f"{host!r} is not a host name")
        return host

    def address(self, key: str, *, what: str) -> str:
        value = self.text(key)
        if key in self.failed:
            return value
        if "<" in value or '"' in value:
            self.invalid(key, f"{value!r} is more than an address; give {what}")
        elif not _ADDRESS.fullmatch(value):
            self.invalid(key, f"{value!r} is not an e-mail address")
        else:
            try:
                _ascii_domain(value.rpartition("@")[2])
            except UnicodeError:
                self.invalid(key, f"the domain of {value!r} is not a valid domain name")
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int | None) -> int:
        value = self.optional_integer(key, minimum, maximum)
        return default if value is None else value

    def optional_integer(self, key: str, minimum: int, maximum: int | None) -> int | None:
        value = self._get(key, "a whole number", _is_int)
        if not isinstance(value, int):
            return None
        if value < minimum or (maximum is not None and value > maximum):
            limit = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            self.invalid(key, f"{value} is out of range ({limit})")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, "true or false", lambda v: isinstance(v, bool))
        return value if isinstance(value, bool) else default

    def string_list(self, key: str) -> list[str]:
        value = self._get(
            key,
            "a list of strings",
            lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        )
        return list(value) if isinstance(value, list) else []

    def int_list(self, key: str, default: tuple[int, ...], minimum: int) -> tuple[int, ...]:
        value = self._get(
            key,
            "a list of whole numbers",
            lambda v: isinstance(v, list) and all(_is_int(i) for i in v),
        )
        if not isinstance(value, list):
            return default
        if any(i < minimum for i in value):
            self.invalid(key, f"{value} has a number below {minimum}")
            return default
        return tuple(value)

    def number(self, key: str, default: float) -> float:
        """A finite number of seconds above zero; integers are accepted."""
        value = self._get(key, "a number", _is_number_value)
        if not isinstance(value, int | float):
            return default
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            self.invalid(key, f"{value} is not a number of seconds more than 0")
            return default
        return number

    def choice(
        self, key: str, default: _T, options: Mapping[str, _T], aliases: Mapping[str, str]
    ) -> _T:
        value = self._string(key)
        if value is None:
            return default
        folded = value.strip().lower()
        if folded in options:
            return options[folded]
        suggestion: str | None = aliases.get(folded)
        if suggestion is None:
            match = difflib.get_close_matches(folded, list(options), n=1)
            suggestion = str(options[match[0]]) if match else None
        did_you_mean = f" (did you mean {suggestion!r}?)" if suggestion else ""
        self.invalid(key, f"{value!r} is not allowed{did_you_mean}")
        return default

    def optional_path(self, key: str) -> Path | None:
        value = self.optional_text(key)
        if value is None:
            return None
        return self.loader.base / value

    def ca_file(self, key: str) -> Path | None:
        path = self.optional_path(key)
        if path is None:
            return None
        if not path.is_file():
            self.invalid(key, f"{path} {'is not a file' if path.exists() else 'does not exist'}")
            return path
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except ssl.SSLError:
            self.invalid(key, f"{path} holds no PEM certificates")
        except OSError as exc:
            self.invalid(key, f"cannot read {path}: {exc.strerror}")
        return path

    def timezone(self, key: str) -> ZoneInfo:
        name = self.text(key, DEFAULT_TIMEZONE)
        if key in self.failed:
            return ZoneInfo("UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zones = sorted(available_timezones())
            lowered = {zone.lower(): zone for zone in zones}
            if name.lower() in lowered:
                match = [lowered[name.lower()]]
            else:
                match = difflib.get_close_matches(name, zones, n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            self.invalid(key, f"{name!r} is not a known time zone{hint}")
            return ZoneInfo("UTC")

    def distinct_folders(self, *folders: tuple[str, str]) -> None:
        seen: dict[str, str] = {}
        for key, name in folders:
            if key in self.failed:
                continue
            normal = "INBOX" if name.upper() == "INBOX" else name
            if normal in seen:
                self.invalid(key, f"{name!r} is the same folder as {seen[normal]}")
            else:
                seen[normal] = key

    # -- secrets -----------------------------------------------------------------------------

    def secret(self, credential: str, *, required: bool) -> Secret | None:
        """The password from exactly one source, or from the systemd credential."""
        reason = " (username is set, so a password is needed)" if self.name == "smtp" else ""
        return self._one_secret(
            _PASSWORD_SOURCES, credential, required=required, missing=f"missing{reason}"
        )

    def client_secret(self) -> Secret | None:
        """The Azure client secret from exactly one source, or from the systemd credential."""
        return self._one_secret(
            _CLIENT_SECRET_SOURCES,
            OAUTH_CREDENTIAL,
            required=True,
            missing='missing (oauth_provider = "microsoft" needs the Azure app\'s client secret)',
        )

    def _one_secret(
        self, sources: tuple[str, str, str], credential: str, *, required: bool, missing: str
    ) -> Secret | None:
        """A secret from exactly one of `sources` (literal, _file, _env), else from
        $CREDENTIALS_DIRECTORY/<credential>; every problem reported, the value never."""
        literal, from_file, from_env = sources
        given = [key for key in sources if key in self.data]
        if not self.loader.secrets:
            return Secret("") if required or given else None
        found: list[Secret] = []
        for key in given:
            value = self._secret_from(key)
            if value is not None:
                found.append(value)
        if len(given) > 1:
            self.report(
                given[-1],
                f"give only one of {literal}, {from_file} and {from_env}, "
                f"not {' and '.join(given)} together",
            )
            return None
        if given:
            return found[0] if found else None
        directory = self.loader.env.get(ENV_CREDENTIALS, "")
        if directory:
            path = Path(directory) / credential
            if path.exists():
                return self._read_secret_file(literal, path, f"systemd credential {path}")
        if required:
            message = (
                f"{missing}; expected {from_file}, {from_env} or (discouraged) {literal}, or "
                f"a systemd credential named {credential} (LoadCredential=), "
                f"e.g. {self.keys[from_file].example} or {self.keys[from_env].example}"
            )
            if directory:
                message += f"; ${ENV_CREDENTIALS} ({directory}) holds no {credential}"
            self.report(literal, message)
        return None

    # -- OAuth2 (auth = "xoauth2") -----------------------------------------------------------

    def auth(self) -> AuthMethod | None:
        """auth, "password" by default; None when the value is wrong (already reported)."""
        method = self.choice("auth", "password", _AUTH, _AUTH_ALIASES)
        return None if "auth" in self.failed else method

    def no_oauth(self) -> None:
        """auth = "password": every oauth_* key is a mistake."""
        for key in _OAUTH_KEYS:
            if key in self.data:
                self.report(key, 'only used with auth = "xoauth2"; add that, or remove the key')

    def oauth(self) -> OAuthConfig | None:
        """auth = "xoauth2": the oauth_* keys; password keys are a mistake then."""
        for key in _PASSWORD_SOURCES:
            if key in self.data:
                self.report(
                    key,
                    'not used with auth = "xoauth2" (the access token replaces the password); '
                    "remove it",
                )
        if "oauth_provider" not in self.data:
            self.missing("oauth_provider", 'auth = "xoauth2" needs it')
            return None
        provider = self.choice(
            "oauth_provider", "microsoft", _OAUTH_PROVIDERS, _OAUTH_PROVIDER_ALIASES
        )
        if "oauth_provider" in self.failed:
            return None
        other, keys = (
            ("command", _COMMAND_KEYS)
            if provider == "microsoft"
            else ("microsoft", _MICROSOFT_KEYS)
        )
        for key in keys:
            if key in self.data:
                self.report(key, f'only used with oauth_provider = "{other}"; remove it')
        if provider == "command":
            return self._token_command()
        return self._microsoft()

    def _microsoft(self) -> MicrosoftOAuthConfig | None:
        reason = 'oauth_provider = "microsoft" needs it'
        tenant = self.optional_text("oauth_tenant")
        if tenant is None:
            if "oauth_tenant" not in self.failed:
                self.missing("oauth_tenant", reason)
        elif "/" in tenant or ":" in tenant:
            self.invalid("oauth_tenant", f"{tenant!r} is a URL; give only the tenant ID or domain")
        elif tenant.lower() in _TENANT_ALIASES:
            self.invalid(
                "oauth_tenant",
                f"{tenant!r} is not one tenant; an app without a user signing in needs your "
                "own tenant",
            )
        elif not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
            self.invalid("oauth_tenant", f"{tenant!r} is neither a GUID nor a domain name")
        client_id = self.optional_text("oauth_client_id")
        if client_id is None:
            if "oauth_client_id" not in self.failed:
                self.missing("oauth_client_id", reason)
        elif not _GUID.fullmatch(client_id.strip()):
            # Not echoed: a client secret pasted here by mistake must not reach the log.
            self.invalid(
                "oauth_client_id",
                "is not a GUID (not the Secret ID or the secret's Value, but the Application "
                "(client) ID on the app registration's Overview page)",
            )
        secret = self.client_secret()
        scope = self.text("oauth_scope", DEFAULT_OAUTH_SCOPE)
        if "oauth_scope" not in self.failed and (
            not scope.strip().endswith("/.default") or any(c.isspace() for c in scope.strip())
        ):
            self.invalid(
                "oauth_scope",
                f"{scope!r} does not end in /.default, which the client-credentials flow needs",
            )
        expires = self.optional_date("oauth_secret_expires")
        if tenant is None or client_id is None or secret is None:
            return None
        return MicrosoftOAuthConfig(
            tenant=tenant.strip(),
            client_id=client_id.strip().lower(),
            client_secret=secret,
            scope=scope.strip(),
            secret_expires=expires,
        )

    def _token_command(self) -> CommandOAuthConfig | None:
        key = "oauth_token_command"
        if key not in self.data:
            self.missing(key, 'oauth_provider = "command" needs it')
            return None
        if isinstance(self.data[key], str):
            # Not echoed: a command line may carry a secret argument.
            self.invalid(
                key,
                "is one string; mailbot runs the program without a shell, so write the program "
                "and each argument as a separate string in a list",
            )
            return None
        argv = self.string_list(key)
        if key in self.failed:
            return None
        if not argv or not argv[0].strip():
            self.invalid(key, "is empty" if not argv else "the program (the first item) is empty")
            return None
        program = argv[0]
        if "/" in program:
            path = self.loader.base / program
            if not path.is_file():
                self.invalid(
                    key, f"{path} {'is not a file' if path.exists() else 'does not exist'}"
                )
                return None
            if not os.access(path, os.X_OK):
                self.invalid(key, f"{path} is not executable (chmod +x)")
                return None
            found = str(path)
        else:
            which = shutil.which(program, path=self.loader.env.get("PATH", os.defpath))
            if which is None:
                self.invalid(key, f"{program!r} is not found in $PATH; give its full path")
                return None
            found = which
        return CommandOAuthConfig(command=(found, *argv[1:]))

    def optional_date(self, key: str) -> date | None:
        """A day, as a TOML date (2027-11-30) or a string ("2027-11-30")."""
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DAY.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                self.invalid(key, f"{value!r} is not a day of the calendar")
                return None
        self.invalid(key, _got(value, secret=False))
        return None

    def _secret_from(self, key: str) -> Secret | None:
        value = self._string(key)
        if value is None:
            return None
        if key in _INLINE_SECRETS:
            if not value:
                self.invalid(key, "is empty")
                return None
            return Secret(value)
        if key in _FILE_SECRETS:
            if not value.strip():
                self.invalid(key, "is empty")
                return None
            path = self.loader.base / value
            return self._read_secret_file(key, path, str(path))
        if not _ENV_NAME.fullmatch(value):
            self.invalid(key, "is not a valid environment variable name")
            return None
        content = self.loader.env.get(value)
        if content is None:
            self.report(
                key,
                f"the environment variable {value} is not set; set it in mailbot's environment "
                "(e.g. EnvironmentFile= in the systemd unit)",
            )
            return None
        if not content:
            self.report(key, f"the environment variable {value} is empty")
            return None
        return Secret(content)

    def _read_secret_file(self, key: str, path: Path, name: str) -> Secret | None:
        try:
            content = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.report(key, f"{name} does not exist")
            return None
        except UnicodeDecodeError:
            self.report(key, f"{name} is not UTF-8 text")
            return None
        except OSError as exc:
            self.report(key, f"cannot read {name}: {exc.strerror}")
            return None
        content = content.removesuffix("\n").removesuffix("\r")
        if not content:
            self.report(key, f"{name} is empty")
            return None
        return Secret(content)


# --------------------------------------------------------------------------------------------
# Helpers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number_value(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


_KINDS: Final[Iterable[tuple[type, str, str]]] = (
    (bool, "a", "boolean"),
    (int, "an", "integer"),
    (float, "a", "number"),
    (str, "a", "string"),
    (datetime, "a", "date-time"),
    (date, "a", "date"),
    (time, "a", "time"),
    (list, "an", "array"),
    (dict, "a", "table"),
)


def _got(value: object, *, secret: bool) -> str:
    """'got the string '993'' — or only the kind of value for secrets, arrays and tables."""
    article, name = next(
        ((a, n) for kind, a, n in _KINDS if isinstance(value, kind)),
        ("a", type(value).__name__),
    )
    if secret or isinstance(value, list | dict):
        return f"got {article} {name}"
    if isinstance(value, bool):
        return f"got {str(value).lower()}"
    shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"got the {name} {shown}"


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _ascii_domain(domain: str) -> str:
    domain = domain.lower()
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def _mask_url(url: str) -> str:
    return _URL_PASSWORD.sub(r"\1***@", url)


def _resolve_sqlite(scheme: str, rest: str, base: Path) -> str | None:
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
