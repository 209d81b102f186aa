"""registries.conf (v2, TOML) as the containers tools read it: where an image name is
looked up (``unqualified-search-registries``), which registry location serves a prefix
(``[[registry]] prefix/location``), which are ``insecure`` or ``blocked``, and the
mirrors tried before the primary. Plus ``[aliases]`` short names.

Pure: takes the file's text, returns a routing table; the registry client asks it where
to send each request.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace

from reconciler.core.references import (
    ImageReference,
    InvalidReference,
    candidates,
    parse_image_reference,
)

DEFAULT_SEARCH_REGISTRIES = ("docker.io",)


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
            for location, mirror_insecure in entry.mirrors
        ]
        out.append(
            Endpoint(_rewrite(reference, entry.prefix, entry.location), insecure or entry.insecure)
        )
        return out


def _rewrite(reference: ImageReference, prefix: str, location: str) -> ImageReference:
    if prefix.startswith("*.") or location == prefix:
        return reference
    rest = reference.name[len(prefix) :]
    rewritten = parse_image_reference(location + rest)
    return replace(rewritten, tag=reference.tag, digest=reference.digest)


def parse_registries_conf(text: str, file: str = "registries.conf") -> RegistriesConf:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistriesConfError(f"{file}: {exc}") from exc
    search = data.get("unqualified-search-registries", list(DEFAULT_SEARCH_REGISTRIES))
    if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
        raise RegistriesConfError(
            f"{file}: unqualified-search-registries must be a list of strings"
        )
    entries: list[RegistryEntry] = []
    for index, raw in enumerate(data.get("registry", [])):
        where = f"{file}: [[registry]] #{index + 1}"
        if not isinstance(raw, dict):
            raise RegistriesConfError(f"{where}: not a table")
        prefix = raw.get("prefix") or raw.get("location")
        location = raw.get("location") or prefix
        if not isinstance(prefix, str) or not isinstance(location, str) or not prefix:
            raise RegistriesConfError(f"{where}: needs a prefix or a location")
        mirrors = []
        for m_index, mirror in enumerate(raw.get("mirror", [])):
            if not isinstance(mirror, dict) or not isinstance(mirror.get("location"), str):
                raise RegistriesConfError(f"{where}: mirror #{m_index + 1} needs a location")
            mirrors.append((mirror["location"], mirror.get("insecure") is True))
        if not prefix.startswith("*."):
            try:
                parse_image_reference(prefix if "/" in prefix else prefix + "/x")
            except InvalidReference as exc:
                raise RegistriesConfError(f"{where}: prefix {prefix!r}: {exc}") from exc
        entries.append(
            RegistryEntry(
                prefix=prefix,
                location=location,
                insecure=raw.get("insecure") is True,
                blocked=raw.get("blocked") is True,
                mirrors=tuple(mirrors),
            )
        )
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict):
        raise RegistriesConfError(f"{file}: [aliases] must be a table")
    return RegistriesConf(
        search=tuple(search),
        registries=tuple(entries),
        aliases={str(k): str(v) for k, v in aliases.items()},
    )
