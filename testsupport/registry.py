"""A throwaway ``docker-registry`` (CNCF distribution) process, for tests, demos and benchmarks.

Owns: finding the registry binary, writing its configuration (filesystem storage in a
temporary directory, optional TLS, ``auth`` section and notification endpoints), starting it
on a free loopback port, waiting until it answers, and stopping or restarting it on the same
storage.

Must not: push content (see ``testsupport.images``) or make credentials and certificates
(``testsupport.htpasswd``, ``testsupport.tokens``, ``testsupport.certs``); it only takes
their paths and configuration sections.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

_BINARY_NAMES = ("docker-registry", "registry")
_START_TIMEOUT = 20.0


class RegistryNotInstalled(RuntimeError):
    """No registry binary on PATH."""


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
    the same storage. ``tls=(cert, key)`` serves https (see ``testsupport.certs``; with a
    test CA, pass its certificate as ``tls_ca``). ``auth`` is the registry's ``auth``
    configuration section, e.g. ``{"htpasswd": {"realm": "r", "path": "..."}}`` (see
    ``testsupport.htpasswd``) or ``{"token": token_server.registry_auth_config()}`` (see
    ``testsupport.tokens``). ``notifications`` is a list of webhook URLs the registry will
    POST events to. The access log is off by default because it costs throughput in
    benchmarks; pass ``access_log=True`` to debug.
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
            self._tmp = tempfile.TemporaryDirectory(prefix="testsupport-registry-")
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
                "fields": {"service": "testsupport-registry"},
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
