"""TLS for the IMAP and SMTP connections: certificates and host names always verified."""

from __future__ import annotations

import ssl
from pathlib import Path


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's CA certificates, plus `ca_file` for a municipality's private CA."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context
