"""Tokens for an Azure app registration: MSAL's client-credentials flow (Microsoft 365)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from mailbot.auth.expiry import secret_expiry_warning
from mailbot.auth.msal_errors import msal_error
from mailbot.auth.tokens import CachingProvider, Service
from mailbot.config import DEFAULT_OAUTH_SCOPE
from mailbot.domain.errors import TransientError
from mailbot.domain.ports import Clock, system_clock

__all__ = ["AUTHORITY_HOST", "DEFAULT_SCOPE", "MsalProvider"]

log = logging.getLogger(__name__)

DEFAULT_SCOPE: Final = DEFAULT_OAUTH_SCOPE
AUTHORITY_HOST: Final = "https://login.microsoftonline.com"


class MsalProvider(CachingProvider):
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
