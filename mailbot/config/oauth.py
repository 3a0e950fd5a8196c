"""``auth`` and the ``oauth_*`` keys of [mailbox] and [smtp]: how mailbot logs in with OAuth2."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

from mailbot.config.model import (
    DEFAULT_OAUTH_SCOPE,
    AuthMethod,
    CommandOAuthConfig,
    MicrosoftOAuthConfig,
    OAuthConfig,
    Secret,
)
from mailbot.config.schema import (
    AUTH,
    AUTH_ALIASES,
    COMMAND_KEYS,
    MICROSOFT_KEYS,
    OAUTH_KEYS,
    OAUTH_PROVIDER_ALIASES,
    OAUTH_PROVIDERS,
    PASSWORD_SOURCES,
    TENANT_ALIASES,
)
from mailbot.config.secrets import client_secret, password
from mailbot.config.values import Table

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_NEEDED_BY_MICROSOFT = 'oauth_provider = "microsoft" needs it'


@dataclass(frozen=True, slots=True)
class Login:
    """How a section logs in: ``auth`` (None when wrong) and its password or OAuth2 settings."""

    auth: AuthMethod | None
    password: Secret | None = None
    oauth: OAuthConfig | None = None


def login(t: Table, credential: str, username: str | None) -> Login:
    """``auth`` and what it needs. ``username`` is None when the section has no login name
    (only [smtp] allows that: a server without login); then no password is read."""
    method = auth(t)
    if method == "xoauth2":
        if username is None and "username" not in t.failed:
            t.missing("username", 'auth = "xoauth2" logs in as this user')
        return Login(method, oauth=oauth(t))
    if method is None:
        return Login(None)
    no_oauth(t)
    secret = password(t, credential, required=username is not None)
    if username is None and "username" not in t.failed:
        given = [key for key in PASSWORD_SOURCES if key in t.data]
        if given:
            t.missing("username", f"{given[0]} is given, so a login name is needed")
        secret = None
    return Login(method, password=secret)


def auth(t: Table) -> AuthMethod | None:
    """auth, "password" by default; None when the value is wrong (already reported)."""
    method = t.choice("auth", "password", AUTH, AUTH_ALIASES)
    return None if "auth" in t.failed else method


def no_oauth(t: Table) -> None:
    """auth = "password": every oauth_* key is a mistake."""
    for key in OAUTH_KEYS:
        if key in t.data:
            t.report(key, 'only used with auth = "xoauth2"; add that, or remove the key')


def oauth(t: Table) -> OAuthConfig | None:
    """auth = "xoauth2": the oauth_* keys; password keys are a mistake then."""
    for key in PASSWORD_SOURCES:
        if key in t.data:
            t.report(
                key,
                'not used with auth = "xoauth2" (the access token replaces the password); '
                "remove it",
            )
    if "oauth_provider" not in t.data:
        t.missing("oauth_provider", 'auth = "xoauth2" needs it')
        return None
    provider = t.choice("oauth_provider", "microsoft", OAUTH_PROVIDERS, OAUTH_PROVIDER_ALIASES)
    if "oauth_provider" in t.failed:
        return None
    other, keys = (
        ("command", COMMAND_KEYS) if provider == "microsoft" else ("microsoft", MICROSOFT_KEYS)
    )
    for key in keys:
        if key in t.data:
            t.report(key, f'only used with oauth_provider = "{other}"; remove it')
    if provider == "command":
        return _token_command(t)
    return _microsoft(t)


def _microsoft(t: Table) -> MicrosoftOAuthConfig | None:
    tenant = _tenant(t)
    client_id = _client_id(t)
    secret = client_secret(t)
    scope = t.text("oauth_scope", DEFAULT_OAUTH_SCOPE)
    if "oauth_scope" not in t.failed and (
        not scope.strip().endswith("/.default") or any(c.isspace() for c in scope.strip())
    ):
        t.invalid(
            "oauth_scope",
            f"{scope!r} does not end in /.default, which the client-credentials flow needs",
        )
    expires = t.optional_date("oauth_secret_expires")
    if tenant is None or client_id is None or secret is None:
        return None
    return MicrosoftOAuthConfig(
        tenant=tenant.strip(),
        client_id=client_id.strip().lower(),
        client_secret=secret,
        scope=scope.strip(),
        secret_expires=expires,
    )


def _tenant(t: Table) -> str | None:
    tenant = t.optional_text("oauth_tenant")
    if tenant is None:
        if "oauth_tenant" not in t.failed:
            t.missing("oauth_tenant", _NEEDED_BY_MICROSOFT)
    elif "/" in tenant or ":" in tenant:
        t.invalid("oauth_tenant", f"{tenant!r} is a URL; give only the tenant ID or domain")
    elif tenant.lower() in TENANT_ALIASES:
        t.invalid(
            "oauth_tenant",
            f"{tenant!r} is not one tenant; an app without a user signing in needs your own tenant",
        )
    elif not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
        t.invalid("oauth_tenant", f"{tenant!r} is neither a GUID nor a domain name")
    return tenant


def _client_id(t: Table) -> str | None:
    client_id = t.optional_text("oauth_client_id")
    if client_id is None:
        if "oauth_client_id" not in t.failed:
            t.missing("oauth_client_id", _NEEDED_BY_MICROSOFT)
    elif not _GUID.fullmatch(client_id.strip()):
        # Not echoed: a client secret pasted here by mistake must not reach the log.
        t.invalid(
            "oauth_client_id",
            "is not a GUID (not the Secret ID or the secret's Value, but the Application "
            "(client) ID on the app registration's Overview page)",
        )
    return client_id


def _token_command(t: Table) -> CommandOAuthConfig | None:
    key = "oauth_token_command"
    if key not in t.data:
        t.missing(key, 'oauth_provider = "command" needs it')
        return None
    if isinstance(t.data[key], str):
        # Not echoed: a command line may carry a secret argument.
        t.invalid(
            key,
            "is one string; mailbot runs the program without a shell, so write the program "
            "and each argument as a separate string in a list",
        )
        return None
    argv = t.string_list(key)
    if key in t.failed:
        return None
    if not argv or not argv[0].strip():
        t.invalid(key, "is empty" if not argv else "the program (the first item) is empty")
        return None
    program = _program(t, key, argv[0])
    return None if program is None else CommandOAuthConfig(command=(program, *argv[1:]))


def _program(t: Table, key: str, program: str) -> str | None:
    """The absolute path of the token program, checked; None when reported."""
    if "/" not in program:
        which = shutil.which(program, path=t.source.env.get("PATH", os.defpath))
        if which is None:
            t.invalid(key, f"{program!r} is not found in $PATH; give its full path")
        return which
    path = t.source.base / program
    if not path.is_file():
        t.invalid(key, f"{path} {'is not a file' if path.exists() else 'does not exist'}")
        return None
    if not os.access(path, os.X_OK):
        t.invalid(key, f"{path} is not executable (chmod +x)")
        return None
    return str(path)
