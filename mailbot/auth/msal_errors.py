"""MSAL's error answers, translated into errors that name the app and what to check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from mailbot.config import DEFAULT_OAUTH_SCOPE
from mailbot.domain.errors import PermanentError, TransientError

__all__ = ["msal_error"]

_AADSTS = re.compile(r"AADSTS(\d+)")
_TRACE = re.compile(r"\s*(?:Trace ID|Correlation ID|Timestamp):.*", re.DOTALL)

_SCOPE_HINT: Final = (
    "check oauth_scope: the client-credentials flow needs a scope that ends in /.default, "
    f"for Exchange Online {DEFAULT_OAUTH_SCOPE}"
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
