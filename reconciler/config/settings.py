"""The machine's settings, merged once from flags, environment and files into one
frozen object that is passed down. Nothing below the CLI reads ``os.environ``.

Repo-level settings live in the repo (``.reconciler.yaml``, see core.repoconfig); these
are the machine's: which registries.conf, which credentials, which registries imports
may come from, how hard to hit registries, where to keep clones, and the public keys
the machine trusts for signed images (``--signature-key``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.core import policy
from reconciler.core.allowlist import AllowedRegistry, parse_allowed_registries
from reconciler.core.errors import ConfigurationError
from reconciler.core.manifests import ManifestObject
from reconciler.core.platforms import Platform
from reconciler.core.registries import (
    RegistriesConf,
    RegistriesConfError,
    parse_registries_conf_files,
)
from reconciler.core.signatures import KEY_NAME_RE, MAX_KEY_BYTES, KeyText
from reconciler.core.violations import Violation
from reconciler.registry.authfiles import load_credential_store
from reconciler.registry.credentials import CredentialsError, CredentialStore


class SettingsError(ConfigurationError):
    """A setting cannot be used; the message names where it came from (never a secret)."""


@dataclass(frozen=True)
class Settings:
    registries: RegistriesConf = field(default_factory=RegistriesConf)
    registries_conf_path: str | None = None
    platform: Platform = field(default_factory=Platform)
    max_concurrency: int = 16
    timeout: float = 10.0
    cache_dir: Path = Path(".")
    max_push_attempts: int = 5
    verify: bool | str = True  # a CA bundle path, or True for the system store
    credentials: CredentialStore | None = None  # None: anonymous only
    # OpenShift's allowedRegistriesForImport; None allows every registry.
    allowed: tuple[AllowedRegistry, ...] | None = None
    max_images_bulk_imported_per_repository: int = 50
    # Per registry host: requests in flight and request starts per second (None: only
    # the overall --concurrency applies, and no rate cap).
    registry_concurrency: int | None = None
    registry_rate: float | None = None
    # Tag lists (version policies): page requests per registry per pass, and how long a
    # page the registry sent no validators for is used before it is asked again.
    tag_list_budget: int = 100
    # The CLI asks for tag lists on every run, as it asks for every tag's digest; the
    # daemon keeps them for its scheduled-import interval (daemon/startup.py).
    tag_list_max_age: float = 0.0
    # Public keys for the signed-image gate, by name, from files outside the repo; a name
    # the repo's .reconciler.yaml also defines means this machine's key.
    signature_keys: tuple[KeyText, ...] = ()

    def policy_check(self) -> Callable[[ManifestObject], list[Violation]]:
        """The machine's import policy as a validation check (see core.policy)."""
        return policy.policy_check(self.registries, self.allowed, self.platform)


def registries_conf_candidates(env: Mapping[str, str]) -> list[Path]:
    """Where containers tools look for registries.conf, in order."""
    out: list[Path] = []
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        return [Path(env["CONTAINERS_REGISTRIES_CONF"])]
    home = env.get("HOME")
    config_home = env.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else None)
    if config_home:
        out.append(Path(config_home) / "containers" / "registries.conf")
    out.append(Path("/etc/containers/registries.conf"))
    return out


def read_registries_conf(path: Path) -> RegistriesConf:
    """The file and the ``registries.conf.d/*.conf`` drop-ins beside it, in name order."""
    files: list[tuple[str, str]] = []
    try:
        files.append((str(path), path.read_text()))
        drop_ins = path.parent / "registries.conf.d"
        if drop_ins.is_dir():
            for extra in sorted(drop_ins.glob("*.conf")):
                files.append((str(extra), extra.read_text()))
    except OSError as exc:
        raise SettingsError(f"cannot read registries.conf {path}: {exc.strerror}") from exc
    return parse_registries_conf_files(files)


