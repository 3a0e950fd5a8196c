"""What a token provider is, and the token cache the providers share."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from mailbot.domain.errors import PermanentError, TransientError
from mailbot.domain.ports import Clock

__all__ = [
    "REFRESH_MARGIN",
    "UNKNOWN_LIFETIME_REUSE",
    "CachingProvider",
    "Service",
    "TokenProvider",
]

#: a cached token is replaced this long before it expires (or halfway, for short ones)
REFRESH_MARGIN: Final = timedelta(minutes=5)
#: a token printed without an expiry time is used this long, then the command runs again
UNKNOWN_LIFETIME_REUSE: Final = timedelta(minutes=5)

Service = Literal["imap", "smtp"]


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


class CachingProvider:
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


def access_token(
    provider: TokenProvider,
    where: str,
    user: str | None,
    permanent: type[Exception],
    transient: type[Exception],
) -> str:
    """A token from `provider`, or the adapter's own error saying where and for whom: the
    one place that words a token failure for IMAP and SMTP alike."""
    try:
        return provider.token()
    except PermanentError as exc:
        raise permanent(f"{where}: no OAuth2 access token for {user!r}: {exc}") from exc
    except TransientError as exc:
        raise transient(f"{where}: no OAuth2 access token for {user!r} for now: {exc}") from exc
