"""Fixtures for real servers; the machinery lives in tests/harness/.

pytest puts tests/ on sys.path (rootdir conftest, no __init__.py), so test modules import
the servers as `from harness import ...` and helpers as `from support.<module> import ...`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    DovecotServer,
    Mailbox,
    OAuthDovecotServer,
    PostgresUnavailable,
    ServerStartError,
    SmtpSink,
    TokenEndpoint,
    fresh_pg_database,
)


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Every App a test made with support.new_app gives its connections back."""
    yield
    from support.app import OPEN_APPS

    while OPEN_APPS:
        OPEN_APPS.pop().close()


SMTP_AUTH_USER = "mailbot"
SMTP_AUTH_PASSWORD = "smtp-geheim"


def _fail(message: str) -> None:
    # Called outside the except block, so the report shows the message (which carries
    # the server's log) once, not again as "During handling of the above exception".
    pytest.fail(message, pytrace=False)


def _start_dovecot(tls: bool) -> Iterator[DovecotServer]:
    server = DovecotServer(tls=tls)
    try:
        error = None
        try:
            server.start()
        except ServerStartError as exc:
            error = str(exc)
        if error is not None:
            _fail(error)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot on 127.0.0.1:<free port>, plain IMAP (ssl = no)."""
    yield from _start_dovecot(tls=False)


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[DovecotServer]:
    """A private Dovecot with a trustme CA (.ca_path): .port is imaps, .starttls_port STARTTLS."""
    yield from _start_dovecot(tls=True)


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    """A new, empty IMAP account on the plain Dovecot, only for this test."""
    return dovecot.new_mailbox()


@pytest.fixture
def mailbox_tls(dovecot_tls: DovecotServer) -> Mailbox:
    """A new, empty IMAP account on the TLS Dovecot (imaps); .ssl_context trusts the CA."""
    return dovecot_tls.new_mailbox()


def _run_sink(sink: SmtpSink) -> Iterator[SmtpSink]:
    error = None
    try:
        sink.start()
    except ServerStartError as exc:
        error = str(exc)
    if error is not None:
        _fail(error)
    try:
        yield sink
    finally:
        sink.stop()  # re-raises errors from the server thread


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real aiosmtpd server on 127.0.0.1:<free port> that keeps what it receives."""
    yield from _run_sink(SmtpSink())


@pytest.fixture
def smtp_server_auth() -> Iterator[SmtpSink]:
    """Like smtp_server, but MAIL FROM needs AUTH PLAIN/LOGIN as .username/.password."""
    yield from _run_sink(SmtpSink(auth=(SMTP_AUTH_USER, SMTP_AUTH_PASSWORD)))


@pytest.fixture
def smtp_server_smtputf8() -> Iterator[SmtpSink]:
    """Like smtp_server, but it offers SMTPUTF8 (RFC 6531): internationalised addresses."""
    yield from _run_sink(SmtpSink(smtputf8=True))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a new, empty PostgreSQL database, dropped afterwards."""
    # Fail, never skip: a missing PostgreSQL must not turn half the suite green.
    # (A fixture generator only sees its own exceptions, never the test's.)
    error = None
    try:
        with fresh_pg_database() as url:
            yield url
    except PostgresUnavailable as exc:
        error = str(exc)
    if error is not None:
        _fail(error)


@pytest.fixture
def sqlite_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """SQLAlchemy URL of a SQLite file in this test's tmp_path: the embedded default.

    With MAILBOT_TEST_DATABASE=postgresql (scripts/test's second round) every test that
    uses it runs on a fresh PostgreSQL database instead, so the whole suite is proven on
    both backends.
    """
    if os.environ.get("MAILBOT_TEST_DATABASE") == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL, in either round of scripts/test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


# OAuth2 (XOAUTH2): a token-check endpoint, a Dovecot and an SMTP sink that ask it.


@pytest.fixture(scope="session")
def token_endpoint() -> Iterator[TokenEndpoint]:
    """A token introspection endpoint on 127.0.0.1; .issue(user) makes a valid token."""
    endpoint = TokenEndpoint()
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()  # re-raises errors from its threads


@pytest.fixture(scope="session")
def dovecot_oauth(token_endpoint: TokenEndpoint) -> Iterator[OAuthDovecotServer]:
    """A private Dovecot (plain IMAP) that takes passwords and, with AUTHENTICATE XOAUTH2 or
    OAUTHBEARER, the tokens token_endpoint knows for that user."""
    server = OAuthDovecotServer(token_endpoint)
    try:
        error = None
        try:
            server.start()
        except ServerStartError as exc:
            error = str(exc)
        if error is not None:
            _fail(error)
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox_oauth(dovecot_oauth: OAuthDovecotServer) -> Mailbox:
    """A new, empty IMAP account on dovecot_oauth (password NEW_USER_PASSWORD works too)."""
    return dovecot_oauth.new_mailbox()


@pytest.fixture
def smtp_server_oauth(token_endpoint: TokenEndpoint) -> Iterator[SmtpSink]:
    """Like smtp_server, but MAIL FROM needs AUTH XOAUTH2 with a token of token_endpoint."""
    yield from _run_sink(SmtpSink(oauth=token_endpoint))


# -- slow tests: only when asked for ----------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_slow(config, items)
    _deselect_repeats(config, items)


def _deselect_repeats(config: pytest.Config, items: list[pytest.Item]) -> None:
    """scripts/test's second round (MAILBOT_TEST_ROUND=second, PostgreSQL) runs again
    only the tests on `sqlite_url`, which that round puts on PostgreSQL: a test on
    `db_url` already ran on both databases in the first round, and a test without a
    database would only repeat itself. MAILBOT_TEST_DATABASE=postgresql on its own still
    runs everything on PostgreSQL."""
    if os.environ.get("MAILBOT_TEST_ROUND") != "second":
        return
    again: list[pytest.Item] = []
    repeats: list[pytest.Item] = []
    for item in items:
        (again if "sqlite_url" in getattr(item, "fixturenames", ()) else repeats).append(item)
    if repeats:
        config.hook.pytest_deselected(items=repeats)
        items[:] = again


def _deselect_slow(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` (soaks, the long SIGKILL runs, benchmarks) run only when asked
    for, with `-m slow` (or any -m expression naming slow) or MAILBOT_SLOW_TESTS=1; CI and
    a plain `pytest` deselect them and run their short variants."""
    if "slow" in config.getoption("markexpr") or os.environ.get("MAILBOT_SLOW_TESTS") == "1":
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
