"""OAuth2 (SASL XOAUTH2) for IMAP and SMTP, against real servers on 127.0.0.1.

Dovecot checks the tokens with its oauth2 passdb, which asks a local token introspection
endpoint (tests/harness/token_endpoint.py); the aiosmtpd sink speaks AUTH XOAUTH2 and asks
the same endpoint. Tokens come from real token commands (tiny shell scripts) and from MSAL,
which runs unchanged against a local stand-in for login.microsoftonline.com (FakeEntra:
HTTPS with a trustme CA, OIDC discovery and the client-credentials token endpoint) whose
error answers have the shape of Microsoft's. msal_error is also tested as a pure unit on
those shapes, for the AADSTS codes the stand-in does not produce.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
import requests
from harness import (
    DovecotServer,
    Mailbox,
    ServerThreadError,
    SmtpSink,
    TlsFiles,
    TokenEndpoint,
    make_tls_files,
)
from support.clock import FakeClock
from support.config_files import ENV, load, only_problem, problems, write_config

from mailbot.app import App
from mailbot.auth.command import CommandProvider
from mailbot.auth.expiry import secret_expiry_warning
from mailbot.auth.factory import provider_from_config
from mailbot.auth.microsoft import DEFAULT_SCOPE, MsalProvider
from mailbot.auth.msal_errors import msal_error
from mailbot.auth.tokens import TokenProvider
from mailbot.auth.xoauth2 import xoauth2_string
from mailbot.config import CommandOAuthConfig, MicrosoftOAuthConfig, Secret, load_config
from mailbot.domain.errors import (
    MailboxLoginError,
    MailboxUnavailableError,
    PermanentError,
    SendPermanentError,
    SendTemporaryError,
    TransientError,
)
from mailbot.inbound.imap import ImapMailbox, ImapSettings
from mailbot.outbound.smtp import SmtpSender, SmtpSettings

SENDER = "klachten@gemeente.example"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class TokenScript:
    """An executable `get-token` that prints what print_*() set, and counts its runs."""

    def __init__(self, directory: Path, *, exit_code: int = 0, stderr: str = "") -> None:
        self.path = directory / "get-token"
        self.output = directory / "token.out"
        self.runs_file = directory / "token.runs"
        self.output.write_text("")
        self.path.write_text(
            "#!/bin/sh\n"
            f'echo run >> "{self.runs_file}"\n'
            f'cat "{self.output}"\n'
            + (f"echo '{stderr}' >&2\n" if stderr else "")
            + f"exit {exit_code}\n"
        )
        self.path.chmod(0o755)
        # The arguments are ignored; they show that argv is passed without a shell.
        self.argv = [str(self.path), "--account", "klachten; rm -rf /"]

    def print_token(self, token: str) -> None:
        self.output.write_text(token + "\n")

    def print_json(self, token: str, expires_in: object) -> None:
        self.output.write_text(json.dumps({"access_token": token, "expires_in": expires_in}))

    @property
    def runs(self) -> int:
        return len(self.runs_file.read_text().splitlines()) if self.runs_file.exists() else 0


def imap_settings(mailbox: Mailbox, provider: TokenProvider | None) -> ImapSettings:
    return ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        security="plain",
        username=mailbox.username,
        password="",
        timeout=10.0,
        token_provider=provider,
    )


def smtp_settings(sink: SmtpSink, provider: TokenProvider, user: str = SENDER) -> SmtpSettings:
    return SmtpSettings(
        host=sink.host,
        port=sink.port,
        security="plain",
        username=user,
        password=None,
        timeout=10.0,
        token_provider=provider,
    )


def mail(subject: str = "Ontvangstmelding KL-2026-0042") -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "burger@example.org"
    message["Subject"] = subject
    message.set_content("Wij hebben uw klacht goed ontvangen.")
    return message.as_bytes()


def checks_since(endpoint: TokenEndpoint, start: int) -> list[bool]:
    """Accepted or not, for every token the endpoint checked since it had made start checks."""
    return [accepted for _user, accepted in endpoint.checks[start:]]


# --------------------------------------------------------------------------------------------
# A local stand-in for login.microsoftonline.com


class FakeEntra:
    """OIDC discovery and the v2.0 token endpoint (client credentials) of one tenant.

    A good request gets a token the TokenEndpoint accepts for `user` (the mailbox the app
    was given access to); bad ones get Microsoft's error answers (AADSTS codes).
    """

    TENANT = "gemeente.onmicrosoft.com"
    TENANT_ID = "7d5c2e8f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    CLIENT_ID = "0b5c6e2a-3f41-4d7e-9a8b-1c2d3e4f5a6b"
    SECRET = "Kx8Q~azure-Client-Secret-4711"
    DISCOVERY = "/v2.0/.well-known/openid-configuration"
    TOKEN = "/oauth2/v2.0/token"
    TENANTS: ClassVar[tuple[str, ...]] = (TENANT, TENANT_ID)

    def __init__(self, endpoint: TokenEndpoint, tls: TlsFiles, user: str) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.user = user
        self.lifetime = 3599
        self.secret_expired = False
        self.token_requests = 0
        self.errors: list[BaseException] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def authority(self, tenant: str = TENANT) -> str:
        return f"{self.base}/{tenant}"

    def start(self) -> None:
        entra = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._guard(entra.discovery, self.path)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                self._guard(entra.token, self.path, form)

            def _guard(self, answer: Any, *args: Any) -> None:
                try:
                    status, body = answer(*args)
                    data = json.dumps(body).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except Exception as exc:
                    entra.errors.append(exc)
                    raise

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls.cert_path, self.tls.key_path)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.errors:
            raise ServerThreadError(f"FakeEntra raised {self.errors!r}") from self.errors[0]

    # -- answers -----------------------------------------------------------------------------

    def discovery(self, path: str) -> tuple[int, dict[str, Any]]:
        tenant, _, rest = path.lstrip("/").partition("/")
        if "/" + rest != self.DISCOVERY:
            return 404, {"error": "not_found"}
        if tenant not in self.TENANTS:
            return 400, aad_error(
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        return 200, {
            "token_endpoint": f"{self.base}/{self.TENANT_ID}{self.TOKEN}",
            "authorization_endpoint": f"{self.base}/{self.TENANT_ID}/oauth2/v2.0/authorize",
            "issuer": f"{self.base}/{self.TENANT_ID}/v2.0",
        }

    def token(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        if path != f"/{self.TENANT_ID}{self.TOKEN}":
            return 404, {"error": "not_found"}
        if form.get("grant_type") != "client_credentials":
            return 400, aad_error("unsupported_grant_type", 70003, "unsupported grant type")
        if form.get("client_id") != self.CLIENT_ID:
            return 400, aad_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{self.TENANT}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if form.get("client_secret") != self.SECRET:
            return 401, aad_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{self.CLIENT_ID}'.",
            )
        if self.secret_expired:
            return 401, aad_error(
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{self.CLIENT_ID}' are expired. "
                "Visit the Azure portal to create new keys for your app.",
            )
        if not form.get("scope", "").endswith("/.default"):
            return 400, aad_error(
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": self.endpoint.issue(self.user),
        }


def aad_error(error: str, code: int, text: str) -> dict[str, Any]:
    """An error answer as Microsoft's token service gives it (and MSAL passes it on)."""
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: 2026-11-27 08:00:00Z",
        "error_codes": [code],
        "timestamp": "2026-11-27 08:00:00Z",
        "trace_id": str(trace),
        "correlation_id": str(correlation),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


