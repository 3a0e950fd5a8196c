"""The token provider that ``[mailbox]`` or ``[smtp]`` asks for."""

from __future__ import annotations

from mailbot.auth.command import CommandProvider
from mailbot.auth.microsoft import MsalProvider
from mailbot.auth.tokens import TokenProvider
from mailbot.config import CommandOAuthConfig, MailboxConfig, SmtpConfig

__all__ = ["provider_from_config"]


def provider_from_config(section: MailboxConfig | SmtpConfig) -> TokenProvider | None:
    """A new token provider for ``[mailbox]`` or ``[smtp]``; None for ``auth = "password"``.

    Each call builds a provider with an empty token cache: the composition root
    (:class:`mailbot.app.App`) calls this once per section, so that a token outlives one
    intake pass.
    """
    oauth = section.oauth
    if section.auth != "xoauth2" or oauth is None:
        return None
    label = "[mailbox]" if isinstance(section, MailboxConfig) else "[smtp]"
    if isinstance(oauth, CommandOAuthConfig):
        return CommandProvider(oauth.command, timeout=section.timeout, label=label)
    return MsalProvider(
        tenant=oauth.tenant,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret.reveal(),
        scope=oauth.scope,
        secret_expires=oauth.secret_expires,
        timeout=section.timeout,
        label=label,
    )
