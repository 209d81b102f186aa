"""Registry credentials: the model, and the store that answers for a request.

Owns (reading the files is :mod:`reconciler.registry.authfiles`'s): running credential
helpers over the ``docker-credential-<name> get`` protocol; and answering "which credential
for ``registry/repository``?" with the most specific key first (``host/ns/repo``, ``host/ns``,
``host``), keys normalised (``https://index.docker.io/v1/`` is ``docker.io``).

Must not: read anything from the Git repository, log or put into an error message any
password or token (they are :class:`~reconciler.core.secrets.Secret` from the moment they are
parsed), or decide where a credential is sent (the client sends it only to the registry it is
for, or to that registry's token realm).

Precedence (documented for operators): the pull secrets named for the request (those of
its namespace, linked ones first: :mod:`reconciler.registry.secretchoice`), in the order
given, then the auth files in the order of
:func:`default_auth_files`. The most specific key wins across all of them; between equally
specific keys, the earlier source wins. Credential helpers are asked (per host) only when
no inline entry matched: ``credHelpers[host]`` first, then ``credsStore``.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.errors import ConfigurationError
from reconciler.core.secrets import Secret

__all__ = [
    "AuthConfig",
    "Credential",
    "CredentialStore",
    "CredentialsError",
    "lookup_keys",
    "normalise_key",
]

_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# What the docker CLI stores Docker Hub logins under; helpers are asked with this URL.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
_HELPER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HELPER_NOT_FOUND = "credentials not found"
_HELPER_CACHE_SECONDS = 300.0
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
    # A Kubernetes pull secret's metadata.namespace (None: a file, or a secret without one)
    # and whether it carries openshift.io/image.excludeSecret: "true".
    namespace: str | None = None
    excluded: bool = False


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


def helper_name(name: object, source: str) -> str:
    """``name`` if it is a credential helper name we may run (``docker-credential-NAME``);
    else CredentialsError naming ``source``."""
    # The name becomes part of an executable name: no paths, no options.
    if not isinstance(name, str) or not _HELPER_NAME_RE.fullmatch(name):
        raise CredentialsError(f"{source}: invalid credential helper name {name!r}")
    return name


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
    program = f"docker-credential-{helper_name(name, 'credential helper')}"
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
        """The pull secrets' keys (``namespace/name``, or ``name`` without a namespace)."""
        return sorted(self._secrets)

    def secrets_for(self, namespace: str, linked: Sequence[str] = ()) -> tuple[str, ...]:
        """The pull secrets an import into ``namespace`` uses (see
        :mod:`reconciler.registry.secretchoice`)."""
        from reconciler.registry.secretchoice import secrets_for

        return secrets_for(self._secrets, namespace, linked)

    def explain(
        self,
        registry: str,
        repository: str | None,
        *,
        secrets: Sequence[str] = (),
        namespace: str | None = None,
        logical_registry: str | None = None,
    ) -> list[str]:
        """Why each pull secret applied or not to a request (names only, never contents)."""
        from reconciler.registry.secretchoice import explain

        return explain(
            self._secrets,
            registry,
            repository,
            chosen=secrets,
            namespace=namespace,
            logical_registry=logical_registry,
        )

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