@pytest.fixture(scope="session")
def entra_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("entra-tls"))


@pytest.fixture
def https(entra_tls: TlsFiles) -> Iterator[requests.Session]:
    """The HTTP client MSAL gets: it trusts the stand-in's test CA."""
    session = requests.Session()
    session.trust_env = False  # else $REQUESTS_CA_BUNDLE would win over verify
    session.verify = str(entra_tls.ca_path)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def entra(
    token_endpoint: TokenEndpoint, entra_tls: TlsFiles, mailbox_oauth: Mailbox
) -> Iterator[FakeEntra]:
    fake = FakeEntra(token_endpoint, entra_tls, mailbox_oauth.username)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def msal_provider(
    entra: FakeEntra,
    https: requests.Session,
    *,
    tenant: str = FakeEntra.TENANT,
    client_id: str = FakeEntra.CLIENT_ID,
    secret: str = FakeEntra.SECRET,
    **kw: Any,
) -> MsalProvider:
    return MsalProvider(
        tenant=tenant,
        client_id=client_id,
        client_secret=secret,
        authority=entra.authority(tenant),
        http_client=https,
        instance_discovery=False,
        timeout=5.0,
        label="[mailbox]",
        **kw,
    )


# --------------------------------------------------------------------------------------------
# Pure units


def test_xoauth2_string_is_the_documented_format() -> None:
    assert (
        xoauth2_string("klachten@gemeente.example", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA")
        == "user=klachten@gemeente.example\x01auth=Bearer "
        "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA\x01\x01"
    )


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        (None, None),
        (date(2027, 1, 31), None),  # 65 days ahead
        (date(2026, 12, 28), None),  # 31 days
        (date(2026, 12, 27), "expires on 2026-12-27, in 30 days"),
        (date(2026, 11, 28), "expires on 2026-11-28, in 1 day:"),
        (date(2026, 11, 27), "expires today (2026-11-27)"),
        (date(2026, 10, 1), "expired on 2026-10-01"),
    ],
)
def test_secret_expiry_warning(expires: date | None, expected: str | None) -> None:
    warning = secret_expiry_warning(expires, date(2026, 11, 27))
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning
        assert "create a new client secret under Certificates & secrets" in warning
        assert "oauth_secret_expires" in warning


WHERE = f"[mailbox] OAuth2: Azure app {FakeEntra.CLIENT_ID} in tenant {FakeEntra.TENANT}"


