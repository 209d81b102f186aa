"""Throwaway TLS certificates for tests: a self-signed certificate, or a test CA and a leaf.

Owns: running ``openssl`` to write certificate and key files into a directory the caller
gives. Must not: be trusted by anything but the test that made them (two days' validity).
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _subject_alt_name(host: str) -> str:
    return f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``host``, for TLS tests; returns (cert, key).

    The certificate is its own CA, so passing the cert path as ``verify`` trusts it.
    """
    cert, key = directory / "registry.crt", directory / "registry.key"
    san = _subject_alt_name(host)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
            "-addext", f"subjectAltName={san}",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def make_test_ca(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A test CA and a leaf certificate for ``host`` signed by it: ``(ca, cert, key)``.

    Trusting ``ca`` (pass it as ``verify``) is what a client with a private CA bundle does;
    the leaf itself is not a CA.
    """
    ca_cert, ca_key = directory / "test-ca.crt", directory / "test-ca.key"
    cert, key, csr = directory / "leaf.crt", directory / "leaf.key", directory / "leaf.csr"
    ext = directory / "leaf.ext"
    san = _subject_alt_name(host)
    ext.write_text(
        f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(ca_key), "-out", str(ca_cert), "-subj", "/CN=reconciler test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host}"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext)],
    ]  # fmt: skip
    for command in run:
        subprocess.run(command, check=True, capture_output=True)
    return ca_cert, cert, key
