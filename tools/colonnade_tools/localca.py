"""Certificates for TLS tests and the rehearsal: a throwaway CA (trustme) and server certificates.

Servers (memcached, PostgreSQL, the configuration-endpoint stand-in) read PEM files, and so
do clients (``CACHE_TLS_CA_FILE``, ``sslrootcert``), so everything is written to disk.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServerCert:
    """A server certificate chain and its key, issued for ``names`` by the CA in ``ca``."""

    cert: Path
    key: Path
    ca: Path
    names: tuple[str, ...]


class LocalCA:
    """A throwaway certificate authority; issues server certificates.

    The files are world-readable: servers started as root (memcached, PostgreSQL) read them
    after dropping to an unprivileged user, and containers read the CA as uid 10001.
    """

    def __init__(self, directory: Path, label: str) -> None:
        self._ca = trustme.CA(organization_name=f"Colonnade test CA {label}")
        self._directory = directory
        self._label = label
        self.cert = directory / f"{label}-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.cert))
        self.cert.chmod(0o644)
        self._issued = 0

    def issue(self, *names: str) -> ServerCert:
        """A certificate valid for ``names`` (host names or IP addresses)."""
        self._issued += 1
        leaf = self._ca.issue_cert(*names)
        stem = self._directory / f"{self._label}-server{self._issued}"
        cert, key = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        for path in (cert, key):
            path.chmod(0o644)
        return ServerCert(cert, key, self.cert, names)

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this CA only (for tests' own checks on TLS servers)."""
        return ssl.create_default_context(cafile=str(self.cert))
