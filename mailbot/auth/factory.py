"""The token provider that ``[mailbox]`` or ``[smtp]`` asks for."""

from __future__ import annotations

import threading

from mailbot.auth.command import CommandProvider
from mailbot.auth.microsoft import MsalProvider
from mailbot.auth.tokens import TokenProvider
from mailbot.config import CommandOAuthConfig, MailboxConfig, MicrosoftOAuthConfig, SmtpConfig

__all__ = ["provider_from_config"]

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
