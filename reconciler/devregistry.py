"""A throwaway local registry, and a pusher of tiny images, for demos, tests and benchmarks.

Owns: starting and stopping a ``docker-registry`` (CNCF distribution) process on a free
loopback port with filesystem storage in a temporary directory, and pushing small but real
images to it (config blob, one gzip tar layer, a manifest; optionally one manifest per
platform under an OCI image index) over the plain distribution HTTP API.

Also, for authentication tests and demos: an htpasswd file writer (bcrypt, as the registry
requires), a throwaway test CA with a leaf certificate (``make_test_ca``), and
:class:`TokenServer`, a Docker token-auth server (JWT RS256 with an ``x5c`` chain) that a
registry started with ``auth={"token": server.registry_auth_config()}`` trusts.

Must not: be used by the reconcile pass against real registries (it serves loopback only),
or depend on docker/skopeo: the uploads are done here with httpx so tests can compare what
the resolver pins against what was pushed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from reconciler.core.platforms import Platform
from reconciler.registry.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

__all__ = [
    "LocalRegistry",
    "RegistryNotInstalled",
    "TokenServer",
    "bcrypt_hash",
    "make_self_signed_cert",
    "make_test_ca",
    "manifest_digest",
    "push_image",
    "push_tags",
    "write_htpasswd",
]

_BINARY_NAMES = ("docker-registry", "registry")
_START_TIMEOUT = 20.0


class RegistryNotInstalled(RuntimeError):
    """No registry binary on PATH."""


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``host``, for TLS tests; returns (cert, key).

    The certificate is its own CA, so passing the cert path as ``verify`` trusts it.
    """
    cert, key = directory / "registry.crt", directory / "registry.key"
    san = f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
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
    san = f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
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


def bcrypt_hash(password: str, cost: int = 5) -> str:
    """A bcrypt hash of ``password`` for an htpasswd file (the registry accepts only bcrypt).

    Uses the ``bcrypt`` package when installed, else the C library's ``crypt`` (libxcrypt
    supports ``$2b$``). The low cost keeps tests fast: the registry checks it per request.
    """
    try:
        import bcrypt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost))
        return hashed.decode("ascii")
    import ctypes
    import ctypes.util
    import secrets as _secrets

    library = ctypes.util.find_library("crypt")
    if library is None:
        raise RuntimeError("no bcrypt: pip install bcrypt (or install libcrypt)")
    libcrypt = ctypes.CDLL(library)
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    # 22 salt characters; the last carries only 2 bits, so pick one whose low bits are zero.
    salt = "".join(_secrets.choice(alphabet) for _ in range(21)) + _secrets.choice(".Oeu")
    result = libcrypt.crypt(password.encode(), f"$2b${cost:02d}${salt}".encode())
    if not result or not result.startswith(b"$2b$"):
        raise RuntimeError("the C library's crypt() does not support bcrypt: pip install bcrypt")
    return str(result.decode("ascii"))


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """An htpasswd file with bcrypt hashes for ``{user: password}``; returns ``path``."""
    path.write_text(
        "".join(f"{user}:{bcrypt_hash(password)}\n" for user, password in users.items()),
        encoding="utf-8",
    )
    return path