def read_allowed_registries(path: Path) -> tuple[AllowedRegistry, ...]:
    """A YAML or JSON list ``[{domainName: quay.io, insecure: false}, ...]``, or a mapping
    holding it under ``allowedRegistriesForImport`` (as in OpenShift's image config)."""
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else YAML(typ="safe").load(text)
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, YAMLError) as exc:
        raise SettingsError(f"{path}: not YAML/JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get(
            "allowedRegistriesForImport", data.get("spec", {}).get("allowedRegistriesForImport")
        )
    try:
        return parse_allowed_registries(data, str(path))
    except RegistriesConfError as exc:
        raise SettingsError(str(exc)) from exc


def parse_signature_keys(text: str, where: str) -> dict[str, str]:
    """``NAME=FILE[,NAME=FILE...]`` (``RECONCILER_SIGNATURE_KEYS``) as {name: file}."""
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, file = item.partition("=")
        if not sep or not file:
            raise SettingsError(f"{where}: {item!r}: expected NAME=FILE")
        out[name.strip()] = file.strip()
    return out


def read_signature_keys(files: Mapping[str, str], where: str) -> tuple[KeyText, ...]:
    """The machine's public keys: each file read and loaded now, so that a private key,
    a missing file or a key type cosign does not sign with stops the start."""
    # Here rather than at the top: only a machine with keys pays for loading cryptography.
    from reconciler.registry.publickeys import KeyLoadError, load_public_key

    keys: list[KeyText] = []
    for name, file in sorted(files.items()):
        if not KEY_NAME_RE.fullmatch(name):
            raise SettingsError(
                f"{where}: {name!r} is not a key name ([A-Za-z0-9][A-Za-z0-9._-]*, at most 63)"
            )
        path = Path(file)
        try:
            if path.stat().st_size > MAX_KEY_BYTES:
                raise SettingsError(f"{where}: {name}={file}: over {MAX_KEY_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{where}: {name}={file}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise SettingsError(f"{where}: {name}={file}: not UTF-8 text") from None
        try:
            load_public_key(name, text)
        except KeyLoadError as exc:
            raise SettingsError(f"{where}: {name}={file}: {exc}") from None
        keys.append(KeyText(name, text, f"{where} {name}={file}"))
    return tuple(keys)


def parse_platform(text: str, where: str | None = None) -> Platform:
    """``where`` names the source for the message: the flag's form by default, or, say,
    ``RECONCILER_PLATFORM='linux'`` for the environment's value."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        source = where or f"--platform {text!r}"
        raise SettingsError(f"{source}: expected os/arch[/variant], e.g. linux/amd64")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def _platform(flag: str | None, env_text: str | None) -> Platform:
    """The flag, else the environment's value (named so in an error), else linux/amd64."""
    if flag:
        return parse_platform(flag)
    if env_text:
        return parse_platform(env_text, f"RECONCILER_PLATFORM={env_text!r}")
    return Platform("linux", "amd64")


def _positive(
    flag: float | None,
    env_text: str | None,
    default: float,
    name: str,
    kind: type,
    *,
    zero: bool = False,
) -> Any:
    """A flag, else the environment's value, else the default; each must be > 0 (or,
    with ``zero``, >= 0), and finite."""
    if flag is not None:
        value: Any = flag
        where = f"--{name}"
    elif env_text:
        where = f"RECONCILER_{name.upper().replace('-', '_')}"
        try:
            value = kind(env_text)
        except ValueError:
            raise SettingsError(f"{where}={env_text!r}: expected a number") from None
    else:
        return kind(default)
    if zero and value == 0:
        return kind(value)
    if not 0 < value < float("inf"):
        raise SettingsError(f"{where}={value}: must be {'0 or more' if zero else 'greater than 0'}")
    return kind(value)


def _optional_positive(flag: float | None, env_text: str | None, name: str, kind: type) -> Any:
    if flag is None and not env_text:
        return None
    return _positive(flag, env_text, 1, name, kind)


def load_settings(
    env: Mapping[str, str],
    *,
    registries_conf: str | None = None,
    platform: str | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    cache_dir: str | None = None,
    ca_bundle: str | None = None,
    auth_files: Sequence[str] | None = None,
    pull_secrets_dir: str | None = None,
    allowed_registries: str | None = None,
    max_bulk: int | None = None,
    registry_concurrency: int | None = None,
    registry_rate: float | None = None,
    signature_keys: Mapping[str, str] | None = None,
    signature_keys_from: str = "--signature-key",
    tag_list_budget: int | None = None,
    tag_list_max_age: float | None = None,
) -> Settings:
    """``signature_keys`` ({name: public key file}) come from a flag or the daemon's
    configuration (``signature_keys_from`` says which, for messages); without them,
    ``RECONCILER_SIGNATURE_KEYS``."""
    conf = RegistriesConf()
    conf_path: str | None = None
    paths = [Path(registries_conf)] if registries_conf else registries_conf_candidates(env)
    for path in paths:
        if registries_conf or path.is_file():
            conf = read_registries_conf(path)
            conf_path = str(path)
            break
    cache_root = cache_dir or env.get("RECONCILER_CACHE_DIR")
    if not cache_root:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "."), ".cache")
        cache_root = os.path.join(xdg, "imagestream-reconciler")
    bundle = ca_bundle or env.get("RECONCILER_CA_BUNDLE")
    if bundle and not Path(bundle).is_file():
        raise SettingsError(f"CA bundle {bundle} does not exist")
    secrets_dir = pull_secrets_dir or env.get("RECONCILER_PULL_SECRETS_DIR")
    try:
        credentials = load_credential_store(
            env,
            auth_files=[Path(p) for p in auth_files] if auth_files else None,
            secrets_dir=Path(secrets_dir) if secrets_dir else None,
        )
    except CredentialsError as exc:
        raise SettingsError(str(exc)) from exc
    allowed_file = allowed_registries or env.get("RECONCILER_ALLOWED_REGISTRIES")
    bulk_text = env.get("RECONCILER_MAX_IMAGES_BULK_IMPORTED_PER_REPOSITORY")
    if max_bulk is None and bulk_text and (not bulk_text.isdigit() or int(bulk_text) < 1):
        raise SettingsError(
            f"RECONCILER_MAX_IMAGES_BULK_IMPORTED_PER_REPOSITORY={bulk_text!r}: "
            "expected a positive whole number"
        )
    bulk = max_bulk or (int(bulk_text) if bulk_text else None)
    if signature_keys:
        keys = read_signature_keys(signature_keys, signature_keys_from)
    elif env.get("RECONCILER_SIGNATURE_KEYS"):
        where = "RECONCILER_SIGNATURE_KEYS"
        keys = read_signature_keys(parse_signature_keys(env[where], where), where)
    else:
        keys = ()
    return Settings(
        registries=conf,
        registries_conf_path=conf_path,
        platform=_platform(platform, env.get("RECONCILER_PLATFORM")),
        max_concurrency=_positive(
            concurrency, env.get("RECONCILER_CONCURRENCY"), 16, "concurrency", int
        ),
        timeout=_positive(timeout, env.get("RECONCILER_TIMEOUT"), 10.0, "timeout", float),
        cache_dir=Path(cache_root),
        verify=bundle if bundle else True,
        credentials=credentials,
        allowed=read_allowed_registries(Path(allowed_file)) if allowed_file else None,
        max_images_bulk_imported_per_repository=bulk or 50,
        registry_concurrency=_optional_positive(
            registry_concurrency,
            env.get("RECONCILER_REGISTRY_CONCURRENCY"),
            "registry-concurrency",
            int,
        ),
        registry_rate=_optional_positive(
            registry_rate, env.get("RECONCILER_REGISTRY_RATE"), "registry-rate", float
        ),
        signature_keys=keys,
        tag_list_budget=_positive(
            tag_list_budget, env.get("RECONCILER_TAG_LIST_BUDGET"), 100, "tag-list-budget", int
        ),
        tag_list_max_age=_positive(
            tag_list_max_age,
            env.get("RECONCILER_TAG_LIST_MAX_AGE"),
            0.0,
            "tag-list-max-age",
            float,
            zero=True,
        ),
    )
