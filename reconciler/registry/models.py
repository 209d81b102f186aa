"""What one asks the registry client and what it answers: plain data.

Owns: :class:`ResolveRequest` (a qualified reference plus how to fetch it), :class:`Resolved`
(the digest to pin) and :class:`ImageConfig` (what ``new-app`` reads from a config blob), and
the set of import modes the client understands.

Must not: import httpx or do I/O, so that code holding these values does not load the HTTP
client. They stay beside the client rather than in ``reconciler.core`` because they are the
client's call shape (plain-HTTP flag, pull secret names); the core has its own vocabulary
for the same ideas (``core.plan.ImportRequest``/``Resolution``, ``core.newapp.ImageConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.platforms import Platform
from reconciler.core.references import ImageReference

__all__ = ["IMPORT_MODES", "ImageConfig", "ResolveRequest", "Resolved"]

IMPORT_MODES = frozenset({"Legacy", "PreserveOriginal"})


@dataclass(frozen=True)
class ResolveRequest:
    """One thing to resolve: a qualified reference with a tag or a digest.

    ``pull_secrets`` names the pull secrets of the tag's namespace (linked ones first);
    they are consulted before the machine-wide auth files.
    ``known_digest`` is the digest the caller has pinned for this reference already: a HEAD
    naming it confirms it without reading the manifest again; any other digest is read
    (fetched by digest, checked, parsed) before it is answered.
    """

    reference: ImageReference
    insecure: bool = False
    import_mode: str = "Legacy"
    platform: Platform = field(default_factory=Platform)
    pull_secrets: tuple[str, ...] = ()
    known_digest: str | None = None
    # For messages only: the namespace the request is made for (which secrets did not
    # apply, and why), and the registry name the manifest gave when ``reference`` is a
    # mirror or rewritten location of it.
    namespace: str | None = None
    logical_registry: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Resolved:
    """The outcome of a successful resolve.

    ``digest`` is what gets pinned; ``index_digest`` is set when ``Legacy`` picked a child of
    an index (so a reviewer can see which list it came from).
    """

    digest: str
    media_type: str
    index_digest: str | None = None


@dataclass(frozen=True)
class ImageConfig:
    """What ``new-app`` wants from an image's config blob."""

    digest: str  # the single-platform manifest's digest
    config_digest: str
    created: str | None
    os: str | None
    architecture: str | None
    variant: str | None
    labels: dict[str, str]
    exposed_ports: tuple[str, ...]
    env: tuple[str, ...]
    user: str | None
    working_dir: str | None
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    volumes: tuple[str, ...] = ()
