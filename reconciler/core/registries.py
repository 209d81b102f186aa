"""registries.conf (v2, TOML) as the containers tools read it: where an image name is
looked up (``unqualified-search-registries``), which registry location serves a prefix
(``[[registry]] prefix/location``, ``*.example.com`` wildcards), which are ``insecure`` or
``blocked``, and the mirrors tried before the primary (``mirror-by-digest-only``,
``pull-from-mirror``). Plus ``[aliases]`` short names, ``short-name-mode`` and
``credential-helpers`` (recorded), drop-in files merged in order
(:func:`parse_registries_conf_files`), and OpenShift's ``allowedRegistriesForImport``
(:func:`check_import_allowed`).

Pure: takes the files' text, returns a routing table; the resolver asks it where to send
each request. Reading the files (``/etc/containers/registries.conf``,
``registries.conf.d/*.conf``) is the caller's business.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.core.references import (
    ImageReference,
    InvalidReference,
    candidates,
    parse_image_reference,
)

DEFAULT_SEARCH_REGISTRIES = ("docker.io",)
SHORT_NAME_MODES = frozenset({"enforcing", "permissive", "disabled"})
PULL_FROM_MIRROR = frozenset({"all", "digest-only", "tag-only"})


class RegistriesConfError(ValueError):
    """registries.conf cannot be used; the message names the file and the entry."""


class BlockedRegistry(Exception):
    def __init__(self, reference: ImageReference, prefix: str) -> None:
        super().__init__(
            f"{reference.name} is blocked by registries.conf ([[registry]] prefix {prefix!r})"
        )
        self.reference = reference


@dataclass(frozen=True)
class Endpoint:
    """A place to ask: the reference rewritten to a real location, and whether plain
    HTTP / unverified TLS is allowed there."""

    reference: ImageReference
    insecure: bool
    mirror: bool = False


@dataclass(frozen=True)
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[tuple[str, bool], ...] = ()  # (location, insecure)
    mirror_by_digest_only: bool = False
    # pull-from-mirror of each mirror, parallel to ``mirrors`` ("all" when not given).
    mirror_pull: tuple[str, ...] = ()

    def mirror_applies(self, index: int, reference: ImageReference) -> bool:
        """Whether mirror ``index`` may serve ``reference`` (by digest or by tag)."""
        mode = self.mirror_pull[index] if index < len(self.mirror_pull) else "all"
        if self.mirror_by_digest_only and mode == "all":
            mode = "digest-only"
        if mode == "digest-only":
            return reference.digest is not None
        if mode == "tag-only":
            return reference.digest is None
        return True

    def matches(self, name: str) -> bool:
        if self.prefix.startswith("*."):
            host = name.split("/", 1)[0]
            return host.endswith(self.prefix[1:])
        return name == self.prefix or name.startswith(self.prefix + "/")


@dataclass(frozen=True)
class RegistriesConf:
    search: tuple[str, ...] = DEFAULT_SEARCH_REGISTRIES
    registries: tuple[RegistryEntry, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    short_name_mode: str | None = None
    credential_helpers: tuple[str, ...] = ()

    def entry_for(self, reference: ImageReference) -> RegistryEntry | None:
        matching = [r for r in self.registries if r.matches(reference.name)]
        # The longest prefix wins, as in containers-registries.conf(5).
        return max(matching, key=lambda r: len(r.prefix), default=None)

    def expand(self, reference: ImageReference) -> list[ImageReference]:
        """The qualified references to try for ``reference``, in order."""
        if reference.registry is None:
            alias = self.aliases.get(reference.repository)
            if alias is not None:
                target = parse_image_reference(alias)
                return [replace(target, tag=reference.tag or target.tag, digest=reference.digest)]
        return candidates(reference, self.search)

    def endpoints(self, reference: ImageReference, insecure: bool = False) -> list[Endpoint]:
        """Where to ask for a qualified ``reference``: mirrors first, then the primary
        location. ``insecure`` is the tag's own ``importPolicy.insecure``."""
        entry = self.entry_for(reference)
        if entry is None:
            return [Endpoint(reference, insecure)]
        if entry.blocked:
            raise BlockedRegistry(reference, entry.prefix)
        out = [
            Endpoint(_rewrite(reference, entry.prefix, location), insecure or mirror_insecure, True)
            for index, (location, mirror_insecure) in enumerate(entry.mirrors)
            if entry.mirror_applies(index, reference)
        ]
        out.append(
            Endpoint(_rewrite(reference, entry.prefix, entry.location), insecure or entry.insecure)
        )
        return out


def _rewrite(reference: ImageReference, prefix: str, location: str) -> ImageReference:
    if location == prefix:
        return reference
    if prefix.startswith("*."):
        # A wildcard matches the host; a mirror's location replaces that host.
        rest = reference.name[len(reference.name.split("/", 1)[0]) :]
    else:
        rest = reference.name[len(prefix) :]
    rewritten = parse_image_reference(location + rest)
    return replace(rewritten, tag=reference.tag, digest=reference.digest)


