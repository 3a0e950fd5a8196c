"""TLS for the IMAP and SMTP connections: certificates and host names always verified."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's CA certificates, plus `ca_file` for a municipality's private CA."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


# Handshake failures of a TLS client talking to a server that answers in plain text.
_PLAIN_REPLY_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG"}
)


def security_mismatch(
    error: BaseException, *, host: str, port: int, security: str, protocol: str
) -> str | None:
    """The operator's mistake behind a failed connect, if it is the wrong `security`:
    TLS spoken to a plain port, or plain text (and STARTTLS) to a TLS port. None if not."""
    if security == "tls":
        if isinstance(error, ssl.SSLError) and error.reason in _PLAIN_REPLY_REASONS:
            return f'port {port} speaks plain {protocol}: use security = "starttls"'
        return None
    if isinstance(error, ConnectionRefusedError | socket.gaierror):
        return None  # nothing listens there, or no such host: not a protocol question
    if speaks_tls(host, port):
        return f'port {port} speaks TLS: use security = "tls"'
    return None


def speaks_tls(host: str, port: int, timeout: float = 5.0) -> bool:
    """Whether the server at host:port completes a TLS handshake (certificate not checked:
    this only tells which protocol the port speaks)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False