@pytest.mark.parametrize(
    ("error", "code", "kind", "fragments"),
    [
        (
            "invalid_client",
            7000215,
            PermanentError,
            ["AADSTS7000215", "oauth_client_secret", "Value", "not its Secret ID"],
        ),
        (
            "invalid_client",
            7000222,
            PermanentError,
            ["has expired (AADSTS7000222)", "Certificates & secrets", "oauth_secret_expires"],
        ),
        (
            "unauthorized_client",
            700016,
            PermanentError,
            ["AADSTS700016", "oauth_client_id", "Application (client) ID", "oauth_tenant"],
        ),
        (
            "invalid_request",
            90002,
            PermanentError,
            ["the tenant 'gemeente.onmicrosoft.com'", "AADSTS90002", "Directory (tenant) ID"],
        ),
        ("invalid_scope", 1002012, PermanentError, ["AADSTS1002012", "/.default"]),
        ("invalid_resource", 500011, PermanentError, ["AADSTS500011", "oauth_scope"]),
        ("temporarily_unavailable", 50196, TransientError, ["temporarily_unavailable"]),
        ("unauthorized_client", 700027, PermanentError, ["AADSTS700027", "check oauth_tenant"]),
    ],
)
def test_msal_error_names_the_app_and_what_to_check(
    error: str, code: int, kind: type[Exception], fragments: list[str]
) -> None:
    result = aad_error(error, code, "Something went wrong at Microsoft.")
    translated = msal_error(result, where=WHERE, tenant=FakeEntra.TENANT)
    assert type(translated) is kind
    text = str(translated)
    assert text.startswith(WHERE + ": ")
    for fragment in fragments:
        assert fragment in text
    assert result["trace_id"] not in text  # the first line of the description only


def test_msal_error_reads_the_code_from_the_description_too() -> None:
    result = aad_error("invalid_client", 7000222, "The provided client secret keys are expired.")
    del result["error_codes"]
    assert "AADSTS7000222" in str(msal_error(result, where=WHERE))
    assert isinstance(msal_error({"error": "server_error"}, where=WHERE), TransientError)


# --------------------------------------------------------------------------------------------
# CommandProvider: output, errors, caching


def test_command_prints_a_plain_token(tmp_path: Path) -> None:
    script = TokenScript(tmp_path)
    script.print_token("ya29.a0Af-plain_token~1/x==")
    clock = FakeClock(T0)
    provider = CommandProvider(script.argv, clock=clock)
    assert provider.expires_at is None
    assert provider.token() == "ya29.a0Af-plain_token~1/x=="
    assert provider.expires_at is None  # unknown: used for five minutes
    clock.advance(minutes=4, seconds=59)
    provider.token()
    assert script.runs == 1
    clock.advance(seconds=1)
    provider.token()
    assert script.runs == 2


@pytest.mark.parametrize("expires_in", [3599, "3599", 3599.0])
def test_command_prints_json_with_expires_in(tmp_path: Path, expires_in: object) -> None:
    script = TokenScript(tmp_path)
    script.print_json("json-token", expires_in)
    clock = FakeClock(T0)
    provider = CommandProvider(script.argv, clock=clock)
    assert provider.token() == "json-token"
    assert provider.expires_at == T0 + timedelta(seconds=3599)


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("", "printed nothing"),
        ("two\nlines", "not an access token (2 lines)"),
        ("Bearer abc", "not an access token (10 characters)"),
        ('{"token": "abc"}', "no usable access_token"),
        ("{not json", "printed JSON that cannot be read"),
    ],
)
def test_command_output_that_is_no_token(tmp_path: Path, output: str, fragment: str) -> None:
    script = TokenScript(tmp_path)
    script.output.write_text(output)
    with pytest.raises(PermanentError, match=re.escape(fragment)) as info:
        CommandProvider(script.argv, label="[smtp]").token()
    assert str(info.value).startswith(f"[smtp] oauth_token_command {script.path}: ")


def test_command_failures_name_the_program_but_not_its_arguments(tmp_path: Path) -> None:
    script = TokenScript(tmp_path, exit_code=3, stderr="refresh token expired; run get-token init")
    argv = [str(script.path), "--client-secret", "S3cret-argument"]
    with pytest.raises(TransientError) as info:
        CommandProvider(argv).token()
    text = str(info.value)
    assert f"{script.path}: exited with status 3: refresh token expired" in text
    assert "S3cret-argument" not in text

    with pytest.raises(PermanentError, match="no such program"):
        CommandProvider([str(tmp_path / "missing"), "--client-secret", "x"]).token()
    script.path.chmod(0o644)
    with pytest.raises(PermanentError, match="not executable"):
        CommandProvider(script.argv).token()


def test_command_that_hangs_is_a_transient_error(tmp_path: Path) -> None:
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec sleep 10\n")
    slow.chmod(0o755)
    with pytest.raises(TransientError, match=re.escape("printed no token within 0.3 s")):
        CommandProvider([str(slow)], timeout=0.3).token()


