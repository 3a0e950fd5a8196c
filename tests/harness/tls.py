"""TLS material for the test servers: a trustme CA and a certificate for 127.0.0.1."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from harness.base import LOCALHOST


@dataclass(frozen=True)
class TlsFiles:
    """Certificate material for the TLS variant, made with trustme."""

    ca_path: Path  # PEM of the test CA: give it to ssl.create_default_context(cafile=...)
    cert_path: Path  # server certificate chain for 127.0.0.1 and localhost
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def make_tls_files(directory: Path) -> TlsFiles:
    import trustme  # imported here so a missing trustme only breaks the TLS tests

    ca = trustme.CA(organization_name="mailbot test CA")
    leaf = ca.issue_cert(LOCALHOST, "localhost")
    ca_path = directory / "ca.pem"
    cert_path = directory / "server-chain.pem"
    key_path = directory / "server-key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with cert_path.open("wb") as fh:
        for blob in leaf.cert_chain_pems:
            fh.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    return TlsFiles(ca_path=ca_path, cert_path=cert_path, key_path=key_path)
