"""Docker/OCI image reference grammar: parsing, canonical text, search-registry candidates.

Owns: the grammar ``[registry[:port]/]repo/path[:tag][@sha256:hex]`` (as in distribution's
``reference`` package), docker.io normalisation (``library/`` for official images,
``index.docker.io`` as an alias) and the mapping from a registry name to the host that
actually serves its API.

Must not: do any I/O (network, files, environment, clock). Whether a reference *exists* is the
registry shell's business (``reconciler.registry``); this module only says whether it is
well formed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from reconciler.core.errors import EXIT_PROBLEMS, PermanentError
from reconciler.core.memo import pickled_by_fields

__all__ = [
    "DOCKER_HUB",
    "ImageReference",
    "InvalidReference",
    "candidates",
    "parse_image_reference",
    "registry_endpoint_host",
]

DOCKER_HUB = "docker.io"
# Names people write for Docker Hub; all mean DOCKER_HUB.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# Grammar pieces, following distribution/reference/regexp.go.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
# IPv6 literals must be bracketed, as in a URL authority.
_IPV6_DOMAIN_RE = re.compile(r"\[[0-9a-fA-F:]+\](?::[0-9]+)?")
_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
# distribution limits the whole name (domain + path) to 255 characters.
_NAME_TOTAL_LENGTH_MAX = 255


class InvalidReference(PermanentError, ValueError):
    """The text is not a well-formed image reference; the message says why."""


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference.

    ``registry`` is ``None`` for an unqualified name, which the caller must look up in its
    search registries (see :func:`candidates`). At least one of ``tag``/``digest`` may be
    missing; a reference with neither means "latest" to a puller, but we keep that decision
    with the caller instead of inventing a tag here.
    """

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def qualified(self, registry: str) -> ImageReference:
        """This reference placed in ``registry`` (docker.io official images get ``library/``)."""
        registry = _normalise_registry(registry)
        repository = self.repository
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        return replace(self, registry=registry, repository=repository)

    def with_digest(self, digest: str) -> ImageReference:
        """Same registry and repository, pinned to ``digest``; the tag is dropped."""
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidReference(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
        return replace(self, tag=None, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` (or just the repository when unqualified)."""
        if self.registry is None:
            return self.repository
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _normalise_registry(registry: str) -> str:
    # Registry host names are case-insensitive; one spelling keeps lockfile diffs stable.
    lowered = registry.lower()
    if lowered in _DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    return lowered


def _is_registry_component(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


@functools.lru_cache(maxsize=65536)  # a pass parses each reference several times
def parse_image_reference(text: str) -> ImageReference:
    """Parse ``text``; raise :class:`InvalidReference` saying what is wrong."""
    if not text:
        raise InvalidReference("empty image reference")
    if text != text.strip():
        raise InvalidReference(f"invalid image reference {text!r}: surrounding whitespace")

    remainder = text
    digest: str | None = None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidReference(
                f"invalid image reference {text!r}: digest {digest!r} is not sha256:<64 lowercase hex>"
            )

    tag: str | None = None
    # A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference(
                f"invalid image reference {text!r}: tag {tag!r} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
            )

    if not remainder:
        raise InvalidReference(f"invalid image reference {text!r}: missing repository name")
    if len(remainder) > _NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"invalid image reference {text!r}: name longer than {_NAME_TOTAL_LENGTH_MAX} characters"
        )

    registry: str | None = None
    first, slash, rest = remainder.partition("/")
    if slash and _is_registry_component(first):
        if not (_DOMAIN_RE.fullmatch(first) or _IPV6_DOMAIN_RE.fullmatch(first)):
            raise InvalidReference(f"invalid image reference {text!r}: bad registry host {first!r}")
        registry = _normalise_registry(first)
        repository = rest
    else:
        repository = remainder

    for component in repository.split("/"):
        if not _PATH_COMPONENT_RE.fullmatch(component):
            hint = " (repository names must be lowercase)" if component.lower() != component else ""
            raise InvalidReference(
                f"invalid image reference {text!r}: bad repository path component {component!r}{hint}"
            )

    ref = ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)
    if registry == DOCKER_HUB:
        ref = ref.qualified(DOCKER_HUB)
    return ref


def candidates(ref: ImageReference, search_registries: Sequence[str]) -> list[ImageReference]:
    """The qualified references to try for ``ref``, in search order.

    A qualified reference is its own only candidate. Duplicate registries in the search list
    (after normalisation, e.g. ``index.docker.io`` and ``docker.io``) are tried once.
    """
    if ref.registry is not None:
        return [ref]
    result: list[ImageReference] = []
    seen: set[str] = set()
    for registry in search_registries:
        normalised = _normalise_registry(registry)
        if normalised in seen:
            continue
        seen.add(normalised)
        result.append(ref.qualified(normalised))
    return result


def registry_endpoint_host(registry: str) -> str:
    """The host[:port] serving the registry API: Docker Hub's API is not at docker.io."""
    if _normalise_registry(registry) == DOCKER_HUB:
        return "registry-1.docker.io"
    return registry


DIGEST_PREFIX_MIN = 7  # hex characters after "sha256:", like git's and oc's short ids
_DIGEST_PREFIX = re.compile(r"sha256:[0-9a-f]{0,63}")


def expand_digest(text: str, known: Iterable[str], what: str) -> str:
    """``sha256:`` and at least DIGEST_PREFIX_MIN hex characters of a digest: the one digest
    of ``known`` that starts so. A full digest, anything that is not a sha256 digest or a
    prefix of no known digest comes back unchanged, for the caller to report as not found.
    A prefix that is too short or matches several digests is a PermanentError (exit 1) naming
    ``what`` (and the candidates)."""
    if not _DIGEST_PREFIX.fullmatch(text):
        return text
    if len(text) - len("sha256:") < DIGEST_PREFIX_MIN:
        raise PermanentError(
            f"{what}: a short digest needs at least {DIGEST_PREFIX_MIN} hex characters after "
            "sha256:",
            exit_code=EXIT_PROBLEMS,
        )
    matches = sorted({digest for digest in known if digest.startswith(text)})
    if len(matches) > 1:
        raise PermanentError(
            f"{what}: {text} is ambiguous, it starts {len(matches)} digests: " + ", ".join(matches),
            exit_code=EXIT_PROBLEMS,
        )
    return matches[0] if matches else text