def test_token_is_cached_until_five_minutes_before_it_expires(tmp_path: Path) -> None:
    script = TokenScript(tmp_path)
    script.print_json("first", 3600)
    clock = FakeClock(T0)
    provider = CommandProvider(script.argv, clock=clock)
    assert [provider.token() for _ in range(3)] == ["first"] * 3
    clock.advance(minutes=54, seconds=59)
    assert provider.token() == "first"
    script.print_json("second", 3600)
    clock.advance(seconds=1)  # 55 minutes: 5 minutes before it expires
    assert provider.token() == "second"
    assert script.runs == 2
    assert provider.expires_at == clock.now + timedelta(hours=1)
    provider.invalidate()
    assert provider.expires_at is None
    assert provider.token() == "second"
    assert script.runs == 3


def test_short_lived_token_is_refreshed_halfway(tmp_path: Path) -> None:
    script = TokenScript(tmp_path)
    script.print_json("short", 120)
    clock = FakeClock(T0)
    provider = CommandProvider(script.argv, clock=clock)
    provider.token()
    clock.advance(seconds=59)
    provider.token()
    clock.advance(seconds=1)
    provider.token()
    assert script.runs == 2


def test_threads_share_one_fetch(tmp_path: Path) -> None:
    script = TokenScript(tmp_path)
    script.print_json("shared", 3600)
    script.path.write_text(script.path.read_text().replace("cat ", "sleep 0.2; cat "))
    provider = CommandProvider(script.argv)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(provider.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["shared"] * 8
    assert script.runs == 1


# --------------------------------------------------------------------------------------------
# IMAP against Dovecot (oauth2 passdb + token endpoint)


def test_imap_logs_in_with_xoauth2_and_lists_folders(
    dovecot_oauth: DovecotServer,
    mailbox_oauth: Mailbox,
    token_endpoint: TokenEndpoint,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    start = len(token_endpoint.checks)
    token = token_endpoint.issue(mailbox_oauth.username)
    script = TokenScript(tmp_path)
    script.print_token(token)
    with ImapMailbox(imap_settings(mailbox_oauth, CommandProvider(script.argv))) as imap:
        imap.ensure_folders(["Verwerkt"])
        assert sorted(imap.list_folders()) == ["INBOX", "Verwerkt"]
    dovecot_oauth.wait_for_log(rf"Login: user=<{mailbox_oauth.username}>, method=XOAUTH2")
    assert checks_since(token_endpoint, start) == [True]
    assert token not in caplog.text


def test_imap_refused_token_is_a_login_error_that_says_what_to_check(
    mailbox_oauth: Mailbox, token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    script = TokenScript(tmp_path)
    script.print_token("not-a-token-dovecot-knows")
    with pytest.raises(MailboxLoginError) as info:
        ImapMailbox(imap_settings(mailbox_oauth, CommandProvider(script.argv))).connect()
    text = str(info.value)
    assert "the OAuth2 access token was refused for user" in text
    assert repr(mailbox_oauth.username) in text
    assert f"check that {script.path} prints a current access token" in text
    assert "not-a-token-dovecot-knows" not in text
    # Refused: forgotten and fetched once more; the same token came back, so no second try.
    assert script.runs == 2
    assert token_endpoint.checks[-1] == ("", False)


def test_imap_caches_the_token_and_fetches_a_new_one_when_it_expires(
    mailbox_oauth: Mailbox, token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    user = mailbox_oauth.username
    start = len(token_endpoint.checks)
    script = TokenScript(tmp_path)
    script.print_json(token_endpoint.issue(user), expires_in=3600)
    clock = FakeClock(T0)
    settings = imap_settings(mailbox_oauth, CommandProvider(script.argv, clock=clock))
    for _ in range(2):
        with ImapMailbox(settings) as imap:
            imap.open_folder("INBOX")
    assert script.runs == 1

    clock.advance(minutes=56)  # within five minutes of expiry: a new token
    script.print_json(token_endpoint.issue(user), expires_in=3600)
    with ImapMailbox(settings) as imap:
        assert imap.list_folders() == ["INBOX"]
    assert script.runs == 2
    assert checks_since(token_endpoint, start) == [True, True, True]


def test_imap_retries_once_with_a_new_token_when_the_cached_one_is_revoked(
    mailbox_oauth: Mailbox, token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    user = mailbox_oauth.username
    start = len(token_endpoint.checks)
    first = token_endpoint.issue(user)
    script = TokenScript(tmp_path)
    script.print_json(first, expires_in=3600)
    settings = imap_settings(mailbox_oauth, CommandProvider(script.argv, clock=FakeClock(T0)))
    with ImapMailbox(settings):
        pass
    token_endpoint.revoke(first)
    script.print_json(token_endpoint.issue(user), expires_in=3600)
    with ImapMailbox(settings) as imap:
        assert imap.list_folders() == ["INBOX"]
    assert script.runs == 2
    assert checks_since(token_endpoint, start) == [True, False, True]


def test_imap_token_command_failure_is_transient_and_opens_no_connection(
    dovecot_oauth: DovecotServer, mailbox_oauth: Mailbox, tmp_path: Path
) -> None:
    script = TokenScript(tmp_path, exit_code=1, stderr="cannot reach the token service")
    with pytest.raises(MailboxUnavailableError, match="cannot reach the token service"):
        ImapMailbox(imap_settings(mailbox_oauth, CommandProvider(script.argv))).connect()
    assert f"user=<{mailbox_oauth.username}>" not in dovecot_oauth.log()


def test_password_login_still_works_on_the_oauth_dovecot(mailbox_oauth: Mailbox) -> None:
    password = dataclasses.replace(
        imap_settings(mailbox_oauth, None), password=mailbox_oauth.password
    )
    with ImapMailbox(password) as imap:
        assert imap.list_folders() == ["INBOX"]


# --------------------------------------------------------------------------------------------
# MSAL (client credentials) against the stand-in, then IMAP and SMTP with its tokens


def test_msal_token_logs_in_to_imap_and_is_cached(
    entra: FakeEntra, https: requests.Session, mailbox_oauth: Mailbox, token_endpoint: TokenEndpoint
) -> None:
    provider = msal_provider(entra, https)
    assert FakeEntra.SECRET not in repr(provider)
    for _ in range(2):
        with ImapMailbox(imap_settings(mailbox_oauth, provider)) as imap:
            assert imap.list_folders() == ["INBOX"]
    assert entra.token_requests == 1
    expires_at = provider.expires_at
    assert expires_at is not None
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(seconds=3599)


def test_msal_gets_a_new_token_when_the_cached_one_is_refused(
    entra: FakeEntra, https: requests.Session, mailbox_oauth: Mailbox, token_endpoint: TokenEndpoint
) -> None:
    provider = msal_provider(entra, https)
    first = provider.token()
    token_endpoint.revoke(first)  # e.g. the app's permission was withdrawn and given back
    with ImapMailbox(imap_settings(mailbox_oauth, provider)) as imap:
        assert imap.list_folders() == ["INBOX"]
    assert entra.token_requests == 2  # MSAL's own cache was dropped too


def test_msal_token_for_another_mailbox_says_what_to_check_in_exchange(
    entra: FakeEntra, https: requests.Session, dovecot_oauth: DovecotServer
) -> None:
    other = dovecot_oauth.new_mailbox()  # the app was given FullAccess to entra.user only
    with pytest.raises(MailboxLoginError) as info:
        ImapMailbox(imap_settings(other, msal_provider(entra, https))).connect()
    text = str(info.value)
    for fragment in (
        f"refused for user {other.username!r}",
        f"Azure app {FakeEntra.CLIENT_ID} has the application permission IMAP.AccessAsApp",
        "admin consent",
        f"New-ServicePrincipal -AppId {FakeEntra.CLIENT_ID} -ObjectId",
        "Enterprise applications",
        f"Add-MailboxPermission -Identity {other.username} -User <service principal ID> "
        "-AccessRights FullAccess",
    ):
        assert fragment in text


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"secret": "wrong-secret"}, ["AADSTS7000215", "oauth_client_secret"]),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, ["AADSTS700016"]),
        ({"tenant": "elders.onmicrosoft.com"}, ["the tenant 'elders.onmicrosoft.com'", "90002"]),
        ({"scope": "https://outlook.office365.com/IMAP.AccessAsApp"}, ["AADSTS1002012"]),
        ({"expired": True}, ["has expired (AADSTS7000222)", "oauth_secret_expires"]),
    ],
)
def test_msal_errors_become_login_errors_naming_the_azure_app(
    entra: FakeEntra,
    https: requests.Session,
    mailbox_oauth: Mailbox,
    change: dict[str, Any],
    fragments: list[str],
) -> None:
    entra.secret_expired = change.pop("expired", False)
    provider = msal_provider(entra, https, **change)
    with pytest.raises(MailboxLoginError) as info:
        ImapMailbox(imap_settings(mailbox_oauth, provider)).connect()
    text = str(info.value)
    assert text.startswith(
        f"IMAP {mailbox_oauth.host}:{mailbox_oauth.port}: no OAuth2 access token for "
        f"{mailbox_oauth.username!r}: [mailbox] OAuth2: Azure app "
    )
    for fragment in fragments:
        assert fragment in text
    assert FakeEntra.SECRET not in text and "wrong-secret" not in text