def parse_registries_conf(text: str, file: str = "registries.conf") -> RegistriesConf:
    """Parse one registries.conf (v2); raise :class:`RegistriesConfError` naming ``file``."""
    return _from_data(_load(text, file), file, RegistriesConf())


def parse_registries_conf_files(files: Sequence[tuple[str, str]]) -> RegistriesConf:
    """``[(name, text), ...]``: the main file then its ``registries.conf.d`` drop-ins, in
    order. As with containers tools, a later file replaces the top-level settings it sets,
    its ``[[registry]]`` entries replace earlier ones with the same prefix, and its
    ``[aliases]`` are added (an alias set again is replaced)."""
    conf = RegistriesConf()
    for name, text in files:
        conf = _from_data(_load(text, name), name, conf)
    return conf


def _load(text: str, file: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistriesConfError(f"{file}: {exc}") from exc
    if isinstance(data.get("registries"), dict):
        raise RegistriesConfError(
            f"{file}: this is the v1 format ([registries.search]); "
            "convert it to v2 (unqualified-search-registries, [[registry]])"
        )
    return data


def _from_data(data: dict[str, Any], file: str, base: RegistriesConf) -> RegistriesConf:
    search_raw = data.get("unqualified-search-registries")
    search = base.search
    if search_raw is not None:
        if not isinstance(search_raw, list) or not all(isinstance(x, str) for x in search_raw):
            raise RegistriesConfError(
                f"{file}: unqualified-search-registries must be a list of strings"
            )
        for registry in search_raw:
            if "/" in registry or "://" in registry or not registry:
                raise RegistriesConfError(
                    f"{file}: unqualified-search-registries: {registry!r} is not a registry host"
                )
        search = tuple(search_raw)
    mode = data.get("short-name-mode", base.short_name_mode)
    if mode is not None and mode not in SHORT_NAME_MODES:
        raise RegistriesConfError(
            f"{file}: short-name-mode must be one of {sorted(SHORT_NAME_MODES)}, not {mode!r}"
        )
    helpers = data.get("credential-helpers")
    credential_helpers = base.credential_helpers
    if helpers is not None:
        if not isinstance(helpers, list) or not all(isinstance(h, str) for h in helpers):
            raise RegistriesConfError(f"{file}: credential-helpers must be a list of strings")
        credential_helpers = tuple(helpers)
    registry_raw = data.get("registry", [])
    if not isinstance(registry_raw, list):
        raise RegistriesConfError(f"{file}: [[registry]] must be an array of tables")
    entries = {entry.prefix: entry for entry in base.registries}
    for index, raw in enumerate(registry_raw):
        entry = _entry(raw, f"{file}: [[registry]] #{index + 1}")
        entries.pop(entry.prefix, None)
        entries[entry.prefix] = entry
    aliases_raw = data.get("aliases", {})
    if not isinstance(aliases_raw, dict):
        raise RegistriesConfError(f"{file}: [aliases] must be a table")
    aliases = dict(base.aliases)
    for name, value in aliases_raw.items():
        if not isinstance(value, str):
            raise RegistriesConfError(f"{file}: [aliases] {name!r} must be a string")
        try:
            target = parse_image_reference(value)
        except InvalidReference as exc:
            raise RegistriesConfError(f"{file}: [aliases] {name!r}: {exc}") from exc
        if target.registry is None or target.digest is not None:
            raise RegistriesConfError(
                f"{file}: [aliases] {name!r}: {value!r} must be a fully qualified name "
                "(registry/repository[:tag]) without a digest"
            )
        aliases[str(name)] = value
    return RegistriesConf(
        search=search,
        registries=tuple(entries.values()),
        aliases=aliases,
        short_name_mode=mode,
        credential_helpers=credential_helpers,
    )


def _entry(raw: object, where: str) -> RegistryEntry:
    if not isinstance(raw, dict):
        raise RegistriesConfError(f"{where}: not a table")
    prefix = raw.get("prefix") or raw.get("location")
    location = raw.get("location") or prefix
    if not isinstance(prefix, str) or not isinstance(location, str) or not prefix:
        raise RegistriesConfError(f"{where}: needs a prefix or a location")
    for name, value in (("prefix", prefix), ("location", location)):
        if "://" in value:
            raise RegistriesConfError(
                f"{where}: {name} {value!r} must not have a scheme (use insecure = true for http)"
            )
    if prefix.startswith("*."):
        if raw.get("location") and raw.get("location") != prefix:
            raise RegistriesConfError(
                f"{where}: a wildcard prefix {prefix!r} cannot have a location"
            )
        if "/" in prefix or "*" in prefix[2:]:
            raise RegistriesConfError(
                f"{where}: wildcard prefix {prefix!r} must look like *.example.com"
            )
    else:
        try:
            parse_image_reference(prefix if "/" in prefix else prefix + "/x")
        except InvalidReference as exc:
            raise RegistriesConfError(f"{where}: prefix {prefix!r}: {exc}") from exc
    mirrors: list[tuple[str, bool]] = []
    pulls: list[str] = []
    mirror_raw = raw.get("mirror", [])
    if not isinstance(mirror_raw, list):
        raise RegistriesConfError(f"{where}: [[registry.mirror]] must be an array of tables")
    for m_index, mirror in enumerate(mirror_raw):
        if not isinstance(mirror, dict) or not isinstance(mirror.get("location"), str):
            raise RegistriesConfError(f"{where}: mirror #{m_index + 1} needs a location")
        if "://" in mirror["location"]:
            raise RegistriesConfError(
                f"{where}: mirror #{m_index + 1} location must not have a scheme"
            )
        pull = mirror.get("pull-from-mirror", "all")
        if pull not in PULL_FROM_MIRROR:
            raise RegistriesConfError(
                f"{where}: mirror #{m_index + 1} pull-from-mirror must be one of "
                f"{sorted(PULL_FROM_MIRROR)}, not {pull!r}"
            )
        mirrors.append((mirror["location"], mirror.get("insecure") is True))
        pulls.append(pull)
    return RegistryEntry(
        prefix=prefix,
        location=location,
        insecure=raw.get("insecure") is True,
        blocked=raw.get("blocked") is True,
        mirrors=tuple(mirrors),
        mirror_by_digest_only=raw.get("mirror-by-digest-only") is True,
        mirror_pull=tuple(pulls),
    )


# -- allowedRegistriesForImport ------------------------------------------------------------


@dataclass(frozen=True)
class AllowedRegistry:
    """One entry of OpenShift's ``allowedRegistriesForImport``.

    ``domain_name`` is a host, ``*.example.com`` for its subdomains, or ``host:port`` for a
    registry on a non-standard port; ``insecure`` permits imports with
    ``importPolicy.insecure: true`` from it.
    """

    domain_name: str
    insecure: bool = False


def parse_allowed_registries(
    value: object, where: str = "allowedRegistriesForImport"
) -> tuple[AllowedRegistry, ...]:
    """``[{domainName: quay.io, insecure: false}, ...]`` as OpenShift writes it."""
    if not isinstance(value, list):
        raise RegistriesConfError(f"{where}: must be a list")
    out: list[AllowedRegistry] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("domainName"), str):
            raise RegistriesConfError(f"{where}[{index}]: needs a domainName")
        domain = item["domainName"].strip().lower()
        insecure = item.get("insecure", False)
        if not domain or "/" in domain or not isinstance(insecure, bool):
            raise RegistriesConfError(f"{where}[{index}]: invalid entry {item!r}")
        out.append(AllowedRegistry(domain, insecure))
    return tuple(out)


