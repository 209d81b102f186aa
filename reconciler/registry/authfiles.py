"""Reading registry credentials from the files the container ecosystem keeps them in:
Docker ``config.json`` (``auths``, ``credHelpers``, ``credsStore``), containers
``auth.json`` (same format), and Kubernetes ``kubernetes.io/dockerconfigjson`` /
``kubernetes.io/dockercfg`` secrets in a directory outside the repo; and building the
:class:`~reconciler.registry.credentials.CredentialStore` from them.

Must not: read anything from the Git repository, or put any password or token into an
error message (they are :class:`~reconciler.core.secrets.Secret` from the moment they are
parsed).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.core.secrets import Secret
from reconciler.registry.credentials import (
    DOCKERCFG,
    DOCKERCONFIGJSON,
    AuthConfig,
    Credential,
    CredentialsError,
    CredentialStore,
    helper_name,
    normalise_key,
)
from reconciler.registry.secretchoice import EXCLUDE_ANNOTATION, secret_key

_MAX_FILE_BYTES = 4 * 1024 * 1024


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
        helpers[normalise_key(str(key))] = helper_name(name, source)
    store_raw = None if legacy else document.get("credsStore")
    store = helper_name(store_raw, source) if store_raw else None
    return AuthConfig(source=source, auths=auths, helpers=helpers, store=store)


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
    """A ``Secret`` of type dockerconfigjson / dockercfg as ``(key, config)``, the key
    ``namespace/name`` (``name`` without ``metadata.namespace``); ``None`` for any other
    object (other secrets in the directory are ignored)."""
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
    config = parse_auth_config(payload, where, legacy=secret_type == DOCKERCFG)
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    namespace = namespace if isinstance(namespace, str) and namespace else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    excluded = isinstance(annotations, dict) and annotations.get(EXCLUDE_ANNOTATION) == "true"
    return secret_key(name, namespace), replace(config, namespace=namespace, excluded=excluded)


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
    """Pull secrets in ``directory``, by key: ``namespace/name`` for a Secret with a
    ``metadata.namespace``, else its name (a mounted volume's directory name too).

    Understands ``*.json``/``*.yaml``/``*.yml`` files holding ``Secret`` objects (several
    documents or a ``List`` allowed: what ``oc get secret -o yaml`` prints) and
    sub-directories laid out like a mounted secret volume (``<name>/.dockerconfigjson``).
    """
    if not directory.is_dir():
        raise CredentialsError(f"pull secret directory {directory} does not exist")
    found: dict[str, AuthConfig] = {}

    def add(key: str, config: AuthConfig, where: Path) -> None:
        if key in found:
            raise CredentialsError(f"{where}: secret {key!r} is defined twice")
        found[key] = config

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