def test_msal_warns_once_a_day_before_the_secret_expires(
    entra: FakeEntra, https: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime.now(UTC))
    expires = clock.now.date() + timedelta(days=12)
    provider = msal_provider(entra, https, clock=clock, secret_expires=expires)
    provider.token()
    clock.advance(hours=1)  # refreshed, same day: no second warning
    provider.token()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{WHERE}: the Azure client secret expires on {expires.isoformat()}, in 12 days: "
        "create a new client secret under Certificates & secrets of the app registration, "
        "put its Value in oauth_client_secret and its expiry date in oauth_secret_expires"
    ]


def test_smtp_sends_with_an_msal_token(
    entra: FakeEntra, https: requests.Session, smtp_server_oauth: SmtpSink
) -> None:
    provider = msal_provider(entra, https)
    SmtpSender(smtp_settings(smtp_server_oauth, provider, entra.user)).send(
        SENDER, ["burger@example.org"], mail()
    )
    [received] = smtp_server_oauth.wait_for(1)
    assert received.auth_login == entra.user
    assert smtp_server_oauth.xoauth2_attempts == [(entra.user, True)]


# --------------------------------------------------------------------------------------------
# SMTP against the aiosmtpd sink


def test_smtp_sends_with_xoauth2(
    smtp_server_oauth: SmtpSink, token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    script = TokenScript(tmp_path)
    script.print_json(token_endpoint.issue(SENDER), expires_in=3600)
    sender = SmtpSender(smtp_settings(smtp_server_oauth, CommandProvider(script.argv)))
    sender.send(SENDER, ["burger@example.org"], mail("een"))
    sender.send(SENDER, ["burger@example.org"], mail("twee"))
    received = smtp_server_oauth.wait_for(2)
    assert [m.subject for m in received] == ["een", "twee"]
    assert {m.auth_login for m in received} == {SENDER}
    assert script.runs == 1
    assert sender.check()


def test_smtp_refused_token_stays_queued_and_says_what_to_check(
    smtp_server_oauth: SmtpSink, tmp_path: Path
) -> None:
    script = TokenScript(tmp_path)
    script.print_token("unknown-token")
    with pytest.raises(SendTemporaryError) as info:
        SmtpSender(smtp_settings(smtp_server_oauth, CommandProvider(script.argv))).send(
            SENDER, ["burger@example.org"], mail()
        )
    text = str(info.value)
    assert f"the OAuth2 access token was refused for {SENDER!r} (535 5.7.8" in text
    assert f"check that {script.path} prints a current access token" in text
    assert "unknown-token" not in text
    assert smtp_server_oauth.xoauth2_attempts == [(SENDER, False)]
    assert smtp_server_oauth.messages == []


def test_smtp_refused_msal_token_mentions_smtp_auth_for_the_mailbox(
    entra: FakeEntra, https: requests.Session, smtp_server_oauth: SmtpSink
) -> None:
    provider = msal_provider(entra, https)
    with pytest.raises(SendTemporaryError) as info:
        SmtpSender(smtp_settings(smtp_server_oauth, provider, "ander@gemeente.example")).check()
    text = str(info.value)
    assert "SMTP.SendAsApp" in text
    assert (
        "Set-CASMailbox -Identity ander@gemeente.example -SmtpClientAuthenticationDisabled $false"
        in text
    )


def test_smtp_server_without_xoauth2(smtp_server_auth: SmtpSink, tmp_path: Path) -> None:
    script = TokenScript(tmp_path)
    script.print_token("some-token")
    with pytest.raises(SendPermanentError, match=r"does not offer AUTH XOAUTH2 \(it offers LOGIN"):
        SmtpSender(smtp_settings(smtp_server_auth, CommandProvider(script.argv))).check()


def test_smtp_token_command_failure_is_temporary(
    smtp_server_oauth: SmtpSink, tmp_path: Path
) -> None:
    script = TokenScript(tmp_path, exit_code=75, stderr="token service unreachable")
    with pytest.raises(SendTemporaryError, match="exited with status 75: token service"):
        SmtpSender(smtp_settings(smtp_server_oauth, CommandProvider(script.argv))).send(
            SENDER, ["burger@example.org"], mail()
        )
    assert smtp_server_oauth.xoauth2_attempts == []


# --------------------------------------------------------------------------------------------
# Configuration

AZURE_SECRET = "Kx8Q~config-Azure-Secret-0815"
MICROSOFT = {
    "auth": "xoauth2",
    "oauth_provider": "microsoft",
    "oauth_tenant": FakeEntra.TENANT,
    "oauth_client_id": FakeEntra.CLIENT_ID,
    "oauth_client_secret_env": "AZ_SECRET",
}
AZ_ENV = {**ENV, "AZ_SECRET": AZURE_SECRET}


def xoauth2(**keys: object) -> dict[str, dict[str, object | None]]:
    """[mailbox] and [smtp] with auth = "xoauth2" (microsoft), and changes to both."""
    mailbox: dict[str, object | None] = {"password_env": None, **MICROSOFT, **keys}
    smtp: dict[str, object | None] = {"username": SENDER, **MICROSOFT, **keys}
    return {"mailbox": mailbox, "smtp": smtp}


def test_xoauth2_with_microsoft(tmp_path: Path) -> None:
    (tmp_path / "azure-secret").write_text(AZURE_SECRET + "\n")
    changes = xoauth2(oauth_client_id=FakeEntra.CLIENT_ID.upper())
    changes["mailbox"].update(
        oauth_client_secret_env=None,
        oauth_client_secret_file="azure-secret",
        oauth_secret_expires="2027-11-30",
    )
    config = load(tmp_path, changes, AZ_ENV)
    assert config.mailbox.auth == config.smtp.auth == "xoauth2"
    assert config.mailbox.password == Secret("")
    assert config.smtp.password is None
    expected = MicrosoftOAuthConfig(
        tenant=FakeEntra.TENANT,
        client_id=FakeEntra.CLIENT_ID,
        client_secret=Secret(AZURE_SECRET),
        scope=DEFAULT_SCOPE,
        secret_expires=date(2027, 11, 30),
    )
    assert config.mailbox.oauth == expected
    assert config.smtp.oauth == MicrosoftOAuthConfig(
        FakeEntra.TENANT, FakeEntra.CLIENT_ID, Secret(AZURE_SECRET)
    )
    assert AZURE_SECRET not in repr(config) + str(config.mailbox) + str(config.smtp)


def test_password_is_still_the_default(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert (config.mailbox.auth, config.mailbox.oauth) == ("password", None)
    assert (config.smtp.auth, config.smtp.oauth) == ("password", None)
    assert provider_from_config(config.mailbox) is None


def test_client_secret_from_a_systemd_credential(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "oauth-client-secret").write_text(AZURE_SECRET)
    config = load(
        tmp_path,
        xoauth2(oauth_client_secret_env=None),
        {"CREDENTIALS_DIRECTORY": str(credentials)},
    )
    for section in (config.mailbox, config.smtp):
        assert isinstance(section.oauth, MicrosoftOAuthConfig)
        assert section.oauth.client_secret.reveal() == AZURE_SECRET


def test_every_missing_key_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "mailbox": {"password_env": None, "auth": "xoauth2"},
            "smtp": {"auth": "xoauth2", "oauth_provider": "microsoft"},
        },
        {"CREDENTIALS_DIRECTORY": str(tmp_path)},
    )
    path = tmp_path / "config.toml"
    assert [p.split(": ", 2)[1] for p in found] == [
        "[mailbox] oauth_provider",
        "[smtp] username",
        "[smtp] oauth_tenant",
        "[smtp] oauth_client_id",
        "[smtp] oauth_client_secret",
    ]
    assert all(p.startswith(f"{path}: ") for p in found)
    assert 'missing (auth = "xoauth2" needs it); expected where the access token comes' in found[0]
    assert 'e.g. oauth_provider = "microsoft"' in found[0]
    assert 'missing (auth = "xoauth2" logs in as this user)' in found[1]
    assert "the Application (client) ID of the Azure app registration" in found[3]
    assert "a systemd credential named oauth-client-secret (LoadCredential=)" in found[4]
    assert f"$CREDENTIALS_DIRECTORY ({tmp_path}) holds no oauth-client-secret" in found[4]


