"""The daemon's configuration file: parsed with positions, checked against
``schemas/daemon-config.json`` (every error names its line), secrets read from the files
or environment variables it names, and frozen into one ``DaemonConfig``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from reconciler.core.errors import ConfigurationError
from reconciler.core.manifests import load_positioned
from reconciler.core.printable import escape_controls
from reconciler.core.schedule import ImportPolicy
from reconciler.core.secrets import Secret
from reconciler.core.violations import Violation, render_path
from reconciler.daemon.faults import RetryPolicy
from reconciler.files.schemas import schema_dir, strict_validator_class


class DaemonConfigError(ConfigurationError):
    """The configuration cannot be used; ``problems`` are ``file:line:col: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        # A key or value quoted in a problem may hold a line break or an escape sequence:
        # each problem stays one printable line.
        problems = [escape_controls(problem) for problem in problems]
        super().__init__("\n".join(problems), problems=tuple(problems))


@dataclass(frozen=True)
class DeliveryTarget:
    match: str
    url: str
    max_attempts: int = 20
    timeout: float = 10.0


@dataclass(frozen=True)
class DaemonConfig:
    repo_url: str
    branch: str = "main"
    pull_request_branch: str | None = None
    work_dir: Path = Path("/var/lib/imagestream-reconciler/work")
    state_dir: Path = Path("/var/lib/imagestream-reconciler/state")
    git_poll_interval: float = 15.0
    policy: ImportPolicy = field(default_factory=ImportPolicy)
    registries_conf: str | None = None
    platform: str | None = None
    concurrency: int | None = None
    timeout: float | None = None
    ca_bundle: str | None = None
    auth_file: str | None = None
    secrets_dir: str | None = None
    allowed_registries_file: str | None = None
    registry_concurrency: int | None = None
    registry_rate: float | None = None
    # Tag lists: page requests per registry per pass; how long a page is used before it is
    # asked again (None: the scheduled-import interval, imagePolicy's minimum).
    tag_list_budget: int | None = None
    tag_list_max_age: float | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    github_secret: Secret | None = None
    gitlab_token: Secret | None = None
    gitea_secret: Secret | None = None
    registry_token: Secret | None = None
    delivery: tuple[DeliveryTarget, ...] = ()
    log_format: str = "auto"
    log_level: str = "info"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease: bool = True  # replicas: lead through the lease in the repository
    lease_seconds: float = 30.0
    replica_id: str | None = None  # None: host name and state directory
    # signatures.keys: public key files by name (relative paths resolved).
    signature_keys: tuple[tuple[str, str], ...] = ()


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((schema_dir() / "daemon-config.json").read_text())
    # Patterns read as JSON Schema reads them: "0.0.0.0:8080\n" is not host:port.
    return strict_validator_class()(schema)


def _problems(error: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) pairs for one schema error; an unknown key is reported at itself."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        return [
            (
                (*path, key),
                f"unknown setting (known here: {', '.join(sorted(known))})",
            )
            for key in sorted(set(error.instance) - known)
        ]
    if error.validator == "required":
        return [(path, str(error.message).replace("is a required property", "is required"))]
    if error.validator == "pattern" and path and path[-1] == "listen":
        return [(path, f"expected host:port, got {error.instance!r}")]
    return [(path, str(error.message))]


def _read_secret(
    ref: Mapping[str, str], env: Mapping[str, str], where: str, base: Path
) -> Secret | str:
    if "secretFile" in ref:
        path = Path(ref["secretFile"])
        path = path if path.is_absolute() else base / path
        try:
            value = path.read_text().strip()
        except OSError as exc:
            return f"{where}: cannot read secretFile {path}: {exc.strerror}"
    else:
        name = ref["secretEnv"]
        if name not in env:
            return f"{where}: environment variable {name} is not set"
        value = env[name]
    if not value:
        return f"{where}: the secret is empty"
    return Secret(value)


