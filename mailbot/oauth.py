"""OAuth2 access tokens for IMAP and SMTP (SASL XOAUTH2), e.g. for Microsoft 365.

Exchange Online no longer accepts passwords over IMAP. Instead mailbot logs in with an
OAuth2 access token, sent with the XOAUTH2 mechanism as
``"user=" + user + "\\x01auth=Bearer " + token + "\\x01\\x01"``. A :class:`TokenProvider`
hands out the tokens:

- :class:`MsalProvider`: the client-credentials flow of an Azure app registration (MSAL),
  for ``oauth_provider = "microsoft"``;
- :class:`CommandProvider`: a program that prints a token, for ``oauth_provider =
  "command"`` (any other identity provider, or a token broker the operators already run).

Both cache the token until :data:`REFRESH_MARGIN` before it expires and are thread-safe.
:func:`provider_from_config` builds the provider for ``[mailbox]`` or ``[smtp]``, and gives
the same object back for the same configuration, so that a token outlives one intake pass.
Errors are mailbot's own: :class:`~mailbot.domain.errors.PermanentError` when trying again
will not help (a wrong or expired client secret), :class:`~mailbot.domain.errors.TransientError`
otherwise. Tokens and client secrets never appear in logs, errors or reprs.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from mailbot.config import (
    DEFAULT_OAUTH_SCOPE,
    CommandOAuthConfig,
    MailboxConfig,
    MicrosoftOAuthConfig,
    SmtpConfig,
)
from mailbot.domain.errors import PermanentError, TransientError
from mailbot.domain.ports import Clock, system_clock

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_MARGIN",
    "CommandProvider",
    "MsalProvider",
    "Service",
    "TokenProvider",
    "msal_error",
    "provider_from_config",
    "secret_expiry_warning",
    "xoauth2_string",
]

log = logging.getLogger(__name__)

DEFAULT_SCOPE: Final = DEFAULT_OAUTH_SCOPE
AUTHORITY_HOST: Final = "https://login.microsoftonline.com"
#: a cached token is replaced this long before it expires (or halfway, for short ones)
REFRESH_MARGIN: Final = timedelta(minutes=5)
#: a token printed without an expiry time is used this long, then the command runs again
UNKNOWN_LIFETIME_REUSE: Final = timedelta(minutes=5)
#: warn this many days before the Azure client secret expires
SECRET_WARN_DAYS: Final = 30

Service = Literal["imap", "smtp"]

# RFC 6750 b64token: what a bearer token may consist of.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_AADSTS = re.compile(r"AADSTS(\d+)")
_TRACE = re.compile(r"\s*(?:Trace ID|Correlation ID|Timestamp):.*", re.DOTALL)


class TokenProvider(Protocol):
    """Hands out OAuth2 access tokens; caches them and may be shared between threads."""

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token expires; None before the first token or when unknown."""

    def token(self) -> str:
        """A current access token; raise PermanentError or TransientError."""

    def invalidate(self) -> None:
        """Forget the cached token (the server refused it): the next token() fetches anew."""

    def refused_hint(self, protocol: Service, user: str) -> str:
        """What to check when the IMAP or SMTP server refuses a token from this provider."""


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (Google's and Microsoft's docs)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def secret_expiry_warning(
    expires: date | None, today: date, warn_days: int = SECRET_WARN_DAYS
) -> str | None:
    """An operator warning when the Azure client secret expires within warn_days, else None."""
    if expires is None:
        return None
    renew = (
        "create a new client secret under Certificates & secrets of the app registration, "
        "put its Value in oauth_client_secret and its expiry date in oauth_secret_expires"
    )
    days = (expires - today).days
    if days < 0:
        return f"the Azure client secret expired on {expires.isoformat()}: {renew}"
    if days == 0:
        return f"the Azure client secret expires today ({expires.isoformat()}): {renew}"
    if days <= warn_days:
        unit = "day" if days == 1 else "days"
        return (
            f"the Azure client secret expires on {expires.isoformat()}, in {days} {unit}: {renew}"
        )
    return None


# --------------------------------------------------------------------------------------------
# Caching