def test_two_client_secret_sources(tmp_path: Path) -> None:
    (tmp_path / "azure-secret").write_text(AZURE_SECRET)
    changes = xoauth2()
    changes["smtp"] = {"oauth_client_secret_env": None}  # smtp: only password keys left
    changes["mailbox"]["oauth_client_secret_file"] = "azure-secret"
    problem = only_problem(tmp_path, changes, AZ_ENV)
    assert problem.endswith(
        "[mailbox] oauth_client_secret_env: give only one of oauth_client_secret, "
        "oauth_client_secret_file and oauth_client_secret_env, not oauth_client_secret_file "
        "and oauth_client_secret_env together"
    )


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("oauth_provider", "azure", "'azure' is not allowed (did you mean 'microsoft'?)"),
        ("oauth_provider", "google", "'google' is not allowed; expected where the access"),
        ("auth", "oauth2", "'oauth2' is not allowed (did you mean 'xoauth2'?)"),
        ("oauth_tenant", "common", "'common' is not one tenant"),
        ("oauth_tenant", "https://login.microsoftonline.com/x", "/x' is a URL; give only the"),
        ("oauth_tenant", "gemeente", "'gemeente' is neither a GUID nor a domain name"),
        ("oauth_scope", "https://outlook.office.com/IMAP.AccessAsApp", "does not end in /.default"),
        ("oauth_secret_expires", "30/11/2027", "got the string '30/11/2027'; expected the day"),
        ("oauth_secret_expires", "2027-02-30", "'2027-02-30' is not a day of the calendar"),
    ],
)
def test_bad_oauth_values(tmp_path: Path, key: str, value: str, fragment: str) -> None:
    changes = xoauth2()
    changes["mailbox"][key] = value
    problem = only_problem(tmp_path, changes, AZ_ENV)
    assert f"[mailbox] {key}: " in problem
    assert fragment in problem


