"""Throwaway TLS material for tests: a private CA and a certificate it signs for 127.0.0.1.

Made with the ``openssl`` command line (no extra Python dependency), EC P-256 keys,
valid for two days.  A client that trusts only certifi's CAs rejects the server
certificate ("unable to get local issuer certificate"); one given ``ca`` as
``SSL_CERT_FILE`` accepts it, as a corporate CA bundle would.

    tls = make_certificates(tmp_path)
    with FakeProvider(ssl_context=tls.server_context()) as fake: ...
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True, slots=True)
class Certificates:
    """Paths of the PEM files."""

    ca: Path
    """The CA certificate: what SSL_CERT_FILE points at."""
    certificate: Path
    """The server's certificate for 127.0.0.1 and localhost, signed by the CA."""
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context serving ``certificate``."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context


def openssl_available() -> bool:
    """Whether the ``openssl`` command is on PATH."""
    return shutil.which("openssl") is not None


def make_certificates(directory: Path) -> Certificates:
    """Write a CA and a server certificate for 127.0.0.1 under ``directory``;
    CalledProcessError when openssl fails."""
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, request, certificate = (
        directory / "server.key",
        directory / "server.csr",
        directory / "server.pem",
    )
    extensions = directory / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS, encoding="ascii")
    _openssl(
        "req", "-x509", *_EC, "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=judgekit test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl("req", *_EC, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1")
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", certificate, "-days", "2", "-extfile", extensions,
    )  # fmt: skip
    return Certificates(ca=ca, certificate=certificate, key=key)


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)
