"""The registry client a command or the daemon uses, built from the settings: here, where
the configuration and the registry shells meet, so that neither imports the other and
reading the configuration does not load the HTTP stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.config.settings import Settings
from reconciler.core.repoconfig import RepoConfig
from reconciler.registry.limits import RegistryLimits

if TYPE_CHECKING:  # httpx loads when a client is built, not with the secret names
    from reconciler.registry.client import RegistryClient


def tag_list_file(settings: Settings) -> Path:
    """Where the CLI keeps tag lists between runs (the daemon keeps them in memory)."""
    from reconciler.registry.tagcache import FILE_NAME

    return settings.cache_dir / "taglists" / FILE_NAME


def registry_client(settings: Settings, *, tag_list_file: Path | None = None) -> RegistryClient:
    """The one registry client a command or the daemon uses, built from the settings.
    ``tag_list_file``: keep tag lists in that file between runs (the CLI); without it,
    in memory for the client's life (the daemon)."""
    from reconciler.registry.client import RegistryClient
    from reconciler.registry.tagcache import TagListCache

    return RegistryClient(
        max_concurrency=settings.max_concurrency,
        timeout=settings.timeout,
        verify=settings.verify,
        credentials=settings.credentials,
        default_limits=RegistryLimits(
            max_concurrency=settings.registry_concurrency,
            requests_per_second=settings.registry_rate,
        ),
        tag_lists=TagListCache(tag_list_file),
        tag_list_budget=settings.tag_list_budget,
        tag_list_max_age=settings.tag_list_max_age,
    )


def import_secret_names(config: RepoConfig, settings: Settings, namespace: str) -> tuple[str, ...]:
    """The pull secrets an import into ``namespace`` uses, in order: those the repo links
    to it (``pullSecrets``), then every other one of that namespace the machine holds, as
    OpenShift's importer uses every pull secret of the stream's namespace (see
    :mod:`reconciler.registry.secretchoice`)."""
    linked = config.pull_secrets.for_namespace(namespace)
    if settings.credentials is None:
        return linked
    return settings.credentials.secrets_for(namespace, linked)
