"""The machine's settings, merged once from flags, environment and files into one
frozen object that is passed down. Nothing below the CLI reads ``os.environ``.

Repo-level settings live in the repo (``.reconciler.yaml``, see core.repoconfig); these
are the machine's: which registries.conf, how hard to hit registries, where to keep
clones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.registries import RegistriesConf, parse_registries_conf
from reconciler.registry.client import Platform


class SettingsError(Exception):
    """A setting cannot be used; the message names where it came from."""


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


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SettingsError(f"--platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def load_settings(
    env: Mapping[str, str],
    *,
    registries_conf: str | None = None,
    platform: str | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    cache_dir: str | None = None,
    ca_bundle: str | None = None,
) -> Settings:
    conf = RegistriesConf()
    conf_path: str | None = None
    paths = [Path(registries_conf)] if registries_conf else registries_conf_candidates(env)
    for path in paths:
        if registries_conf or path.is_file():
            try:
                text = path.read_text()
            except OSError as exc:
                raise SettingsError(f"cannot read registries.conf {path}: {exc.strerror}") from exc
            conf = parse_registries_conf(text, str(path))
            conf_path = str(path)
            break
    cache_root = cache_dir or env.get("RECONCILER_CACHE_DIR")
    if not cache_root:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "."), ".cache")
        cache_root = os.path.join(xdg, "imagestream-reconciler")
    bundle = ca_bundle or env.get("RECONCILER_CA_BUNDLE")
    return Settings(
        registries=conf,
        registries_conf_path=conf_path,
        platform=parse_platform(platform or env.get("RECONCILER_PLATFORM", "linux/amd64")),
        max_concurrency=concurrency or int(env.get("RECONCILER_CONCURRENCY", "16")),
        timeout=timeout or float(env.get("RECONCILER_TIMEOUT", "10")),
        cache_dir=Path(cache_root),
        verify=bundle if bundle else True,
    )