class _CachingProvider:
    """The cache shared by the providers: one token, refreshed before it expires."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._refresh_at: datetime | None = None
        #: how many tokens were fetched so far (not served from the cache)
        self.fetches = 0

    @property
    def expires_at(self) -> datetime | None:
        with self._lock:
            return self._expires_at if self._token is not None else None

    def token(self) -> str:
        # The lock is held while fetching: other threads wait and share the new token.
        with self._lock:
            now = self._clock()
            if self._token is not None and self._refresh_at is not None and now < self._refresh_at:
                return self._token
            self._token = None
            token, lifetime = self._fetch(now)
            self.fetches += 1
            if lifetime is None:
                self._expires_at = None
                self._refresh_at = now + UNKNOWN_LIFETIME_REUSE
            else:
                lifetime = max(lifetime, 0.0)
                self._expires_at = now + timedelta(seconds=lifetime)
                margin = min(REFRESH_MARGIN, timedelta(seconds=lifetime / 2))
                self._refresh_at = self._expires_at - margin
            self._token = token
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._expires_at = self._refresh_at = None
            self._forget()

    def _fetch(self, now: datetime) -> tuple[str, float | None]:
        """A new token and its lifetime in seconds (None: unknown). Called under the lock."""
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop any cache below ours (invalidate). Called under the lock."""


# --------------------------------------------------------------------------------------------
# Microsoft: client credentials of an Azure app registration


class MsalProvider(_CachingProvider):
    """Tokens for an Azure app (client-credentials flow, ``acquire_token_for_client``).

    ``authority``, ``http_client`` and ``instance_discovery`` are passed to MSAL as they
    are: for national clouds and for tests against a local authority.
    """

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        scope: str = DEFAULT_SCOPE,
        secret_expires: date | None = None,
        timeout: float = 30.0,
        label: str = "",
        clock: Clock = system_clock,
        authority: str | None = None,
        http_client: Any = None,
        instance_discovery: bool | None = None,
    ) -> None:
        super().__init__(clock)
        self.tenant = tenant
        self.client_id = client_id
        self.scope = scope
        self.secret_expires = secret_expires
        self.timeout = timeout
        self.label = label
        self.authority = authority or f"{AUTHORITY_HOST}/{tenant}"
        self._secret = client_secret
        self._http_client = http_client
        self._instance_discovery = instance_discovery
        self._app: Any = None
        self._warned_on: date | None = None

    def __repr__(self) -> str:
        return (
            f"MsalProvider(tenant={self.tenant!r}, client_id={self.client_id!r}, "
            f"scope={self.scope!r})"
        )

    @property
    def where(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}OAuth2: Azure app {self.client_id} in tenant {self.tenant}"

    def refused_hint(self, protocol: Service, user: str) -> str:
        permission = "IMAP.AccessAsApp" if protocol == "imap" else "SMTP.SendAsApp"
        hint = (
            f"check that the Azure app {self.client_id} has the application permission "
            f"{permission} of Office 365 Exchange Online with admin consent, and that in "
            "Exchange Online PowerShell its service principal is registered "
            f"(New-ServicePrincipal -AppId {self.client_id} -ObjectId <the Object ID under "
            "Enterprise applications, not App registrations>) and may use the mailbox "
            f"(Add-MailboxPermission -Identity {user} -User <service principal ID> "
            "-AccessRights FullAccess)"
        )
        if protocol == "smtp":
            hint += (
                f"; SMTP AUTH must be on for the mailbox (Set-CASMailbox -Identity {user} "
                "-SmtpClientAuthenticationDisabled $false)"
            )
        return hint + "; changes can take a while to reach Exchange Online"

    def _fetch(self, now: datetime) -> tuple[str, float | None]:
        self._warn_secret_expiry(now.date())
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except (OSError, ValueError) as exc:  # requests' errors are OSErrors
            raise TransientError(
                f"{self.where}: cannot reach {self.authority}: {type(exc).__name__}"
            ) from exc
        if not isinstance(result, Mapping):
            raise TransientError(f"{self.where}: MSAL gave no answer")
        token = result.get("access_token")
        if isinstance(token, str) and token:
            expires_in = result.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else None
            return token, lifetime
        raise msal_error(result, where=self.where, tenant=self.tenant)

    def _forget(self) -> None:
        # MSAL keeps tokens in its own cache; a new application starts with an empty one.
        self._app = None

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        import msal  # type: ignore[import-untyped]  # imported when first needed: it is slow

        try:
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._secret,
                authority=self.authority,
                timeout=self.timeout,
                http_client=self._http_client,
                instance_discovery=self._instance_discovery,
            )
        except ValueError as exc:
            # MSAL says "Unable to get authority configuration" for an unknown tenant,
            # whose discovery document Microsoft answers with AADSTS90002.
            raise msal_error(
                {"error": "invalid_tenant", "error_codes": [90002], "error_description": ""},
                where=self.where,
                tenant=self.tenant,
            ) from exc
        except OSError as exc:
            raise TransientError(
                f"{self.where}: cannot reach {self.authority}: {type(exc).__name__}"
            ) from exc
        return self._app

    def _warn_secret_expiry(self, today: date) -> None:
        if self._warned_on == today:
            return
        warning = secret_expiry_warning(self.secret_expires, today)
        if warning is not None:
            self._warned_on = today
            log.warning("%s: %s", self.where, warning)