def parse_daemon_config(text: str, file: str, env: Mapping[str, str]) -> DaemonConfig:
    loaded = load_positioned(text, file)
    if isinstance(loaded, Violation):
        raise DaemonConfigError([loaded.text()])
    data, positions = loaded
    problems: list[str] = []

    def at(path: tuple[str | int, ...]) -> str:
        while path and path not in positions:
            path = path[:-1]
        line, col = positions.get(path, (1, 1))
        return f"{file}:{line}:{col}"

    if not isinstance(data, dict):
        raise DaemonConfigError([f"{file}:1:1: the configuration must be a mapping"])
    for error in _validator().iter_errors(data):
        for path, message in _problems(error):
            problems.append(f"{at(path)}: {render_path(path) or '(top)'}: {message}")
    problems.sort(key=lambda p: [int(n) if n.isdigit() else 0 for n in p.split(":")[1:3]])
    port = str(data.get("listen", "127.0.0.1:8080")).rpartition(":")[2]
    if port.isdigit() and int(port) > 65535:
        problems.append(f"{at(('listen',))}: listen: port must be 0-65535, got {port}")
    retry = data.get("retry", {})
    if isinstance(retry, dict) and not problems:
        first, cap = retry.get("initialDelaySeconds", 1), retry.get("maxDelaySeconds", 300)
        if first > cap:
            problems.append(
                f"{at(('retry', 'maxDelaySeconds'))}: retry.maxDelaySeconds: must be at least "
                f"initialDelaySeconds ({first:g}), got {cap:g}"
            )
    if problems:
        raise DaemonConfigError(problems)

    base = Path(file).resolve().parent
    secrets: dict[str, Secret | None] = {}
    for key in ("github", "gitlab", "gitea", "registry"):
        ref = data.get("webhooks", {}).get(key)
        if ref is None:
            secrets[key] = None
            continue
        secret = _read_secret(ref, env, f"{at(('webhooks', key))}: webhooks.{key}", base)
        if isinstance(secret, str):
            problems.append(secret)
        else:
            secrets[key] = secret
    registries = dict(data.get("registries", {}))
    for key, want_dir in _REGISTRY_PATHS.items():
        if key not in registries:
            continue
        named = Path(registries[key])
        named = named if named.is_absolute() else base / named
        registries[key] = str(named)
        if want_dir and not named.is_dir():
            problems.append(
                f"{at(('registries', key))}: registries.{key}: {named} is not a directory"
            )
        elif not want_dir and not named.exists():
            problems.append(f"{at(('registries', key))}: registries.{key}: {named} does not exist")
    if problems:
        raise DaemonConfigError(problems)

    repo = data["repo"]
    policy = data.get("imagePolicy", {})
    host, _, port = data.get("listen", "127.0.0.1:8080").rpartition(":")
    state = Path(data.get("stateDir", "/var/lib/imagestream-reconciler/state"))
    work = Path(data.get("workDir", "/var/lib/imagestream-reconciler/work"))
    return DaemonConfig(
        repo_url=_local_relative_to(repo["url"], base),
        branch=repo.get("branch", "main"),
        pull_request_branch=repo.get("pullRequestBranch"),
        work_dir=work if work.is_absolute() else base / work,
        state_dir=state if state.is_absolute() else base / state,
        git_poll_interval=float(data.get("gitPollIntervalSeconds", 15)),
        policy=ImportPolicy(
            minimum_interval=float(policy.get("ScheduledImageImportMinimumIntervalSeconds", 900)),
            per_minute=int(policy.get("MaxScheduledImageImportsPerMinute", 60)),
            disabled=bool(policy.get("disableScheduledImport", False)),
            max_bulk_per_repository=int(policy.get("maxImagesBulkImportedPerRepository", 50)),
        ),
        registries_conf=registries.get("registriesConf"),
        platform=registries.get("platform"),
        concurrency=registries.get("concurrency"),
        timeout=registries.get("timeoutSeconds"),
        ca_bundle=registries.get("caBundle"),
        auth_file=registries.get("authFile"),
        secrets_dir=registries.get("secretsDir"),
        allowed_registries_file=registries.get("allowedRegistriesForImport"),
        registry_concurrency=registries.get("perRegistryConcurrency"),
        registry_rate=registries.get("perRegistryRequestsPerSecond"),
        tag_list_budget=registries.get("tagListRequestsPerPass"),
        tag_list_max_age=registries.get("tagListMaxAgeSeconds"),
        listen_host=host.strip("[]"),
        listen_port=int(port),
        github_secret=secrets["github"],
        gitlab_token=secrets["gitlab"],
        gitea_secret=secrets["gitea"],
        registry_token=secrets["registry"],
        delivery=tuple(
            DeliveryTarget(
                match=d["match"],
                url=d["url"],
                max_attempts=int(d.get("maxAttempts", 20)),
                timeout=float(d.get("timeoutSeconds", 10)),
            )
            for d in data.get("delivery", [])
        ),
        log_format=data.get("logFormat", "auto"),
        log_level=data.get("logLevel", "info"),
        retry=RetryPolicy(
            initial=float(retry.get("initialDelaySeconds", 1)),
            maximum=float(retry.get("maxDelaySeconds", 300)),
            stall=float(retry.get("stallSeconds", 900)),
            not_ready_after=int(retry.get("notReadyAfterFailures", 3)),
        ),
        lease=bool(data.get("replicas", {}).get("lease", True)),
        lease_seconds=float(data.get("replicas", {}).get("leaseSeconds", 30)),
        replica_id=data.get("replicas", {}).get("id"),
        signature_keys=tuple(
            (name, str(path if Path(path).is_absolute() else base / path))
            for name, path in sorted(data.get("signatures", {}).get("keys", {}).items())
        ),
    )


# The files (False) and directories (True) under `registries`: relative to the config
# file like every path in it, and checked here so that a wrong one names its line.
_REGISTRY_PATHS = {
    "registriesConf": False,
    "caBundle": False,
    "authFile": False,
    "secretsDir": True,
    "allowedRegistriesForImport": False,
}


def _local_relative_to(url: str, base: Path) -> str:
    """A relative local repository path is relative to the config file, like the other
    paths in it."""
    if "://" in url or re.match(r"^[^/]+:", url) or Path(url).is_absolute():
        return url
    return str(base / url)


def load_daemon_config(path: Path, env: Mapping[str, str]) -> DaemonConfig:
    """The configuration file at ``path``; DaemonConfigError, each problem
    ``file:line:col: message``, for anything wrong with it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DaemonConfigError([f"{path}:1:1: cannot read: {exc.strerror}"]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DaemonConfigError([f"{path}:{line}:1: not UTF-8 text"]) from None
    return parse_daemon_config(text, str(path), env)
