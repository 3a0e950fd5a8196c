"""The table of every section and key: what is expected, an example line, and the allowed words.

Error messages quote ``expect`` and ``example``; ``config.example.toml`` documents every key here
(a test holds the two together). A new key starts here:

- a plain key (true/false, a whole number in a range, seconds, optional text, one of some
  words): a :class:`Key` with its ``kind`` here, and a field with its default in the section's
  dataclass in :mod:`mailbot.config.model`; the section reads it without more code;
- a key with rules of its own (an address, a path, a secret, a check against another key):
  a :class:`Key` without a kind here, the field in the model, and a line in the section's
  builder in :mod:`mailbot.config.sections`;
- in both cases the key, commented, with its default in ``config.example.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from mailbot.config.model import (
    DEFAULT_ANSWER_WITHIN,
    DEFAULT_DATABASE_URL,
    DEFAULT_OAUTH_SCOPE,
    DEFAULT_TIMEZONE,
    MAILBOX_CREDENTIAL,
    OAUTH_CREDENTIAL,
    SMTP_CREDENTIAL,
    AuthMethod,
    LogLevel,
    ReminderMode,
    Security,
)


@dataclass(frozen=True, slots=True)
class Flag:
    """true or false."""


@dataclass(frozen=True, slots=True)
class Whole:
    """A whole number from ``minimum`` to ``maximum`` (no upper limit when None)."""

    minimum: int
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class Seconds:
    """A finite number of seconds above zero; whole numbers are accepted."""


@dataclass(frozen=True, slots=True)
class OptionalText:
    """A string that is not empty, or no key at all."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One of the words in ``options`` (any case); ``aliases`` suggest the right word."""

    options: Mapping[str, str]
    aliases: Mapping[str, str]


Kind = Flag | Whole | Seconds | OptionalText | Choice
FLAG: Final = Flag()
SECONDS: Final = Seconds()
OPTIONAL_TEXT: Final = OptionalText()


@dataclass(frozen=True, slots=True)
class Key:
    """One key: what is expected (for error messages), an example line, whether its value is a
    secret that is never echoed, and, for a plain key, its kind: then the section reads it
    without code of its own, with the default of the dataclass field of the same name."""

    expect: str
    example: str
    secret: bool = False
    kind: Kind | None = None


LEVELS: Final[dict[str, LogLevel]] = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
}
LEVEL_ALIASES: Final = {"warn": "WARNING", "critical": "ERROR", "fatal": "ERROR"}
MODES: Final[dict[str, ReminderMode]] = {"digest": "digest", "per_case": "per_case"}
MODE_ALIASES: Final = {"per-case": "per_case", "case": "per_case"}


def password_keys(login: str, credential: str, env_name: str) -> dict[str, Key]:
    return {
        "password": Key(
            f"the {login} password itself (prefer password_file or password_env)",
            'password = "..."',
            secret=True,
        ),
        "password_file": Key(
            f"the path of a file that holds only the {login} password",
            f'password_file = "/etc/mailbot/{credential}"',
        ),
        "password_env": Key(
            f"the name of an environment variable that holds the {login} password",
            f'password_env = "{env_name}"',
        ),
    }


