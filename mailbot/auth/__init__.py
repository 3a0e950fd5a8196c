"""OAuth2 access tokens for IMAP and SMTP (SASL XOAUTH2), e.g. for Microsoft 365.

Exchange Online no longer accepts passwords over IMAP. Instead mailbot logs in with an
OAuth2 access token, sent with the XOAUTH2 mechanism (:mod:`mailbot.auth.xoauth2`). A
:class:`~mailbot.auth.tokens.TokenProvider` hands out the tokens:

- :class:`~mailbot.auth.microsoft.MsalProvider`: the client-credentials flow of an Azure app
  registration (MSAL), for ``oauth_provider = "microsoft"``; its errors are translated by
  :mod:`mailbot.auth.msal_errors`;
- :class:`~mailbot.auth.command.CommandProvider`: a program that prints a token, for
  ``oauth_provider = "command"`` (any other identity provider, or a token broker the
  operators already run).

Both cache the token until :data:`~mailbot.auth.tokens.REFRESH_MARGIN` before it expires and
are thread-safe. :func:`~mailbot.auth.factory.provider_from_config` builds the provider for
``[mailbox]`` or ``[smtp]``; the composition root (:mod:`mailbot.app`) does so once, so that a
token outlives one intake pass. :mod:`mailbot.auth.expiry` says when the Azure client secret
needs renewing. Errors are mailbot's own: :class:`~mailbot.domain.errors.PermanentError` when
trying again will not help (a wrong or expired client secret),
:class:`~mailbot.domain.errors.TransientError` otherwise. Tokens and client secrets never
appear in logs, errors or reprs.
"""
