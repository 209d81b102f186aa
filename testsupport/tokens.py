"""A Docker token-auth server for tests and demos, that a ``LocalRegistry`` can trust.

Owns: :class:`TokenServer`, an http.server on a loopback port that checks Basic credentials
(or a refresh token) and issues JWTs signed RS256 with an ``x5c`` chain, and the registry
``auth.token`` configuration section that points a registry at it.

Must not: be more than the protocol needs for tests: users, passwords and identity tokens
are plain dictionaries, and the signing key lives only in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """A Docker token-auth server on ``127.0.0.1:<free port>`` for tests and demos.

    ``GET /token?service=...&scope=repository:NAME:pull`` with Basic credentials from
    ``users`` answers ``{"token", "access_token", "expires_in", "issued_at"}``: a JWT signed
    RS256 whose ``x5c`` header carries a self-signed signing certificate, which
    :meth:`registry_auth_config` hands to the registry as ``rootcertbundle``. Wrong
    credentials get a 401; anonymous requests get a token with no access (as Docker Hub
    does for a private repository) unless ``anonymous_pull``. ``POST /token`` with
    ``grant_type=refresh_token`` accepts the ``identity_tokens`` (``{token: user}``).

    Every request is recorded in :attr:`requests` as ``(user or None, scope, grant)``.
    Needs the ``cryptography`` package (imported when started).
    """

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str],
        *,
        service: str = "reconciler-test-registry",
        issuer: str = "reconciler-test-token-issuer",
        expires_in: int = 300,
        anonymous_pull: bool = False,
        identity_tokens: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.directory = directory
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.anonymous_pull = anonymous_pull
        self.identity_tokens = dict(identity_tokens or {})
        self._tls = tls
        self.requests: list[tuple[str | None, str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._key: Any = None
        self._cert_der = b""
        self.signing_certificate = directory / "token-signer.crt"

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("token server not started")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def registry_auth_config(self) -> dict[str, object]:
        """The registry's ``auth.token`` section for this server."""
        return {
            "realm": f"{self.url}/token",
            "service": self.service,
            "issuer": self.issuer,
            "rootcertbundle": str(self.signing_certificate),
        }

    def start(self) -> TokenServer:
        self._make_signing_key()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        server.daemon_threads = True
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self._tls[0]), str(self._tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _make_signing_key(self) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reconciler test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        self._key = key
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.signing_certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, user: str | None, scopes: Sequence[str]) -> str:
        """A signed token for ``user`` granting what ``scopes`` ask (``None``: anonymous)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a]
            if user is None:
                granted = ["pull"] if self.anonymous_pull and "pull" in granted else []
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 30,
            "iat": now,
            "jti": hashlib.sha256(os.urandom(16)).hexdigest()[:24],
            "access": access,
        }
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self._cert_der).decode("ascii")],
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _record(self, user: str | None, scope: str, grant: str) -> None:
        with self._lock:
            self.requests.append((user, scope, grant))


def _token_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: tests read server.requests instead

        def _answer(self, status: int, payload: Mapping[str, object]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.end_headers()
            self.wfile.write(body)

        def _token(self, user: str | None, scopes: list[str], grant: str) -> None:
            for scope in scopes or [""]:
                server._record(user, scope, grant)
            token = server.issue(user, scopes)
            self._answer(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": server.expires_in,
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
            )

        def do_GET(self) -> None:
            url = httpx.URL(self.path)
            if url.path != "/token":
                self._answer(404, {"error": "not found"})
                return
            scopes = url.params.get_list("scope")
            header = self.headers.get("Authorization", "")
            user: str | None = None
            if header:
                scheme, _, value = header.partition(" ")
                try:
                    name, _, password = base64.b64decode(value).decode().partition(":")
                except ValueError:
                    name, password = "", ""
                if scheme.lower() != "basic" or server.users.get(name) != password or not name:
                    server._record(name or "?", ",".join(scopes), "rejected")
                    self._answer(401, {"details": "incorrect username or password"})
                    return
                user = name
            self._token(user, scopes, "basic" if user else "anonymous")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = httpx.QueryParams(self.rfile.read(length).decode())
            if httpx.URL(self.path).path != "/token" or form.get("grant_type") != "refresh_token":
                self._answer(400, {"error": "unsupported_grant_type"})
                return
            user = server.identity_tokens.get(form.get("refresh_token") or "")
            scopes = (form.get("scope") or "").split(" ") if form.get("scope") else []
            if user is None:
                server._record("?", ",".join(scopes), "rejected")
                self._answer(401, {"error": "invalid_grant"})
                return
            self._token(user, scopes, "refresh_token")

    return Handler