def oauth_keys() -> dict[str, Key]:
    return {
        "auth": Key(
            'how to log in: "password" (username and password) or "xoauth2" (an OAuth2 access '
            "token, as Microsoft 365 requires)",
            'auth = "xoauth2"',
        ),
        "oauth_provider": Key(
            'where the access token comes from with auth = "xoauth2": "microsoft" (an Azure '
            'app registration) or "command" (a program that prints the token)',
            'oauth_provider = "microsoft"',
        ),
        "oauth_tenant": Key(
            "the Microsoft 365 tenant: the Directory (tenant) ID or the tenant's domain",
            'oauth_tenant = "gemeente.onmicrosoft.com"',
        ),
        "oauth_client_id": Key(
            "the Application (client) ID of the Azure app registration, a GUID",
            'oauth_client_id = "0b5c6e2a-3f41-4d7e-9a8b-1c2d3e4f5a6b"',
        ),
        "oauth_client_secret": Key(
            "the Azure app's client secret (its Value) itself (prefer oauth_client_secret_file "
            "or oauth_client_secret_env)",
            'oauth_client_secret = "..."',
            secret=True,
        ),
        "oauth_client_secret_file": Key(
            "the path of a file that holds only the Azure app's client secret",
            f'oauth_client_secret_file = "/etc/mailbot/{OAUTH_CREDENTIAL}"',
        ),
        "oauth_client_secret_env": Key(
            "the name of an environment variable that holds the Azure app's client secret",
            'oauth_client_secret_env = "MAILBOT_OAUTH_CLIENT_SECRET"',
        ),
        "oauth_scope": Key(
            "the OAuth2 scope of the client-credentials flow, ending in /.default",
            f'oauth_scope = "{DEFAULT_OAUTH_SCOPE}"',
        ),
        "oauth_secret_expires": Key(
            'the day the Azure client secret expires, "YYYY-MM-DD" (mailbot warns 30 days before)',
            'oauth_secret_expires = "2027-11-30"',
        ),
        "oauth_token_command": Key(
            "a list of a program and its arguments, run without a shell, that prints an access "
            "token",
            'oauth_token_command = ["/usr/local/bin/get-token", "--account", "klachten"]',
        ),
    }