def _free_port() -> int:
    # The port could be taken between close() and the registry's bind; start() retries.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRegistry:
    """A ``docker-registry serve`` process on ``127.0.0.1:<free port>``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Storage, config and log
    live in a temporary directory removed on exit; :meth:`stop` then :meth:`start` restarts on
    the same storage. ``tls=(cert, key)`` serves https (see :func:`make_self_signed_cert`,
    :func:`make_test_ca`; then pass its CA as ``tls_ca``). ``auth`` is the registry's ``auth`` configuration section, e.g.
    ``{"htpasswd": {"realm": "r", "path": "..."}}`` (see :func:`write_htpasswd`) or
    ``{"token": token_server.registry_auth_config()}``. ``notifications`` is a list of webhook URLs
    the registry will POST events to. The access log is off by default because it costs
    throughput in benchmarks; pass ``access_log=True`` to debug.
    """

    def __init__(
        self,
        *,
        notifications: Sequence[str] | None = None,
        access_log: bool = False,
        binary: str | None = None,
        tls: tuple[Path, Path] | None = None,
        auth: Mapping[str, object] | None = None,
        tls_ca: Path | None = None,
        notification_token: str | None = None,
    ) -> None:
        self._notifications = list(notifications or [])
        # Sent as "Authorization: Bearer <token>" with every notification.
        self._notification_token = notification_token
        self._tls = tls
        self._tls_ca = tls_ca
        self._auth = dict(auth) if auth else None
        self._access_log = access_log
        self._binary = binary
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: io.BufferedWriter | None = None
        self.port = 0

    # -- properties --------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` when started with ``tls``)."""
        return f"{'https' if self._tls else 'http'}://{self.host}"

    @property
    def tls_certificate(self) -> Path | None:
        """The CA to trust when started with ``tls`` (pass it as ``verify``): ``tls_ca``, or
        the served certificate itself when it is self-signed."""
        if self._tls is None:
            return None
        return self._tls_ca or self._tls[0]

    @property
    def directory(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("registry not started")
        return Path(self._tmp.name)

    @property
    def log_path(self) -> Path:
        return self.directory / "registry.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalRegistry:
        """Start the process; after :meth:`stop`, restart on the same storage (and port if free)."""
        if self._process is not None:
            raise RuntimeError("registry already started")
        binary = self._binary or next(
            (found for name in _BINARY_NAMES if (found := shutil.which(name))), None
        )
        if binary is None:
            raise RegistryNotInstalled(
                "no docker-registry binary on PATH; install it with apt-get install docker-registry"
            )
        restart = self._tmp is not None
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="devregistry-")
        last_error = ""
        for attempt in range(3):
            # A restart keeps its port when it can, so references pushed earlier stay valid.
            if not (restart and attempt == 0 and self.port):
                self.port = _free_port()
            config = self.directory / "config.yml"
            config.write_text(self._config_yaml(), encoding="utf-8")
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                self._wait_ready()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self._stop_process()
        if not restart:
            self._cleanup_dir()
        raise RuntimeError(f"docker-registry did not start: {last_error}")

    def _config_yaml(self) -> str:
        storage = self.directory / "storage"
        # JSON is valid YAML and needs no YAML library; json.dumps quotes paths safely.
        config: dict[str, object] = {
            "version": 0.1,
            "log": {
                "level": "warn",
                "accesslog": {"disabled": not self._access_log},
                "fields": {"service": "devregistry"},
            },
            "storage": {
                "filesystem": {"rootdirectory": str(storage)},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if self._tls is not None:
            http = config["http"]
            assert isinstance(http, dict)
            http["tls"] = {"certificate": str(self._tls[0]), "key": str(self._tls[1])}
        if self._auth is not None:
            config["auth"] = self._auth
        if self._notifications:
            config["notifications"] = {
                "endpoints": [
                    {
                        "name": f"endpoint{i}",
                        "url": url,
                        "timeout": "1s",
                        "threshold": 10,
                        "backoff": "200ms",
                        # A reconciler's own HEADs would otherwise flood the queue.
                        "ignore": {"actions": ["pull"]},
                        **(
                            {"headers": {"Authorization": [f"Bearer {self._notification_token}"]}}
                            if self._notification_token
                            else {}
                        ),
                    }
                    for i, url in enumerate(self._notifications)
                ]
            }
        return json.dumps(config, indent=2) + "\n"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        verify: bool | ssl.SSLContext = True
        if self._tls is not None:
            verify = ssl.create_default_context(cafile=str(self.tls_certificate))
        with httpx.Client(timeout=1.0, verify=verify) as client:
            while True:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"registry exited early; log: {self._log_tail()}")
                try:
                    # 401: up, and asking for the credentials it was configured with.
                    if client.get(f"{self.url}/v2/").status_code in (200, 401):
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"registry not ready after {_START_TIMEOUT}s; log: {self._log_tail()}"
                    )
                time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the process (terminate, wait, kill); the storage directory stays until exit."""
        self._stop_process()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _cleanup_dir(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def close(self) -> None:
        self._stop_process()
        self._cleanup_dir()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- pushing -----------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _layer(seed: str) -> tuple[bytes, str]:
    """A deterministic gzip tar with one file; returns (compressed bytes, diff_id)."""
    content = f"seed={seed}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("seed.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    # mtime=0 keeps the gzip header, hence the layer digest, a function of the seed only.
    compressed = gzip.compress(uncompressed, mtime=0)
    return compressed, _sha256(uncompressed)


def _config(
    platform: Platform,
    diff_id: str,
    exposed_ports: Sequence[str] | None,
    labels: Mapping[str, str] | None,
) -> bytes:
    image_config: dict[str, object] = {"Env": ["PATH=/usr/bin:/bin"]}
    if exposed_ports:
        image_config["ExposedPorts"] = {port: {} for port in exposed_ports}
    if labels:
        image_config["Labels"] = dict(labels)
    document: dict[str, object] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "reconciler.devregistry"}],
    }
    if platform.variant:
        document["variant"] = platform.variant
    return _canonical(document)


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    return response


def _upload_blob(client: httpx.Client, base: str, repository: str, data: bytes) -> str:
    digest = _sha256(data)
    if client.head(f"{base}/v2/{repository}/blobs/{digest}").status_code == 200:
        return digest
    started = _check(
        client.post(f"{base}/v2/{repository}/blobs/uploads/"), f"start upload to {repository}"
    )
    location = httpx.URL(base).join(started.headers["location"])
    finished = client.put(
        location.copy_merge_params({"digest": digest}),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check(finished, f"upload blob {digest} to {repository}")
    return digest


def _put_manifest(
    client: httpx.Client, base: str, repository: str, reference: str, body: bytes, media_type: str
) -> str:
    response = _check(
        client.put(
            f"{base}/v2/{repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        ),
        f"put manifest {repository}:{reference}",
    )
    reported: str | None = response.headers.get("docker-content-digest")
    expected = _sha256(body)
    if reported != expected:
        raise RuntimeError(
            f"registry reported digest {reported} for {repository}:{reference}, "
            f"but the bytes sent hash to {expected}"
        )
    return expected


def _types(media_type: str) -> tuple[str, str, str, str]:
    """(manifest, config, layer, index) media types for one manifest flavour."""
    if media_type == OCI_MANIFEST:
        return OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP, OCI_INDEX
    if media_type == DOCKER_MANIFEST_V2:
        return DOCKER_MANIFEST_V2, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_LIST
    raise ValueError(f"media_type must be {OCI_MANIFEST} or {DOCKER_MANIFEST_V2}")


def _image_parts(
    *,
    seed: str,
    platform: Platform,
    media_type: str,
    exposed_ports: Sequence[str] | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None = None,
) -> tuple[list[bytes], bytes]:
    """The blobs (config, layer) and the manifest bytes of one single-platform image."""
    manifest_type, config_type, layer_type, _ = _types(media_type)
    layer, diff_id = _layer(seed)
    config = _config(platform, diff_id, exposed_ports, labels)
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": _sha256(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": _sha256(layer), "size": len(layer)}],
    }
    if annotations and manifest_type == OCI_MANIFEST:
        document["annotations"] = dict(annotations)
    return [config, layer], _canonical(document)


def push_image(
    registry_url: str,
    repository: str,
    tag: str,
    *,
    seed: str,
    media_type: str = OCI_MANIFEST,
    platforms: Sequence[Platform] | None = None,
    exposed_ports: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> str:
    """Push a tiny image as ``repository:tag``; return the manifest (or index) digest.

    Same ``seed`` gives the same digest, a different seed a different one. With
    ``platforms``, one manifest per platform is pushed by digest and an index (OCI image index
    for OCI manifests, Docker manifest list for schema 2) is put on the tag. The digest
    returned is the one the registry reported, checked against sha256 of the bytes sent.
    """
    manifest_type, _, _, index_type = _types(media_type)
    own = client is None
    http = client or httpx.Client(timeout=30.0)
    try:
        if not platforms:
            blobs, body = _image_parts(
                seed=seed,
                platform=Platform(),
                media_type=media_type,
                exposed_ports=exposed_ports,
                labels=labels,
            )
            for blob in blobs:
                _upload_blob(http, registry_url, repository, blob)
            return _put_manifest(http, registry_url, repository, tag, body, manifest_type)
        entries: list[dict[str, object]] = []
        for platform in platforms:
            # Each platform gets its own content, so each child has its own digest.
            blobs, body = _image_parts(
                seed=f"{seed}/{platform}",
                platform=platform,
                media_type=media_type,
                exposed_ports=exposed_ports,
                labels=labels,
            )
            for blob in blobs:
                _upload_blob(http, registry_url, repository, blob)
            child = _put_manifest(
                http, registry_url, repository, _sha256(body), body, manifest_type
            )
            platform_doc: dict[str, str] = {
                "architecture": platform.architecture,
                "os": platform.os,
            }
            if platform.variant:
                platform_doc["variant"] = platform.variant
            entries.append(
                {
                    "mediaType": manifest_type,
                    "digest": child,
                    "size": len(body),
                    "platform": platform_doc,
                }
            )
        index = _canonical({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
        return _put_manifest(http, registry_url, repository, tag, index, index_type)
    finally:
        if own:
            http.close()


def push_tags(
    registry_url: str,
    repository: str,
    tags: Iterable[str],
    seed_prefix: str,
    *,
    max_workers: int = 8,
) -> dict[str, str]:
    """Push many tags fast: the blobs once, then one small distinct OCI manifest per tag.

    Each tag's manifest carries an annotation naming ``seed_prefix`` and the tag, so every tag
    has its own digest. Returns ``{tag: digest}``.
    """
    tag_list = list(tags)
    limits = httpx.Limits(max_connections=max_workers, max_keepalive_connections=max_workers)
    with httpx.Client(timeout=30.0, limits=limits) as client:

        def parts(tag: str) -> tuple[list[bytes], bytes]:
            return _image_parts(
                seed=seed_prefix,
                platform=Platform(),
                media_type=OCI_MANIFEST,
                exposed_ports=None,
                labels=None,
                annotations={"org.example.seed": f"{seed_prefix}/{tag}"},
            )

        if tag_list:
            # The annotation does not touch the blobs: the first tag's blobs serve every tag.
            for blob in parts(tag_list[0])[0]:
                _upload_blob(client, registry_url, repository, blob)

        def push(tag: str) -> tuple[str, str]:
            body = parts(tag)[1]
            return tag, _put_manifest(client, registry_url, repository, tag, body, OCI_MANIFEST)

        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            return dict(pool.map(push, tag_list))


def manifest_digest(
    registry_url: str, repository: str, reference: str, *, accept: str = MANIFEST_ACCEPT
) -> str:
    """The ``Docker-Content-Digest`` the registry reports for a HEAD with ``accept``."""
    with httpx.Client(timeout=10.0) as client:
        response = _check(
            client.head(
                f"{registry_url}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
            ),
            f"head manifest {repository}:{reference}",
        )
        digest: str | None = response.headers.get("docker-content-digest")
        if not digest:
            raise RuntimeError(f"no Docker-Content-Digest for {repository}:{reference}")
        return digest


# -- token server ---------------------------------------------------------------------------


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
