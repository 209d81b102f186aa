"""A throwaway local registry, and a pusher of tiny images, for demos, tests and benchmarks.

Owns: starting and stopping a ``docker-registry`` (CNCF distribution) process on a free
loopback port with filesystem storage in a temporary directory, and pushing small but real
images to it (config blob, one gzip tar layer, a manifest; optionally one manifest per
platform under an OCI image index) over the plain distribution HTTP API.

Must not: be used by the reconcile pass against real registries (it speaks plain http to
loopback only), authenticate, or depend on docker/skopeo: the uploads are done here with httpx
so tests can compare what the resolver pins against what was pushed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import httpx

from reconciler.registry.client import Platform
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
    "make_self_signed_cert",
    "manifest_digest",
    "push_image",
    "push_tags",
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
    the same storage. ``tls=(cert, key)`` serves https (see :func:`make_self_signed_cert`). ``notifications`` is a list of webhook URLs
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
    ) -> None:
        self._notifications = list(notifications or [])
        self._tls = tls
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
        """The certificate served when started with ``tls`` (pass it as ``verify``)."""
        return self._tls[0] if self._tls else None

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
        if self._notifications:
            config["notifications"] = {
                "endpoints": [
                    {
                        "name": f"endpoint{i}",
                        "url": url,
                        "timeout": "1s",
                        "threshold": 3,
                        "backoff": "1s",
                    }
                    for i, url in enumerate(self._notifications)
                ]
            }
        return json.dumps(config, indent=2) + "\n"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        verify: bool | ssl.SSLContext = True
        if self._tls is not None:
            verify = ssl.create_default_context(cafile=str(self._tls[0]))
        with httpx.Client(timeout=1.0, verify=verify) as client:
            while True:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"registry exited early; log: {self._log_tail()}")
                try:
                    if client.get(f"{self.url}/v2/").status_code == 200:
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
