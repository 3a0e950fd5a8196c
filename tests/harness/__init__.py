"""Real servers for the integration tests: a private Dovecot, an aiosmtpd sink, PostgreSQL,
and an OAuth2 token endpoint. Nothing here is faked.

Each server listens on 127.0.0.1 on a port chosen at runtime, is started and stopped by
a pytest fixture (tests/conftest.py), and raises with its own log when it does not come
up. Tests import from the package, not from its modules: `from harness import Mailbox`.

    base.py            loopback address, free ports, errors, log tails, process groups
    tls.py             a trustme CA and a server certificate
    mailbox.py         Mailbox: one IMAP account, arranged and inspected by a test
    dovecot.py         DovecotServer, OAuthDovecotServer
    token_endpoint.py  TokenEndpoint: OAuth2 token introspection
    smtp.py            SmtpSink: aiosmtpd that keeps and refuses mail on request
    postgres.py        fresh_pg_database: a PostgreSQL database per test
"""

from harness.base import LOCALHOST, ServerStartError, ServerThreadError, free_port, group_alive
from harness.dovecot import DovecotServer, OAuthDovecotServer
from harness.mailbox import Mailbox, StoredMessage
from harness.postgres import (
    PG_ADMIN_DSN,
    PG_URL_BASE,
    PostgresUnavailable,
    fresh_pg_database,
    pg_database_exists,
)
from harness.proxy import TcpProxy
from harness.smtp import ReceivedMail, Rejection, SmtpSink, Stage
from harness.tls import TlsFiles, make_tls_files
from harness.token_endpoint import TokenEndpoint

__all__ = [
    "LOCALHOST",
    "PG_ADMIN_DSN",
    "PG_URL_BASE",
    "DovecotServer",
    "Mailbox",
    "OAuthDovecotServer",
    "PostgresUnavailable",
    "ReceivedMail",
    "Rejection",
    "ServerStartError",
    "ServerThreadError",
    "SmtpSink",
    "Stage",
    "StoredMessage",
    "TcpProxy",
    "TlsFiles",
    "TokenEndpoint",
    "free_port",
    "fresh_pg_database",
    "group_alive",
    "make_tls_files",
    "pg_database_exists",
]
