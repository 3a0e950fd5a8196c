"""SMTP delivery with smtplib; library exceptions become our transient/permanent errors."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbot.domain.errors import SendPermanentError, SendTemporaryError

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


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificates and host names verified, always; `ca_file` adds a private CA."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=tls_context(s.ca_file)
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context=tls_context(s.ca_file))
        if s.username:
            client.login(s.username, s.password or "")
        return client

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
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        try:
            refused = client.sendmail(mail_from, list(recipients), content)
        except (OSError, smtplib.SMTPException) as exc:
            raise _translate(exc) from exc
        finally:
            _quit(client)
        if refused:
            # Some recipients were accepted: the mail is out, report the others.
            log.warning("smtp: some recipients refused: %s", sorted(refused))


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _translate(exc: BaseException) -> SendTemporaryError | SendPermanentError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            return SendTemporaryError(f"recipients refused for now: {exc.recipients}")
        return SendPermanentError(f"recipients refused: {exc.recipients}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendPermanentError(f"SMTP login refused ({exc.smtp_code}): check [smtp] username")
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
    return SendTemporaryError(f"{type(exc).__name__}: {exc}")