def _host_port(registry: str) -> tuple[str, str | None]:
    host = registry.lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], (host[end + 2 :] or None) if end + 1 < len(host) else None
    name, _, port = host.partition(":")
    return name, port or None


def _domain_matches(entry: AllowedRegistry, registry: str, insecure: bool) -> bool:
    want_host, want_port = _host_port(entry.domain_name)
    host, port = _host_port(registry)
    if _is_docker_hub(want_host) and _is_docker_hub(host):
        host = want_host
    if want_host.startswith("*."):
        host_ok = host.endswith(want_host[1:]) and len(host) > len(want_host) - 1
    else:
        host_ok = host == want_host
    if not host_ok:
        return False
    if want_port is None:
        # No port: the standard one (443, or 80 for an insecure import).
        return port is None or port == "443" or (insecure and port == "80")
    return port == want_port


def _is_docker_hub(host: str) -> bool:
    return host in ("docker.io", "index.docker.io", "registry-1.docker.io")


def check_import_allowed(
    reference: ImageReference, insecure: bool, allowed: Sequence[AllowedRegistry] | None
) -> str | None:
    """``None`` when ``reference`` may be imported, else the reason (a validation error).

    ``allowed`` ``None`` means no allow-list. An unqualified ``reference`` is judged by the
    caller per search candidate (see :func:`allowed_candidates`).
    """
    if allowed is None:
        return None
    if reference.registry is None:
        return None
    for entry in allowed:
        if _domain_matches(entry, reference.registry, insecure):
            if insecure and not entry.insecure:
                return (
                    f"{reference.registry} is in allowedRegistriesForImport but not for "
                    "insecure imports (importPolicy.insecure is set)"
                )
            return None
    names = ", ".join(e.domain_name for e in allowed) or "nothing"
    return (
        f"importing from {reference.registry} is not allowed (allowedRegistriesForImport: {names})"
    )


def allowed_candidates(
    conf: RegistriesConf,
    reference: ImageReference,
    insecure: bool,
    allowed: Sequence[AllowedRegistry] | None,
) -> tuple[list[ImageReference], list[str]]:
    """The qualified names to try for ``reference`` that the allow-list permits, and the
    reasons for those it does not. No candidate left is a validation error."""
    ok: list[ImageReference] = []
    refused: list[str] = []
    for candidate in conf.expand(reference):
        reason = check_import_allowed(candidate, insecure, allowed)
        if reason is None:
            ok.append(candidate)
        else:
            refused.append(reason)
    return ok, refused
