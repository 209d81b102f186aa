"""Which pull secrets an import into a namespace uses, and, when a registry refuses or
asks for credentials, why each secret the machine holds did or did not apply.

As OpenShift's importer does (openshift/openshift-apiserver
``pkg/image/apiserver/registry/imagesecret/rest.go``: every secret of the namespace of
type ``kubernetes.io/dockercfg`` or ``kubernetes.io/dockerconfigjson``, except those
annotated ``openshift.io/image.excludeSecret: "true"``; ``imagestreamimport/rest.go``
hands them all to the importer), an import uses every pull secret of its stream's
namespace (``metadata.namespace``), with no ``oc secrets link`` needed: linking is for
pods. A secret without ``metadata.namespace`` (a mounted secret volume, or YAML written
without one) belongs to no namespace: it is used where ``.reconciler.yaml``
``pullSecrets`` links it. Linked secrets come first, in the order given, then the
namespace's others by name.

Secrets are keyed ``namespace/name`` (``name`` when they have no namespace), so two
namespaces may each hold a secret of the same name.

Must not: put a password or token into a message (only names, namespaces and the
registry keys a secret holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.registry.credentials import AuthConfig, lookup_keys, normalise_key

EXCLUDE_ANNOTATION = "openshift.io/image.excludeSecret"
_SHOWN = 12  # secrets named in one explanation at most


def secret_key(name: str, namespace: str | None) -> str:
    """How the store keys a secret: ``namespace/name``, or ``name`` without a namespace."""
    return f"{namespace}/{name}" if namespace else name


def secrets_for(
    secrets: Mapping[str, AuthConfig], namespace: str, linked: Sequence[str] = ()
) -> tuple[str, ...]:
    """The keys of the secrets an import into ``namespace`` uses, in order: the
    ``linked`` names (the namespace's own secret of that name, else one without a
    namespace), then every other secret of the namespace not excluded, by name."""
    chosen: list[str] = []
    for name in linked:
        for key in (secret_key(name, namespace), name):
            config = secrets.get(key)
            if config is not None and config.namespace in (None, namespace):
                chosen.append(key)
                break
    for key in sorted(secrets):
        config = secrets[key]
        if config.namespace == namespace and not config.excluded and key not in chosen:
            chosen.append(key)
    return tuple(dict.fromkeys(chosen))


def explain(
    secrets: Mapping[str, AuthConfig],
    registry: str,
    repository: str | None,
    *,
    chosen: Sequence[str],
    namespace: str | None,
    logical_registry: str | None = None,
) -> list[str]:
    """For each pull secret the machine holds, why it applied or not to a request for
    ``registry/repository`` from ``namespace`` (``chosen`` are the keys it used).
    ``logical_registry`` is the name the manifest gave when ``registry`` is a mirror or a
    rewritten location of it."""
    wanted = set(lookup_keys(registry, repository))
    logical = (
        set(lookup_keys(logical_registry, repository))
        if logical_registry and normalise_key(logical_registry) != normalise_key(registry)
        else set()
    )
    lines: list[str] = []
    for key in sorted(secrets, key=lambda k: (k not in chosen, k)):
        config = secrets[key]
        keys = sorted(config.auths)
        what = f"pull secret {key}"
        if key in chosen:
            if wanted & set(keys):
                lines.append(f"{what}: has credentials for {', '.join(sorted(wanted & set(keys)))}")
            elif logical & set(keys):
                lines.append(
                    f"{what}: keyed by {', '.join(sorted(logical & set(keys)))}, but the request "
                    "went to a mirror location of it (a registries.conf mirror or location: "
                    "credentials are looked up by the location asked, as containers tools do; "
                    "add that host to the secret)"
                )
            else:
                held = ", ".join(keys) if keys else "no registry (credential helpers only)"
                lines.append(f"{what}: keyed by another host ({held})")
        elif config.namespace and namespace and config.namespace != namespace:
            lines.append(f"{what}: in namespace {config.namespace}, not {namespace}")
        elif config.excluded:
            lines.append(f'{what}: annotated {EXCLUDE_ANNOTATION}: "true"')
        elif not config.namespace:
            where = f"to {namespace} " if namespace else ""
            lines.append(
                f"{what}: not linked {where}(it has no metadata.namespace: name it under "
                "pullSecrets in .reconciler.yaml, or give it the stream's namespace)"
            )
        else:
            lines.append(f"{what}: not used for this request")
    if len(lines) > _SHOWN:
        lines = [*lines[:_SHOWN], f"and {len(lines) - _SHOWN} more pull secrets"]
    return lines