def test_secret_expires_as_a_toml_date(tmp_path: Path) -> None:
    path = write_config(tmp_path, xoauth2())
    text = path.read_text().replace("[smtp]\n", "oauth_secret_expires = 2027-11-30\n\n[smtp]\n", 1)
    path.write_text(text)
    config = load_config(path, env=AZ_ENV)
    assert isinstance(config.mailbox.oauth, MicrosoftOAuthConfig)
    assert config.mailbox.oauth.secret_expires == date(2027, 11, 30)


def test_keys_that_do_not_belong_with_the_chosen_method(tmp_path: Path) -> None:
    changes: dict[str, dict[str, object | None]] = {
        "mailbox": {"oauth_tenant": FakeEntra.TENANT},  # auth = "password" (default)
        "smtp": {**xoauth2()["smtp"], "password": "oud", "oauth_token_command": ["/bin/true"]},
    }
    found = problems(tmp_path, changes, AZ_ENV)
    assert [p.split(": ", 1)[1] for p in found] == [
        '[mailbox] oauth_tenant: only used with auth = "xoauth2"; add that, or remove the key',
        '[smtp] password: not used with auth = "xoauth2" (the access token replaces the '
        "password); remove it",
        '[smtp] oauth_token_command: only used with oauth_provider = "command"; remove it',
    ]


