"""registries.conf (v2, TOML) as the containers tools read it: where an image name is
looked up (``unqualified-search-registries``), which registry location serves a prefix
(``[[registry]] prefix/location``, ``*.example.com`` wildcards), which are ``insecure`` or
``blocked``, and the mirrors tried before the primary (``mirror-by-digest-only``,
``pull-from-mirror``). Plus ``[aliases]`` short names, ``short-name-mode`` and
``credential-helpers`` (recorded), and drop-in files merged in order
(:func:`parse_registries_conf_files`). OpenShift's ``allowedRegistriesForImport`` is
:mod:`reconciler.core.allowlist`'s.

Pure: takes the files' text, returns a routing table; the resolver asks it where to send
each request. Reading the files (``/etc/containers/registries.conf``,
``registries.conf.d/*.conf``) is the caller's business.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.core.errors import ConfigurationError, PermanentError
from reconciler.core.references import (
    ImageReference,
    InvalidReference,
    candidates,
    parse_image_reference,
)

# Where an unqualified name is looked up when no file sets unqualified-search-registries.
DEFAULT_SEARCH_REGISTRIES = ("docker.io",)
# The values registries.conf accepts for short-name-mode and pull-from-mirror.
SHORT_NAME_MODES = frozenset({"enforcing", "permissive", "disabled"})
PULL_FROM_MIRROR = frozenset({"all", "digest-only", "tag-only"})


class RegistriesConfError(ConfigurationError, ValueError):
    """registries.conf cannot be used; the message names the file and the entry."""


class BlockedRegistry(PermanentError):
    """registries.conf blocks this reference's registry."""

    def __init__(self, reference: ImageReference, prefix: str) -> None:
        super().__init__(
            f"{reference.name} is blocked by registries.conf ([[registry]] prefix {prefix!r})"
        )
        self.reference = reference


@dataclass(frozen=True)
class Endpoint:
    """A place to ask: the reference rewritten to a real location, and whether plain
    HTTP is used there (the reconciler never skips TLS verification)."""

    reference: ImageReference
    insecure: bool
    mirror: bool = False


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table: the ``prefix`` it covers (a name prefix or a
    ``*.domain`` wildcard), the ``location`` that serves it, whether it is insecure or
    blocked, and its mirrors in the order they are tried."""

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
        """Whether the prefix covers image ``name`` (``registry/repository``): equal to
        it or a prefix ending at a ``/``; a ``*.domain`` wildcard covers the subdomains
        of the name's host."""
        if self.prefix.startswith("*."):
            host = name.split("/", 1)[0]
            return host.endswith(self.prefix[1:])
        return name == self.prefix or name.startswith(self.prefix + "/")


