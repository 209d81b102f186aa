"""Registry credentials from where the container ecosystem already keeps them.

Owns: reading Docker ``config.json`` (``auths``, ``credHelpers``, ``credsStore``), containers
``auth.json`` (same format) and Kubernetes ``kubernetes.io/dockerconfigjson`` /
``kubernetes.io/dockercfg`` secrets kept in a directory outside the repo; running credential
helpers over the ``docker-credential-<name> get`` protocol; and answering "which credential
for ``registry/repository``?" with the most specific key first (``host/ns/repo``, ``host/ns``,
``host``), keys normalised (``https://index.docker.io/v1/`` is ``docker.io``).

Must not: read anything from the Git repository, log or put into an error message any
password or token (they are :class:`~reconciler.core.secrets.Secret` from the moment they are
parsed), or decide where a credential is sent (the client sends it only to the registry it is
for, or to that registry's token realm).

Precedence (documented for operators): the pull secrets named for the request (the
equivalent of ``oc secrets link``), in the order given, then the auth files in the order of
:func:`default_auth_files`. The most specific key wins across all of them; between equally
specific keys, the earlier source wins. Credential helpers are asked (per host) only when
no inline entry matched: ``credHelpers[host]`` first, then ``credsStore``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import ConfigurationError
from reconciler.core.secrets import Secret

__all__ = [
    "AuthConfig",
    "Credential",
    "CredentialStore",
    "CredentialsError",
    "default_auth_files",
    "load_credential_store",
    "load_secrets_dir",
    "lookup_keys",
    "normalise_key",
    "parse_auth_config",
    "parse_kubernetes_secret",
]

_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# What the docker CLI stores Docker Hub logins under; helpers are asked with this URL.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
_HELPER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HELPER_NOT_FOUND = "credentials not found"
_HELPER_CACHE_SECONDS = 300.0
_MAX_FILE_BYTES = 4 * 1024 * 1024
DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"


class CredentialsError(ConfigurationError):
    """A credential source cannot be used (the operator must fix it); the message names the
    source, never a secret."""


@dataclass(frozen=True, repr=False)
class Credential:
    """A username and password (or an identity token) for one registry key.

    ``source`` says where it came from (``/root/.docker/config.json auths["quay.io"]``) and is
    safe to show; ``password`` and ``identity_token`` are :class:`Secret`.
    """

    username: str
    password: Secret
    source: str = ""
    identity_token: Secret | None = None

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, source={self.source!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class AuthConfig:
    """One parsed ``config.json`` / ``auth.json`` / pull secret.

    ``auths`` maps a normalised key to its credential; ``helpers`` maps a normalised host to
    a credential helper name; ``store`` is the default helper (``credsStore``).
    """

    source: str
    auths: Mapping[str, Credential] = field(default_factory=dict)
    helpers: Mapping[str, str] = field(default_factory=dict)
    store: str | None = None


def normalise_key(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``Quay.IO/ns/`` -> ``quay.io/ns``."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.rstrip("/")
    host, _, path = text.partition("/")
    host = host.lower()
    if host in _DOCKER_HUB_ALIASES:
        host = "docker.io"
        # Docker Hub's legacy login keys end in /v1 (or /v2): that is the API, not a namespace.
    if path in ("v1", "v2"):
        path = ""
    return f"{host}/{path}" if path else host


def lookup_keys(registry: str, repository: str | None) -> list[str]:
    """Keys to try for ``registry/repository``, most specific first."""
    host = normalise_key(registry)
    keys: list[str] = []
    if repository:
        parts = repository.split("/")
        keys.extend(f"{host}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1))
    keys.append(host)
    return keys


# -- parsing -----------------------------------------------------------------------------


def _entry_credential(entry: object, source: str, key: str) -> Credential | None:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{source}: auths[{key!r}] is not an object")
    where = f"{source} auths[{key!r}]"
    identity = entry.get("identitytoken")
    identity_token = Secret(identity) if isinstance(identity, str) and identity else None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"{where}: 'auth' is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CredentialsError(f"{where}: 'auth' is not base64 of user:password")
        return Credential(username, Secret(password), where, identity_token)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and (user or secret):
        return Credential(user, Secret(secret), where, identity_token)
    if identity_token is not None:
        return Credential("", Secret(""), where, identity_token)
    return None  # an empty placeholder, as docker writes when credsStore holds the secret


def parse_auth_config(document: object, source: str, *, legacy: bool = False) -> AuthConfig:
    """Parse a decoded config.json / auth.json; ``legacy`` for the old ``.dockercfg`` shape
    (the ``auths`` map at the top level)."""
    if not isinstance(document, dict):
        raise CredentialsError(f"{source}: not a JSON object")
    auths_raw = document if legacy else document.get("auths", {})
    if not isinstance(auths_raw, dict):
        raise CredentialsError(f"{source}: 'auths' is not an object")
    auths: dict[str, Credential] = {}
    for key, entry in auths_raw.items():
        credential = _entry_credential(entry, source, str(key))
        normalised = normalise_key(str(key))
        if credential is not None and normalised not in auths:
            auths[normalised] = credential
    helpers_raw = {} if legacy else document.get("credHelpers", {})
    if not isinstance(helpers_raw, dict):
        raise CredentialsError(f"{source}: 'credHelpers' is not an object")
    helpers: dict[str, str] = {}
    for key, name in helpers_raw.items():
        helpers[normalise_key(str(key))] = _helper_name(name, source)
    store_raw = None if legacy else document.get("credsStore")
    store = _helper_name(store_raw, source) if store_raw else None
    return AuthConfig(source=source, auths=auths, helpers=helpers, store=store)


def _helper_name(name: object, source: str) -> str:
    # The name becomes part of an executable name: no paths, no options.
    if not isinstance(name, str) or not _HELPER_NAME_RE.fullmatch(name):
        raise CredentialsError(f"{source}: invalid credential helper name {name!r}")
    return name


def parse_auth_file_text(text: str, source: str) -> AuthConfig:
    try:
        document = json.loads(text)
    except ValueError as exc:
        # The position is safe to show; the text around it might be a password.
        raise CredentialsError(f"{source}: not valid JSON (line {_line_of(exc)})") from None
    legacy = Path(source).name == ".dockercfg"
    return parse_auth_config(document, source, legacy=legacy)


def _line_of(exc: ValueError) -> object:
    return getattr(exc, "lineno", "?")


def parse_kubernetes_secret(document: object, source: str) -> tuple[str, AuthConfig] | None:
    """A ``Secret`` of type dockerconfigjson / dockercfg as ``(name, config)``; ``None`` for
    any other object (other secrets in the directory are ignored)."""
    if not isinstance(document, dict) or document.get("kind") != "Secret":
        return None
    secret_type = document.get("type")
    if secret_type not in (DOCKERCONFIGJSON, DOCKERCFG):
        return None
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise CredentialsError(f"{source}: pull secret without metadata.name")
    field_name = ".dockerconfigjson" if secret_type == DOCKERCONFIGJSON else ".dockercfg"
    where = f"{source} (secret {name})"
    raw: str | None = None
    data, string_data = document.get("data"), document.get("stringData")
    if isinstance(string_data, dict) and isinstance(string_data.get(field_name), str):
        raw = string_data[field_name]
    elif isinstance(data, dict) and isinstance(data.get(field_name), str):
        try:
            raw = base64.b64decode(data[field_name], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"{where}: data[{field_name!r}] is not base64") from None
    if raw is None:
        raise CredentialsError(f"{where}: no {field_name} in data or stringData")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise CredentialsError(f"{where}: {field_name} is not JSON") from None
    return name, parse_auth_config(payload, where, legacy=secret_type == DOCKERCFG)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise CredentialsError(f"{path}: larger than {_MAX_FILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CredentialsError(f"{path}: not UTF-8 text") from None


def _yaml_documents(text: str, source: str) -> list[Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
    except YAMLError:
        raise CredentialsError(f"{source}: not valid YAML") from None


def load_secrets_dir(directory: Path) -> dict[str, AuthConfig]:
    """Pull secrets in ``directory``, by secret name.

    Understands ``*.json``/``*.yaml``/``*.yml`` files holding ``Secret`` objects (several
    documents or a ``List`` allowed: what ``oc get secret -o yaml`` prints) and
    sub-directories laid out like a mounted secret volume (``<name>/.dockerconfigjson``).
    """
    if not directory.is_dir():
        raise CredentialsError(f"pull secret directory {directory} does not exist")
    found: dict[str, AuthConfig] = {}

    def add(name: str, config: AuthConfig, where: Path) -> None:
        if name in found:
            raise CredentialsError(f"{where}: secret {name!r} is defined twice")
        found[name] = config

    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            for field_name, secret_type in (
                (".dockerconfigjson", DOCKERCONFIGJSON),
                (".dockercfg", DOCKERCFG),
            ):
                member = path / field_name
                if member.is_file():
                    text = _read_text(member)
                    try:
                        payload = json.loads(text)
                    except ValueError:
                        raise CredentialsError(f"{member}: not JSON") from None
                    config = parse_auth_config(
                        payload, str(member), legacy=secret_type == DOCKERCFG
                    )
                    add(path.name, config, member)
                    break
            continue
        if path.suffix not in (".json", ".yaml", ".yml"):
            continue
        text = _read_text(path)
        documents: list[Any]
        if path.suffix == ".json":
            try:
                documents = [json.loads(text)]
            except ValueError:
                raise CredentialsError(f"{path}: not valid JSON") from None
        else:
            documents = _yaml_documents(text, str(path))
        for document in documents:
            items = (
                document.get("items", [])
                if isinstance(document, dict) and document.get("kind") == "List"
                else [document]
            )
            for item in items:
                parsed = parse_kubernetes_secret(item, str(path))
                if parsed is not None:
                    add(parsed[0], parsed[1], path)
    return found


def default_auth_files(env: Mapping[str, str]) -> list[Path]:
    """Auth files in the order containers tools consult them.

    ``$REGISTRY_AUTH_FILE`` (when set, instead of the two containers defaults), else
    ``$XDG_RUNTIME_DIR/containers/auth.json`` and ``$XDG_CONFIG_HOME/containers/auth.json``
    (``~/.config``); then Docker's ``$DOCKER_CONFIG/config.json`` (``~/.docker``) and the
    legacy ``~/.dockercfg``.
    """
    home = env.get("HOME")
    out: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        out.append(Path(env["REGISTRY_AUTH_FILE"]))
    else:
        if env.get("XDG_RUNTIME_DIR"):
            out.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        config_home = env.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else None)
        if config_home:
            out.append(Path(config_home) / "containers" / "auth.json")
    if env.get("DOCKER_CONFIG"):
        out.append(Path(env["DOCKER_CONFIG"]) / "config.json")
    elif home:
        out.append(Path(home) / ".docker" / "config.json")
    if home:
        out.append(Path(home) / ".dockercfg")
    return out


# -- credential helpers -------------------------------------------------------------------

HelperRunner = Callable[[str, str], "Credential | None"]


def run_credential_helper(
    name: str,
    server_url: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Credential | None:
    """``docker-credential-<name> get`` with ``server_url`` on stdin; ``None`` if it has none."""
    program = f"docker-credential-{_helper_name(name, 'credential helper')}"
    where = f"credential helper {program}"
    try:
        result = subprocess.run(
            [program, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError:
        raise CredentialsError(f"{where} is not installed (not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{where} did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise CredentialsError(f"{where} could not run: {exc.strerror}") from None
    if result.returncode != 0:
        said = (result.stdout or result.stderr).decode("utf-8", "replace").strip()
        if _HELPER_NOT_FOUND in said.lower():
            return None
        # A failing helper's own words are usually "error getting credentials - ..." and
        # carry no secret; keep one short line anyway.
        first = said.splitlines()[0][:200] if said else ""
        raise CredentialsError(f"{where} failed (exit {result.returncode}): {first}")
    try:
        payload = json.loads(result.stdout)
    except ValueError:
        raise CredentialsError(f"{where} answered something other than JSON") from None
    if not isinstance(payload, dict):
        raise CredentialsError(f"{where} answered something other than a JSON object")
    username, secret = payload.get("Username"), payload.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialsError(f"{where} answered without Username/Secret")
    source = f"{where} for {server_url}"
    if username == "<token>":  # the helper protocol's marker for an identity token
        return Credential("", Secret(""), source, Secret(secret))
    return Credential(username, Secret(secret), source)


# -- the store ----------------------------------------------------------------------------


class CredentialStore:
    """Answers :meth:`lookup` from parsed auth files and named pull secrets.

    Thread-safe; helper answers are cached for five minutes per (helper, host) so a pass over
    thousands of tags runs a helper once per registry.
    """

    def __init__(
        self,
        files: Sequence[AuthConfig] = (),
        secrets: Mapping[str, AuthConfig] | None = None,
        *,
        helper_env: Mapping[str, str] | None = None,
        helper_timeout: float = 10.0,
        helper_runner: HelperRunner | None = None,
    ) -> None:
        self._files = list(files)
        self._secrets = dict(secrets or {})
        self._helper_env = helper_env
        self._helper_timeout = helper_timeout
        self._runner: HelperRunner = helper_runner or self._run_helper
        self._helper_cache: dict[tuple[str, str], tuple[float, Credential | None]] = {}
        self._lock = threading.Lock()
        self._clock: Callable[[], float] = time.monotonic

    @property
    def secret_names(self) -> list[str]:
        return sorted(self._secrets)

    @property
    def sources(self) -> list[str]:
        """Where credentials come from (for diagnostics; never contents)."""
        return [c.source for c in self._files] + [
            f"pull secret {name}" for name in sorted(self._secrets)
        ]

    def lookup(
        self, registry: str, repository: str | None = None, *, secrets: Sequence[str] = ()
    ) -> Credential | None:
        """The credential for ``registry/repository``, or ``None`` for anonymous access.

        ``secrets`` names pull secrets (linked to the request's namespace) that come first.
        Raises :class:`CredentialsError` when a helper that should answer fails.
        """
        configs = [self._secrets[name] for name in secrets if name in self._secrets]
        configs.extend(self._files)
        for key in lookup_keys(registry, repository):
            for config in configs:
                credential = config.auths.get(key)
                if credential is not None:
                    return credential
        host = normalise_key(registry)
        helper = next((c.helpers[host] for c in configs if host in c.helpers), None)
        if helper is None:
            helper = next((c.store for c in configs if c.store), None)
        if helper is None:
            return None
        return self._helper(helper, host)

    def __call__(self, registry: str) -> tuple[str, str] | None:
        """The older ``CredentialsProvider`` shape (host-level match only)."""
        credential = self.lookup(registry)
        if credential is None:
            return None
        return credential.username, credential.password.reveal()

    def _helper(self, helper: str, host: str) -> Credential | None:
        key = (helper, host)
        now = self._clock()
        with self._lock:
            cached = self._helper_cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        server_url = DOCKER_HUB_SERVER_URL if host == "docker.io" else host
        credential = self._runner(helper, server_url)
        with self._lock:
            self._helper_cache[key] = (now + _HELPER_CACHE_SECONDS, credential)
        return credential

    def _run_helper(self, helper: str, server_url: str) -> Credential | None:
        return run_credential_helper(
            helper, server_url, env=self._helper_env, timeout=self._helper_timeout
        )


def load_credential_store(
    env: Mapping[str, str] | None = None,
    *,
    auth_files: Iterable[Path] | None = None,
    secrets_dir: Path | None = None,
) -> CredentialStore:
    """A store from the files that exist among ``auth_files`` (default:
    :func:`default_auth_files` of ``env``) and the pull secrets in ``secrets_dir``.

    An explicitly listed file that is missing is an error; a default location that is
    missing is skipped. A file that exists but cannot be parsed is always an error.
    """
    environ = dict(os.environ if env is None else env)
    explicit = auth_files is not None
    paths = list(auth_files) if auth_files is not None else default_auth_files(environ)
    if not explicit and environ.get("REGISTRY_AUTH_FILE"):
        # An auth file named by the environment must exist, as with podman and skopeo.
        named = Path(environ["REGISTRY_AUTH_FILE"])
        if not named.is_file():
            raise CredentialsError(f"REGISTRY_AUTH_FILE {named} does not exist")
    configs: list[AuthConfig] = []
    for path in paths:
        if not path.is_file():
            if explicit:
                raise CredentialsError(f"auth file {path} does not exist")
            continue
        configs.append(parse_auth_file_text(_read_text(path), str(path)))
    secrets = load_secrets_dir(secrets_dir) if secrets_dir is not None else {}
    return CredentialStore(configs, secrets, helper_env=environ)
