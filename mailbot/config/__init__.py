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

The rooms: ``model`` (the dataclasses), ``schema`` (every section and key: add a key there),
``reader`` (the file and the order of the sections), ``sections`` (one builder per section),
``values`` (typed getters that report problems), ``secrets`` (passwords and client secrets),
``oauth`` (``auth`` and the ``oauth_*`` keys).
"""

from mailbot.config.model import (
    DEFAULT_OAUTH_SCOPE,
    ENV_CONFIG,
    ENV_CREDENTIALS,
    MAILBOX_CREDENTIAL,
    OAUTH_CREDENTIAL,
    SMTP_CREDENTIAL,
    AuthMethod,
    CasesConfig,
    CommandOAuthConfig,
    Config,
    ConfigError,
    DaemonConfig,
    DatabaseConfig,
    IntakeConfig,
    LoggingConfig,
    LogLevel,
    MailboxConfig,
    MicrosoftOAuthConfig,
    OAuthConfig,
    OutboxConfig,
    ReceiptsConfig,
    ReminderMode,
    RemindersConfig,
    RetentionConfig,
    Secret,
    Security,
    SmtpConfig,
    StaffConfig,
    TemplatesConfig,
)
from mailbot.config.reader import load_config
from mailbot.config.schema import SCHEMA as _SCHEMA  # noqa: F401  (tests check the example)

__all__ = [
    "DEFAULT_OAUTH_SCOPE",
    "ENV_CONFIG",
    "ENV_CREDENTIALS",
    "MAILBOX_CREDENTIAL",
    "OAUTH_CREDENTIAL",
    "SMTP_CREDENTIAL",
    "AuthMethod",
    "CasesConfig",
    "CommandOAuthConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "DatabaseConfig",
    "IntakeConfig",
    "LogLevel",
    "LoggingConfig",
    "MailboxConfig",
    "MicrosoftOAuthConfig",
    "OAuthConfig",
    "OutboxConfig",
    "ReceiptsConfig",
    "ReminderMode",
    "RemindersConfig",
    "RetentionConfig",
    "Secret",
    "Security",
    "SmtpConfig",
    "StaffConfig",
    "TemplatesConfig",
    "load_config",
]