@dataclass(frozen=True)
class RegistriesConf:
    """The merged routing table: search registries in order, ``[[registry]]``
    entries, ``[aliases]``, and ``short-name-mode`` and ``credential-helpers`` as recorded
    (None or empty when unset). ``RegistriesConf()`` is no file: search docker.io only."""

    search: tuple[str, ...] = DEFAULT_SEARCH_REGISTRIES
    registries: tuple[RegistryEntry, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    short_name_mode: str | None = None
    credential_helpers: tuple[str, ...] = ()
    # entry_for's answers by repository name: a pass asks once per tag, and a repo's
    # tags share a few repositories.
    _entries: dict[str, RegistryEntry | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def entry_for(self, reference: ImageReference) -> RegistryEntry | None:
        """The entry that covers ``reference``'s name, the longest prefix winning; None
        when no entry does."""
        name = reference.name
        if name not in self._entries:
            matching = [r for r in self.registries if r.matches(name)]
            # The longest prefix wins, as in containers-registries.conf(5).
            self._entries[name] = max(matching, key=lambda r: len(r.prefix), default=None)
        return self._entries[name]

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
    """Parse one registries.conf (v2); raise :class:`RegistriesConfError` naming ``file``
    and the line (``file:LINE: message``)."""
    return _from_data(_load(text, file), _Where(file, text), RegistriesConf())


def parse_registries_conf_files(files: Sequence[tuple[str, str]]) -> RegistriesConf:
    """``[(name, text), ...]``: the main file then its ``registries.conf.d`` drop-ins, in
    order. As with containers tools, a later file replaces the top-level settings it sets,
    its ``[[registry]]`` entries replace earlier ones with the same prefix, and its
    ``[aliases]`` are added (an alias set again is replaced)."""
    conf = RegistriesConf()
    for name, text in files:
        conf = _from_data(_load(text, name), _Where(name, text), conf)
    return conf


# -- where in the text --------------------------------------------------------------------

# tomllib keeps no positions. For error messages, a line scan finds table headers and
# ``key =`` lines: good enough for the way registries.conf files are written (one key a
# line, [[registry]] / [[registry.mirror]] / [aliases] headers). What it cannot find (an
# inline table, a dotted key) falls back to the enclosing entry, then to no line at all.
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]#]*?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")
_DECODE_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = " (at end of document)"

Table = tuple[Any, ...]  # () top level; ("registry", i); ("registry", i, "mirror", j); (name,)


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


def _scan(text: str) -> tuple[dict[Table, int], dict[tuple[Table, str], int]]:
    """(line of each table header, line of each key in its table), 1-based, first wins."""
    tables: dict[Table, int] = {}
    keys: dict[tuple[Table, str], int] = {}
    table: Table = ()
    registry = mirror = -1
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = ".".join(_unquote(part.strip()) for part in header.group(2).split("."))
            if header.group(1) == "[[" and name == "registry":
                registry, mirror = registry + 1, -1
                table = ("registry", registry)
            elif header.group(1) == "[[" and name == "registry.mirror":
                mirror += 1
                table = ("registry", registry, "mirror", mirror)
            else:
                table = (name,)
            tables.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            keys.setdefault((table, _unquote(key.group(1))), number)
    return tables, keys


class _Where:
    """A file's name and text: formats ``file:LINE: message`` for the first of the given
    places that the text shows, where a place is a table (``("registry", 0)``) or a key in
    one (``(("registry", 0), "prefix")``)."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self._scanned: tuple[dict[Table, int], dict[tuple[Table, str], int]] | None = None

    def line(self, *places: Any) -> int | None:
        if self._scanned is None:
            self._scanned = _scan(self.text)
        tables, keys = self._scanned
        for place in places:
            found = keys.get(place) if len(place) == 2 and isinstance(place[0], tuple) else None
            if found is None:
                found = tables.get(place)
            if found is not None:
                return found
        return None

    def error(self, message: str, *places: Any) -> RegistriesConfError:
        line = self.line(*places)
        return RegistriesConfError(
            f"{self.file}:{line}: {message}" if line else f"{self.file}: {message}"
        )


def _top(key: str) -> tuple[Table, str]:
    return ((), key)


# -- parsing -------------------------------------------------------------------------------


def _load(text: str, file: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _DECODE_POSITION.search(message)
        if position:
            line, column = position.groups()
            message = message[: position.start()]
            raise RegistriesConfError(f"{file}:{line}:{column}: {message}") from exc
        if message.endswith(_AT_END):
            last = max(1, len(text.splitlines()))  # the document's last line
            raise RegistriesConfError(f"{file}:{last}: {message[: -len(_AT_END)]}") from exc
        raise RegistriesConfError(f"{file}: {message}") from exc
    if isinstance(data.get("registries"), dict):
        where = _Where(file, text)
        raise where.error(
            "this is the v1 format ([registries.search]); "
            "convert it to v2 (unqualified-search-registries, [[registry]])",
            ("registries.search",),
            ("registries.insecure",),
            ("registries.block",),
            ("registries",),
            _top("registries"),
        )
    return data


def _from_data(data: dict[str, Any], where: _Where, base: RegistriesConf) -> RegistriesConf:
    search_raw = data.get("unqualified-search-registries")
    search = base.search
    search_key = _top("unqualified-search-registries")
    if search_raw is not None:
        if not isinstance(search_raw, list) or not all(isinstance(x, str) for x in search_raw):
            raise where.error("unqualified-search-registries must be a list of strings", search_key)
        for registry in search_raw:
            if "/" in registry or "://" in registry or not registry:
                raise where.error(
                    f"unqualified-search-registries: {registry!r} is not a registry host",
                    search_key,
                )
        search = tuple(search_raw)
    mode = data.get("short-name-mode", base.short_name_mode)
    if mode is not None and mode not in SHORT_NAME_MODES:
        raise where.error(
            f"short-name-mode must be one of {sorted(SHORT_NAME_MODES)}, not {mode!r}",
            _top("short-name-mode"),
        )
    helpers = data.get("credential-helpers")
    credential_helpers = base.credential_helpers
    if helpers is not None:
        if not isinstance(helpers, list) or not all(isinstance(h, str) for h in helpers):
            raise where.error(
                "credential-helpers must be a list of strings", _top("credential-helpers")
            )
        credential_helpers = tuple(helpers)
    registry_raw = data.get("registry", [])
    if not isinstance(registry_raw, list):
        raise where.error(
            "[[registry]] must be an array of tables", ("registry",), _top("registry")
        )
    entries = {entry.prefix: entry for entry in base.registries}
    for index, raw in enumerate(registry_raw):
        entry = _entry(raw, where, index)
        entries.pop(entry.prefix, None)
        entries[entry.prefix] = entry
    aliases_raw = data.get("aliases", {})
    if not isinstance(aliases_raw, dict):
        raise where.error("[aliases] must be a table", _top("aliases"), ("aliases",))
    aliases = dict(base.aliases)
    for name, value in aliases_raw.items():
        places = ((("aliases",), str(name)), ("aliases",), _top("aliases"))
        if not isinstance(value, str):
            raise where.error(f"[aliases] {name!r} must be a string", *places)
        try:
            target = parse_image_reference(value)
        except InvalidReference as exc:
            raise where.error(f"[aliases] {name!r}: {exc}", *places) from exc
        if target.registry is None or target.digest is not None:
            raise where.error(
                f"[aliases] {name!r}: {value!r} must be a fully qualified name "
                "(registry/repository[:tag]) without a digest",
                *places,
            )
        aliases[str(name)] = value
    return RegistriesConf(
        search=search,
        registries=tuple(entries.values()),
        aliases=aliases,
        short_name_mode=mode,
        credential_helpers=credential_helpers,
    )


def _mirror_error(where: _Where, index: int, m_index: int) -> Callable[..., RegistriesConfError]:
    """``fail(message, *keys)`` for mirror #m_index of [[registry]] #index."""
    table: Table = ("registry", index)
    m_table: Table = ("registry", index, "mirror", m_index)

    def fail(message: str, *keys: str) -> RegistriesConfError:
        return where.error(
            f"[[registry]] #{index + 1}: mirror #{m_index + 1} {message}",
            *((m_table, k) for k in keys),
            m_table,
            (table, "mirror"),
            table,
            _top("registry"),
        )

    return fail


def _entry(raw: object, where: _Where, index: int) -> RegistryEntry:
    table: Table = ("registry", index)
    entry_places = (table, _top("registry"))

    def fail(message: str, *keys: str) -> RegistriesConfError:
        return where.error(
            f"[[registry]] #{index + 1}: {message}", *((table, k) for k in keys), *entry_places
        )

    if not isinstance(raw, dict):
        raise fail("not a table")
    prefix = raw.get("prefix") or raw.get("location")
    location = raw.get("location") or prefix
    if not isinstance(prefix, str) or not isinstance(location, str) or not prefix:
        raise fail("needs a prefix or a location", "prefix", "location")
    for name, value in (("prefix", prefix), ("location", location)):
        if "://" in value:
            raise fail(
                f"{name} {value!r} must not have a scheme (use insecure = true for http)",
                name if name in raw else "prefix" if "prefix" in raw else "location",
            )
    if prefix.startswith("*."):
        if raw.get("location") and raw.get("location") != prefix:
            raise fail(f"a wildcard prefix {prefix!r} cannot have a location", "location")
        if "/" in prefix or "*" in prefix[2:]:
            raise fail(f"wildcard prefix {prefix!r} must look like *.example.com", "prefix")
    else:
        try:
            parse_image_reference(prefix if "/" in prefix else prefix + "/x")
        except InvalidReference as exc:
            raise fail(f"prefix {prefix!r}: {exc}", "prefix", "location") from exc
    mirrors: list[tuple[str, bool]] = []
    pulls: list[str] = []
    mirror_raw = raw.get("mirror", [])
    if not isinstance(mirror_raw, list):
        raise fail("[[registry.mirror]] must be an array of tables", "mirror")
    for m_index, mirror in enumerate(mirror_raw):
        mirror_fail = _mirror_error(where, index, m_index)
        if not isinstance(mirror, dict) or not isinstance(mirror.get("location"), str):
            raise mirror_fail("needs a location", "location")
        if "://" in mirror["location"]:
            raise mirror_fail("location must not have a scheme", "location")
        pull = mirror.get("pull-from-mirror", "all")
        if pull not in PULL_FROM_MIRROR:
            raise mirror_fail(
                f"pull-from-mirror must be one of {sorted(PULL_FROM_MIRROR)}, not {pull!r}",
                "pull-from-mirror",
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