_SCOPE_HINT: Final = (
    "check oauth_scope: the client-credentials flow needs a scope that ends in /.default, "
    f"for Exchange Online {DEFAULT_SCOPE}"
)

#: AADSTS code -> (what went wrong, what to check)
_AADSTS_ADVICE: Final[Mapping[int, tuple[str, str]]] = {
    7000215: (
        "Microsoft refused the client secret (AADSTS7000215: invalid client secret)",
        "check oauth_client_secret: it must be the secret's Value, shown once when the secret "
        "was made, not its Secret ID; when the Value is lost, create a new client secret "
        "under Certificates & secrets of the app registration",
    ),
    7000222: (
        "the client secret has expired (AADSTS7000222)",
        "create a new client secret under Certificates & secrets of the app registration, "
        "put its Value in oauth_client_secret and its expiry date in oauth_secret_expires",
    ),
    700016: (
        "Microsoft does not know this app in this tenant (AADSTS700016: application not found)",
        "check oauth_client_id (the Application (client) ID on the app registration's "
        "Overview page) and oauth_tenant (the Directory (tenant) ID on the same page)",
    ),
    90002: (
        "Microsoft does not know this tenant (AADSTS90002: tenant not found)",
        "check oauth_tenant: the Directory (tenant) ID on the app registration's Overview "
        "page, or the tenant's domain such as gemeente.onmicrosoft.com",
    ),
    1002012: ("Microsoft refused the scope (AADSTS1002012: invalid scope)", _SCOPE_HINT),
    70011: ("Microsoft refused the scope (AADSTS70011: invalid scope)", _SCOPE_HINT),
    500011: (
        "the resource in oauth_scope does not exist in this tenant (AADSTS500011)",
        _SCOPE_HINT,
    ),
    7000112: (
        "the app is disabled (AADSTS7000112)",
        "enable it again under Enterprise applications > the app > Properties",
    ),
}

_TRANSIENT_ERRORS: Final = frozenset({"temporarily_unavailable", "server_error"})


def msal_error(
    result: Mapping[str, Any], *, where: str, tenant: str = ""
) -> PermanentError | TransientError:
    """Translate MSAL's error answer (``{"error": ..., "error_description": "AADSTS...",
    "error_codes": [...]}``) into a clear error naming the app and what to check."""
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "")
    codes = [c for c in result.get("error_codes") or () if isinstance(c, int)]
    codes += [int(c) for c in _AADSTS.findall(description) if int(c) not in codes]
    for code in codes:
        if code in _AADSTS_ADVICE:
            what, check = _AADSTS_ADVICE[code]
            if code == 90002 and tenant:
                what = what.replace("this tenant", f"the tenant {tenant!r}")
            return PermanentError(f"{where}: {what}; {check}")
    detail = _TRACE.sub("", description.splitlines()[0] if description else "").strip()
    if len(detail) > 300:
        detail = detail[:297] + "..."
    text = f"{where}: no token ({error}{': ' + detail if detail else ''})"
    if error in _TRANSIENT_ERRORS or error.startswith("http_") or error == "unknown_error":
        return TransientError(f"{text}; will try again")
    return PermanentError(
        f"{text}; check oauth_tenant, oauth_client_id, the client secret and oauth_scope"
    )