SCHEMA: Final[dict[str, dict[str, Key]]] = {
    "mailbox": {
        "host": Key("the IMAP server's host name", 'host = "imap.example.be"'),
        "port": Key(
            'the IMAP port, 1 to 65535 (default 993 with security = "tls", 143 otherwise)',
            "port = 993",
        ),
        "security": Key(
            'one of "tls" (TLS from the start, port 993), "starttls" (port 143) '
            'or "plain" (no encryption)',
            'security = "tls"',
        ),
        "username": Key("the mailbox login name", 'username = "klachten@gemeente.example"'),
        **password_keys("mailbox", MAILBOX_CREDENTIAL, "MAILBOT_MAILBOX_PASSWORD"),
        **oauth_keys(),
        "folder": Key("the IMAP folder new complaints arrive in", 'folder = "INBOX"'),
        "processed_folder": Key(
            "the IMAP folder handled mail is moved to", 'processed_folder = "Verwerkt"'
        ),
        "quarantine_folder": Key(
            "the IMAP folder for mail that could not be handled",
            'quarantine_folder = "Quarantaine"',
        ),
        "ca_file": Key(
            "the path of an extra CA bundle (PEM) to trust", 'ca_file = "/etc/mailbot/ca.pem"'
        ),
        "batch_size": Key(
            "how many messages to fetch at a time, 1 to 5000",
            "batch_size = 200",
            kind=Whole(1, 5000),
        ),
        "timeout": Key(
            "the network timeout in seconds, more than 0", "timeout = 60.0", kind=SECONDS
        ),
        "sent_folder": Key(
            "the folder where the mail client keeps mail sent from the complaints mailbox "
            "(watched for reasoned answers and commands; never moved)",
            'sent_folder = "Verzonden items"',
            kind=OPTIONAL_TEXT,
        ),
        "poll_interval": Key(
            "the seconds between two looks in the mailbox, more than 0",
            "poll_interval = 30.0",
            kind=SECONDS,
        ),
    },
    "smtp": {
        "host": Key("the SMTP server's host name", 'host = "smtp.example.be"'),
        "port": Key(
            'the SMTP port, 1 to 65535 (default 465 with security = "tls", 587 with "starttls", '
            '25 with "plain")',
            "port = 587",
        ),
        "security": Key(
            'one of "starttls" (port 587), "tls" (TLS from the start, port 465) '
            'or "plain" (no encryption)',
            'security = "starttls"',
        ),
        "username": Key(
            "the SMTP login name, for a server that wants a login",
            'username = "klachten@gemeente.example"',
        ),
        **password_keys("SMTP", SMTP_CREDENTIAL, "MAILBOT_SMTP_PASSWORD"),
        **oauth_keys(),
        "from_address": Key(
            "the e-mail address receipts are sent from",
            'from_address = "klachten@gemeente.example"',
        ),
        "from_name": Key(
            "the sender name shown on receipts, on one line", 'from_name = "Klachtendienst"'
        ),
        "ca_file": Key(
            "the path of an extra CA bundle (PEM) to trust", 'ca_file = "/etc/mailbot/ca.pem"'
        ),
        "timeout": Key(
            "the network timeout in seconds, more than 0", "timeout = 30.0", kind=SECONDS
        ),
    },
    "database": {
        "url": Key(
            'an SQLAlchemy database URL starting with "sqlite" or "postgresql"',
            f'url = "{DEFAULT_DATABASE_URL}"',
        ),
    },
    "staff": {
        "coordinator": Key(
            "the e-mail address of the complaints coordinator",
            'coordinator = "klachtencoordinator@gemeente.example"',
        ),
        "members": Key(
            "a list of more staff addresses that may send commands by mail",
            'members = ["collega@gemeente.example"]',
        ),
        "ops": Key(
            "the address of whoever runs mailbot's server, warned by mail when a login "
            "fails or a secret is about to expire (besides the coordinator)",
            'ops = "ict@gemeente.example"',
        ),
        "authserv_ids": Key(
            "a list of host names of your own receiving mail servers, whose "
            "Authentication-Results headers (RFC 8601) are trusted",
            'authserv_ids = ["mx.gemeente.example"]',
        ),
    },
    "services": {},
    "daemon": {
        "idle": Key(
            "true or false: wait for new mail with IMAP IDLE where the server offers it "
            "(else poll every poll_interval seconds)",
            "idle = true",
            kind=FLAG,
        ),
        "standby_interval": Key(
            "seconds between a standby instance's tries to take over from the active one",
            "standby_interval = 10.0",
            kind=SECONDS,
        ),
        "metrics_port": Key(
            "a port for Prometheus metrics on 127.0.0.1, 1024 to 65535 (default: off)",
            "metrics_port = 9469",
            kind=Whole(1024, 65535),
        ),
    },
    "form": {
        "sender": Key(
            "the address the website's complaint form mails from",
            'sender = "formulier@gemeente.example"',
        ),
        **{
            f"{field}_labels": Key(
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
        field: Key(
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
        "reference_prefix": Key(
            "2 to 6 capital letters that start every case reference (KL-2026-0042)",
            'reference_prefix = "KL"',
        ),
        "answer_within": Key(
            'the answer period, a number of months or days such as "1 month" or "30 days"',
            f'answer_within = "{DEFAULT_ANSWER_WITHIN}"',
        ),
        "timezone": Key("an IANA time zone name", f'timezone = "{DEFAULT_TIMEZONE}"'),
        "shift_to_working_day": Key(
            "true or false: move a deadline on a weekend, Belgian public holiday or closing "
            "day to the next working day",
            "shift_to_working_day = true",
            kind=FLAG,
        ),
        "closing_days": Key(
            'a list of days the municipality is closed: "MM-DD" every year or "YYYY-MM-DD" once',
            'closing_days = ["12-24", "12-31"]',
        ),
    },
    "reminders": {
        "enabled": Key("true or false", "enabled = true", kind=FLAG),
        "mode": Key('"digest" or "per_case"', 'mode = "digest"', kind=Choice(MODES, MODE_ALIASES)),
        "before_days": Key(
            "a list of whole numbers of days before the deadline, each 1 or more",
            "before_days = [14, 7, 2]",
        ),
        "overdue_every": Key(
            "the working days between two escalations of an overdue case, 1 or more",
            "overdue_every = 5",
            kind=Whole(1),
        ),
        "send_at": Key('a local time of day "HH:MM"', 'send_at = "08:30"'),
        "escalation": Key(
            "one address that also gets the escalation of overdue cases",
            'escalation = "algemeen.directeur@gemeente.example"',
        ),
    },
    "retention": {
        "keep_for": Key(
            "how long after a case was answered or closed its personal data is kept, in "
            'months or days, e.g. "24 months"',
            'keep_for = "24 months"',
        ),
    },
    "receipts": {
        "max_per_sender_per_day": Key(
            "the most automatic receipts sent to one address per day, at least 1",
            "max_per_sender_per_day = 3",
            kind=Whole(1),
        ),
        "max_per_domain_per_hour": Key(
            "the most automatic receipts sent to one mail domain per hour, at least 1 (an "
            "autoresponder that answers from a new address each time)",
            "max_per_domain_per_hour = 10",
            kind=Whole(1),
        ),
        "max_per_hour": Key(
            "the most automatic receipts sent in all per hour, at least 1: above it receipts "
            "pause (cases are still opened) and the coordinator is told once a day",
            "max_per_hour = 50",
            kind=Whole(1),
        ),
    },
    "intake": {
        "backlog_limit": Key(
            "how many mails older than 3 days a first start accepts in the complaints folder "
            "before it asks for `mailbot backlog import`, at least 0",
            "backlog_limit = 20",
            kind=Whole(0),
        ),
        "max_size_mb": Key(
            "the largest mail intake reads, in megabytes, at least 1: larger mail goes to "
            "quarantine and the coordinator is told",
            "max_size_mb = 25",
            kind=Whole(1),
        ),
    },
    "outbox": {
        "max_attempts": Key(
            "how many times to try sending one mail, at least 1",
            "max_attempts = 12",
            kind=Whole(1),
        ),
        "retry_initial": Key(
            "the seconds to wait before the first retry, more than 0",
            "retry_initial = 60.0",
            kind=SECONDS,
        ),
        "retry_max": Key(
            "the longest wait between two retries in seconds, at least retry_initial",
            "retry_max = 3600.0",
            kind=SECONDS,
        ),
    },
    "templates": {
        "folder": Key(
            "the path of a folder with your own templates", 'folder = "/etc/mailbot/templates"'
        ),
    },
    "logging": {
        "level": Key(
            'one of "DEBUG", "INFO", "WARNING" or "ERROR"',
            'level = "INFO"',
            kind=Choice(LEVELS, LEVEL_ALIASES),
        ),
    },
}

PASSWORD_SOURCES: Final = ("password", "password_file", "password_env")
CLIENT_SECRET_SOURCES: Final = (
    "oauth_client_secret",
    "oauth_client_secret_file",
    "oauth_client_secret_env",
)
INLINE_SECRETS: Final = ("password", "oauth_client_secret")
FILE_SECRETS: Final = ("password_file", "oauth_client_secret_file")
MICROSOFT_KEYS: Final = (
    "oauth_tenant",
    "oauth_client_id",
    *CLIENT_SECRET_SOURCES,
    "oauth_scope",
    "oauth_secret_expires",
)
COMMAND_KEYS: Final = ("oauth_token_command",)
OAUTH_KEYS: Final = ("oauth_provider", *MICROSOFT_KEYS, *COMMAND_KEYS)
AUTH: Final[dict[str, AuthMethod]] = {"password": "password", "xoauth2": "xoauth2"}
AUTH_ALIASES: Final = {
    "oauth": "xoauth2",
    "oauth2": "xoauth2",
    "xoauth": "xoauth2",
    "oauthbearer": "xoauth2",
    "modern": "xoauth2",
    "basic": "password",
    "plain": "password",
    "login": "password",
}
OAUTH_PROVIDERS: Final = {"microsoft": "microsoft", "command": "command"}
OAUTH_PROVIDER_ALIASES: Final = {
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
TENANT_ALIASES: Final = frozenset({"common", "organizations", "consumers"})

SECURITY: Final[dict[str, Security]] = {"tls": "tls", "starttls": "starttls", "plain": "plain"}
SECURITY_ALIASES: Final = {
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