def test_client_secret_never_appears_in_errors(tmp_path: Path) -> None:
    (tmp_path / "azure-secret").write_text(AZURE_SECRET)
    changes = xoauth2()
    changes["mailbox"].update(
        oauth_client_id=AZURE_SECRET,  # pasted in the wrong key
        oauth_client_secret_env=None,
        oauth_client_secret=12345678,
    )
    changes["smtp"].update(oauth_client_secret_file="azure-secret")  # and _env: two sources
    found = problems(tmp_path, changes, AZ_ENV)
    text = "\n".join(found)
    assert len(found) == 3, found
    assert "[mailbox] oauth_client_id: is not a GUID" in text
    assert "[mailbox] oauth_client_secret: expected a string" in text
    assert AZURE_SECRET not in text and "12345678" not in text


def test_token_command(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = TokenScript(bin_dir)
    command = {"auth": "xoauth2", "oauth_provider": "command"}
    changes: dict[str, dict[str, object | None]] = {
        "mailbox": {"password_env": None, **command, "oauth_token_command": ["bin/get-token"]},
        "smtp": {"username": SENDER, **command, "oauth_token_command": ["get-token", "--smtp"]},
    }
    config = load(tmp_path, changes, {**ENV, "PATH": str(bin_dir)})
    assert config.mailbox.oauth == CommandOAuthConfig((str(script.path),))
    assert config.smtp.oauth == CommandOAuthConfig((str(script.path), "--smtp"))
    provider = provider_from_config(config.smtp)
    assert isinstance(provider, CommandProvider)
    assert provider.argv == (str(script.path), "--smtp")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("/usr/local/bin/get-token --secret S3cr3t", "is one string; mailbot runs the program"),
        ([], "is empty"),
        (["/nonexistent/get-token"], "/nonexistent/get-token does not exist"),
        (["no-such-get-token"], "'no-such-get-token' is not found in $PATH"),
        (["token.txt"], "is not executable"),
        ([1, 2], "expected a list of strings"),
    ],
)
def test_bad_token_command(tmp_path: Path, value: object, fragment: str) -> None:
    (tmp_path / "token.txt").write_text("x")
    if value == ["token.txt"]:
        value = ["./token.txt"]
    changes: dict[str, dict[str, object | None]] = {
        "mailbox": {
            "password_env": None,
            "auth": "xoauth2",
            "oauth_provider": "command",
            "oauth_token_command": value,
        }
    }
    problem = only_problem(tmp_path, changes, {**ENV, "PATH": str(tmp_path / "empty")})
    assert "[mailbox] oauth_token_command: " in problem
    assert fragment in problem
    assert "S3cr3t" not in problem


def test_the_app_builds_one_token_provider_per_section(tmp_path: Path) -> None:
    app = App(load(tmp_path, xoauth2(), AZ_ENV))
    try:
        provider = app.imap.token_provider
        assert isinstance(provider, MsalProvider)
        smtp = app.smtp.token_provider
        assert isinstance(smtp, MsalProvider) and smtp is not provider  # its own cache
        assert provider.where.startswith("[mailbox] ") and smtp.where.startswith("[smtp] ")
    finally:
        app.close()
    assert (provider.tenant, provider.client_id, provider.scope) == (
        FakeEntra.TENANT,
        FakeEntra.CLIENT_ID,
        DEFAULT_SCOPE,
    )
    assert provider.authority == f"https://login.microsoftonline.com/{FakeEntra.TENANT}"
    assert AZURE_SECRET not in repr(provider)


def test_from_config_file_to_imap_login(
    dovecot_oauth: DovecotServer,
    mailbox_oauth: Mailbox,
    token_endpoint: TokenEndpoint,
    tmp_path: Path,
) -> None:
    """What the app does: config -> provider_from_config (once) -> ImapSettings -> login."""
    script = TokenScript(tmp_path)
    script.print_json(token_endpoint.issue(mailbox_oauth.username), 3600)
    changes: dict[str, dict[str, object | None]] = {
        "mailbox": {
            "host": mailbox_oauth.host,
            "port": mailbox_oauth.port,
            "security": "plain",
            "username": mailbox_oauth.username,
            "password_env": None,
            "auth": "xoauth2",
            "oauth_provider": "command",
            "oauth_token_command": [script.path.name, "--account", "klachten"],
        }
    }
    app = App(load(tmp_path, changes, {**ENV, "PATH": str(tmp_path)}))
    try:
        for _ in range(2):  # two intake passes, one token
            with app.mailbox() as imap:
                assert imap.list_folders() == ["INBOX"]
    finally:
        app.close()
    assert script.runs == 1
    dovecot_oauth.wait_for_log(rf"Login: user=<{mailbox_oauth.username}>, method=XOAUTH2")
