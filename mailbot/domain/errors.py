"""Our own exception hierarchy. Adapters translate library exceptions into these
(`raise ... from exc`) so that the loops can decide: retry later, or give up and report."""

from __future__ import annotations


class MailbotError(Exception):
    """Base class of every error mailbot raises on purpose."""


class TransientError(MailbotError):
    """Worth trying again later: network down, server busy, 4xx SMTP reply."""


class PermanentError(MailbotError):
    """Trying again will not help: 5xx SMTP reply, refused login, malformed request."""


class MailboxUnavailableError(TransientError):
    """The IMAP server cannot be reached or dropped the connection."""


class MailboxLoginError(PermanentError):
    """The IMAP server refused our credentials."""


class SendTemporaryError(TransientError):
    """SMTP said 'not now' (4xx) or the connection failed."""


class SmtpUnavailableError(SendTemporaryError):
    """The SMTP server cannot be reached at all: no use trying the next mail right now."""


class SendPermanentError(PermanentError):
    """SMTP refused the mail for good (5xx)."""