# --------------------------------------------------------------------------------------------
# A command that prints a token


class CommandProvider(_CachingProvider):
    """Runs ``argv`` (no shell) and reads an access token from its standard output.

    The output is the token itself (one line), or a JSON object
    ``{"access_token": "...", "expires_in": 3599}``. Without expires_in the token is used
    for :data:`UNKNOWN_LIFETIME_REUSE`, then the command runs again. Only the program's
    path appears in errors, never its other arguments (they may hold secrets) or its output.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        label: str = "",
        clock: Clock = system_clock,
    ) -> None:
        if not argv or not argv[0]:
            raise ValueError("CommandProvider needs a program to run")
        super().__init__(clock)
        self.argv = tuple(argv)
        self.timeout = timeout
        self.label = label

    def __repr__(self) -> str:
        return f"CommandProvider({self.argv[0]!r}, ...)"

    @property
    def where(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}oauth_token_command {self.argv[0]}"

    def refused_hint(self, protocol: Service, user: str) -> str:
        return (
            f"check that {self.argv[0]} prints a current access token for {user} that this "
            f"{protocol.upper()} server accepts (the right account, scope and audience)"
        )

    def _fetch(self, now: datetime) -> tuple[str, float | None]:
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PermanentError(f"{self.where}: no such program") from exc
        except PermissionError as exc:
            raise PermanentError(f"{self.where}: not executable (chmod +x?)") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransientError(
                f"{self.where}: printed no token within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise TransientError(f"{self.where}: cannot run it: {exc.strerror}") from exc
        if done.returncode != 0:
            tail = _last_line(done.stderr)
            raise TransientError(
                f"{self.where}: exited with status {done.returncode}"
                + (f": {tail}" if tail else "")
            )
        return self._parse(done.stdout.decode("utf-8", errors="replace").strip())

    def _parse(self, output: str) -> tuple[str, float | None]:
        if not output:
            raise PermanentError(f"{self.where}: printed nothing; expected an access token")
        if output.startswith("{"):
            try:
                data = json.loads(output)
            except ValueError as exc:
                raise PermanentError(f"{self.where}: printed JSON that cannot be read") from exc
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not _B64TOKEN.fullmatch(token):
                raise PermanentError(
                    f"{self.where}: the JSON it printed has no usable access_token"
                )
            return token, _lifetime(data.get("expires_in"))
        if not _B64TOKEN.fullmatch(output):
            lines = len(output.splitlines())
            shape = f"{lines} lines" if lines > 1 else f"{len(output)} characters"
            raise PermanentError(
                f"{self.where}: printed something that is not an access token ({shape}); "
                'expected the token alone, or JSON {"access_token": ..., "expires_in": ...}'
            )
        return output, None


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _last_line(output: bytes, limit: int = 200) -> str:
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= limit else last[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# From the configuration

_providers: dict[tuple[str, MicrosoftOAuthConfig | CommandOAuthConfig, float], TokenProvider] = {}
_providers_lock = threading.Lock()


def provider_from_config(section: MailboxConfig | SmtpConfig) -> TokenProvider | None:
    """The token provider for ``[mailbox]`` or ``[smtp]``; None for ``auth = "password"``.

    The same configuration gives the same provider object, with its cached token, however
    often this is called (daemon.py builds the IMAP settings for every intake pass).
    """
    oauth = section.oauth
    if section.auth != "xoauth2" or oauth is None:
        return None
    label = "[mailbox]" if isinstance(section, MailboxConfig) else "[smtp]"
    key = (label, oauth, section.timeout)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _build(label, oauth, section.timeout)
            _providers[key] = provider
        return provider


def _build(
    label: str, oauth: MicrosoftOAuthConfig | CommandOAuthConfig, timeout: float
) -> TokenProvider:
    if isinstance(oauth, CommandOAuthConfig):
        return CommandProvider(oauth.command, timeout=timeout, label=label)
    return MsalProvider(
        tenant=oauth.tenant,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret.reveal(),
        scope=oauth.scope,
        secret_expires=oauth.secret_expires,
        timeout=timeout,
        label=label,
    )
