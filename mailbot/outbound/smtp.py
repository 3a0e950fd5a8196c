"""SMTP delivery with smtplib; library exceptions become our transient/permanent errors."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

from mailbot.auth.tokens import access_token
from mailbot.auth.xoauth2 import xoauth2_string
from mailbot.domain.errors import (
    SendPermanentError,
    SendTemporaryError,
    SmtpUnavailableError,
)
from mailbot.tls import security_mismatch, tls_context

if TYPE_CHECKING:
    from mailbot.auth.tokens import TokenProvider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # tls | starttls | plain
    username: str | None
    password: str | None
    timeout: float
    ca_file: Path | None = None
    # AUTH XOAUTH2 as username with this provider's access tokens; None: password (if any).
    token_provider: TokenProvider | None = None


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: smtplib.SMTP | None = None  # kept open for the rest of a pass
        self._keep = False
        self._smtputf8: bool | None = None  # offered by the server; None: not asked yet

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        # The token first: a provider that fails leaves no connection behind.
        token = self._oauth_token() if s.token_provider is not None else None
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=tls_context(s.ca_file)
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            mismatch = security_mismatch(
                exc, host=s.host, port=s.port, security=s.security, protocol="SMTP"
            )
            if mismatch:  # the config, not the mail: it stays queued until ops fix it
                raise SendTemporaryError(f"SMTP {s.host}:{s.port}: {mismatch}") from exc
            raise
        if s.security == "starttls":
            client.starttls(context=tls_context(s.ca_file))
        if token is not None:
            done = False
            try:
                self._xoauth2(client, token)
                done = True
            finally:
                if not done:
                    _quit(client)
        elif s.username:
            client.login(s.username, s.password or "")
        return client

    # -- OAuth2 ------------------------------------------------------------------------------

    def _oauth_token(self) -> str:
        s = self._settings
        assert s.token_provider is not None
        # Temporary for the outbox either way: the mail is fine, the credentials are not;
        # once ops fixed them, the queued receipts must still go out.
        where = f"SMTP {s.host}:{s.port}"
        return access_token(
            s.token_provider, where, s.username, SendTemporaryError, SendTemporaryError
        )

    def _xoauth2(self, client: smtplib.SMTP, token: str) -> None:
        """AUTH XOAUTH2; once more with a new token when a cached one is refused."""
        s = self._settings
        provider = s.token_provider
        assert provider is not None
        user = s.username or ""
        client.ehlo_or_helo_if_needed()
        offered = client.esmtp_features.get("auth", "").upper().split()
        if "XOAUTH2" not in offered:
            raise SendPermanentError(
                f"SMTP {s.host}:{s.port} does not offer AUTH XOAUTH2 (it offers "
                f'{" ".join(offered) or "no AUTH at all"}); [smtp] auth = "xoauth2" needs a '
                "server that takes OAuth2 access tokens"
            )
        try:
            client.auth("XOAUTH2", _XOAuth2Responder(user, token), initial_response_ok=True)
            return
        except smtplib.SMTPAuthenticationError as exc:
            refused = exc
        if 400 <= refused.smtp_code < 500:
            raise SendTemporaryError(f"SMTP AUTH XOAUTH2: {_reply_text(refused)}") from refused
        provider.invalidate()  # revoked or expired early: try once with a new token
        fresh = self._oauth_token()
        if fresh != token:
            try:
                client.auth("XOAUTH2", _XOAuth2Responder(user, fresh), initial_response_ok=True)
                return
            except smtplib.SMTPAuthenticationError as exc:
                refused = exc
                provider.invalidate()
        raise SendTemporaryError(  # credentials, not the mail: keep it queued (see above)
            f"SMTP {s.host}:{s.port}: the OAuth2 access token was refused for {user!r} "
            f"({_reply_text(refused)}): {provider.refused_hint('smtp', user)}"
        ) from refused

    def check(self) -> str:
        """Connect (and log in); return the server's greeting name."""
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        try:
            client.noop()
            return str(client.ehlo_resp or b"", "utf-8", "replace").split("\n")[0]
        finally:
            _quit(client)

    def send(self, mail_from: str, recipients: Sequence[str], content: bytes) -> None:
        """Deliver one mail and return right after the server's 250. Within `kept_open()`
        the connection stays open for the next mail (the caller records this one first)."""
        reused = self._client is not None
        try:
            client = self._client or self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        self._client = client
        try:
            options = self._options(client, mail_from, recipients)
            refused = client.sendmail(mail_from, list(recipients), content, mail_options=options)
        except SendPermanentError:
            if not self._keep:
                self.close()
            raise
        except smtplib.SMTPServerDisconnected as exc:
            self._client = None
            if not reused:
                raise _translate(exc) from exc
            # The server closed an idle connection before MAIL FROM: once more, anew.
            self.send(mail_from, recipients, content)
            return
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _translate(exc) from exc
        if not self._keep:
            self.close()
        if refused:
            # Some recipients were accepted: the mail is out, report the others.
            # The mail is out to the others; addresses are personal data: DEBUG only.
            log.warning("smtp: %s of %s recipients refused", len(refused), len(recipients))
            log.debug("smtp: refused recipients: %s", sorted(refused))

    def offers_smtputf8(self) -> bool:
        """Whether the server offers SMTPUTF8 (RFC 6531), which mail to an internationalised
        address (RFC 6532) needs. Asked once (EHLO) and remembered; raises
        SendTemporaryError when the server cannot be asked now."""
        if self._smtputf8 is not None:
            return self._smtputf8
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        try:
            client.ehlo_or_helo_if_needed()
            offered = self._smtputf8 = client.has_extn("smtputf8")
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        finally:
            _quit(client)
        return offered

    def _options(
        self, client: smtplib.SMTP, mail_from: str, recipients: Sequence[str]
    ) -> list[str]:
        """MAIL FROM parameters: SMTPUTF8 for an internationalised address (RFC 6531 §3.4),
        with BODY=8BITMIME, which RFC 6531 §3.1 requires beside it."""
        if all(a.isascii() for a in (mail_from, *recipients)):
            return []
        client.ehlo_or_helo_if_needed()
        self._smtputf8 = client.has_extn("smtputf8")
        if not self._smtputf8:
            s = self._settings
            raise SendPermanentError(
                f"SMTP {s.host}:{s.port} does not offer SMTPUTF8 (RFC 6531), which mail to an "
                "internationalised address (RFC 6532) needs"
            )
        return ["SMTPUTF8", "BODY=8BITMIME"] if client.has_extn("8bitmime") else ["SMTPUTF8"]

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """One connection for every `send` inside: a delivery pass."""
        self._keep = True
        try:
            yield
        finally:
            self._keep = False
            self.close()

    def close(self) -> None:
        """QUIT the connection the last `send` left open, if any."""
        client, self._client = self._client, None
        if client is not None:
            _quit(client)


