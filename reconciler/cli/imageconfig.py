"""Reading a pinned image's config blob from its registry, for the verbs that show or use
what an image declares: ``new-app`` (exposed ports, labels, volumes) and ``describe
isimage``/``istag`` (all of it, as ``oc describe`` prints an Image). The pinned pull spec
is asked first, then the source repository by digest; through registries.conf, with the
machine's credentials and the pull secrets of the stream's namespace."""

from __future__ import annotations

from reconciler.config.settings import Settings
from reconciler.core.lockfile import TagLock
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.models import ImageConfig, ResolveRequest
from reconciler.registry.places import first_answer, locations


def candidates(image: str | None, resolved_from: str | None, digest: str) -> list[str]:
    """Where to read the config: the pinned pull spec, then the source repository."""
    out = [image] if image else []
    if resolved_from:
        try:
            source = parse_image_reference(resolved_from)
            out.append(f"{source.name}@{digest}")
        except InvalidReference:
            pass  # an alias: its resolved_from is a tag, not an image
    return list(dict.fromkeys(out))


def read_image_config(
    client: RegistryClient,
    settings: Settings,
    entry: TagLock,
    digest: str,
    image: str | None,
    pull_secrets: tuple[str, ...],
    namespace: str | None = None,
) -> tuple[ImageConfig | None, list[str]]:
    """The config of ``digest`` (pinned as ``image`` by the tag ``entry``), or None and
    why each place failed (``<image>: <reason>: <message>``)."""
    errors: list[str] = []
    for candidate in candidates(image, entry.resolved_from, digest):
        try:
            places = locations(
                candidate, settings.registries, entry.source.insecure, settings.allowed
            )
            _, found = first_answer(
                places,
                lambda p: client.image_config(
                    ResolveRequest(
                        p.endpoint,
                        insecure=p.insecure,
                        platform=settings.platform,
                        pull_secrets=pull_secrets,
                        namespace=namespace,
                        logical_registry=p.logical.registry,
                    )
                ),
            )
            return found, errors
        except ResolveError as exc:
            errors.append(f"{candidate}: {exc.reason}: {exc.message}")
    return None, errors
