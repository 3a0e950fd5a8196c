"""The SASL XOAUTH2 mechanism: how an access token is presented to IMAP and SMTP servers."""

from __future__ import annotations

__all__ = ["xoauth2_string"]


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (Google's and Microsoft's docs)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