_ADDRESS = re.compile(rb"<?[^\s<>@]+@[^\s<>]+>?")


def _without_addresses(reply: bytes) -> str:
    return _ADDRESS.sub(b"<...>", reply).decode("utf-8", "replace").strip()


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _translate(exc: BaseException) -> SendTemporaryError | SendPermanentError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        # Addresses are personal data: the reason names codes and texts, not who.
        replies = "; ".join(
            f"{code} {_without_addresses(msg)}" for code, msg in exc.recipients.values()
        )
        if codes and all(400 <= c < 500 for c in codes):
            return SendTemporaryError(f"recipients refused for now: {replies}")
        return SendPermanentError(f"recipients refused: {replies}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Credentials, not the mail: keep it queued until ops fixed the login.
        return SendTemporaryError(
            f"SMTP login refused ({exc.smtp_code}): check [smtp] username and password"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        if 400 <= exc.smtp_code < 500:
            return SendTemporaryError(f"{exc.smtp_code} {text}")
        return SendPermanentError(f"{exc.smtp_code} {text}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendPermanentError(f"TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, OSError | smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return SmtpUnavailableError(f"{type(exc).__name__}: {exc}")
    return SendTemporaryError(f"{type(exc).__name__}: {exc}")


class _XOAuth2Responder:
    """smtplib's authobject for AUTH XOAUTH2 (sent as the initial response)."""

    def __init__(self, user: str, token: str) -> None:
        self._user = user
        self._token = token

    @overload
    def __call__(self, challenge: None = None, /) -> str | None: ...

    @overload
    def __call__(self, challenge: bytes, /) -> str: ...

    def __call__(self, challenge: bytes | None = None, /) -> str | None:
        # First the initial response. A 334 challenge after it carries the server's JSON
        # error; the client answers it with an empty line, and the server then says 535.
        return xoauth2_string(self._user, self._token) if challenge is None else ""


def _reply_text(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {text}"
