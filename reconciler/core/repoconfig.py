"""The repository's own settings, read from ``.reconciler.yaml`` at the repo root:
the default namespace, the local (in-cluster) registry path used by
``referencePolicy: Local`` and by build outputs, which ImageStreamTags live outside
the repo (on the cluster) so that references to them are not errors, and whether the
pass writes pinned images back into the manifests (``writeBack``), and which images
must be signed, by which public keys, before they are pinned (``signatures``: see
``reconciler.core.signatures``).

Machine settings (credentials, registries.conf, work directories) never live here: the
repo is shared, the machine is not.

Pure: parses the file's text, problems as violations (never raised); reading the file is
the pass's job.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML

from reconciler.core import yamlguard
from reconciler.core.secrets import PullSecretLinks, parse_pull_secret_links
from reconciler.core.signatures import SignatureConfig, parse_signature_config
from reconciler.core.violations import Violation

# OpenShift's internal registry, as pods in the cluster reach it.
DEFAULT_LOCAL_REGISTRY = "image-registry.openshift-image-registry.svc:5000"
# A namespace name, as metadata.namespace is checked (schemas/common.json dns1123Label).
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_KNOWN_KEYS = {
    "defaultNamespace",
    "localRegistry",
    "localRegistryInsecure",
    "external",
    "pullSecrets",
    "writeBack",
    "signatures",
}


@dataclass(frozen=True)
class RepoConfig:
    """The settings of ``.reconciler.yaml`` with defaults applied; ``RepoConfig()`` is
    what a repo without the file gets."""

    default_namespace: str = "default"
    local_registry: str = DEFAULT_LOCAL_REGISTRY
    # The local registry is reached over plain HTTP (a test or dev registry).
    local_registry_insecure: bool = False
    # "namespace/stream:tag" patterns (fnmatch) for ImageStreamTags kept on the cluster.
    external: tuple[str, ...] = field(default_factory=tuple)
    # The equivalent of `oc secrets link`: which pull secret *names* each namespace's
    # imports use. The secrets' contents stay on the reconciling machine.
    pull_secrets: PullSecretLinks = field(default_factory=PullSecretLinks)
    # Write each followed tag's pinned image into the field its trigger names (a
    # workload's fieldPath, a DeploymentConfig's containerNames, a BuildConfig's
    # DockerImage strategy image), as OpenShift's trigger controllers do on a cluster.
    write_back: bool = False
    # The signed-image gate: public keys in the repo, and which tags require a signature.
    signatures: SignatureConfig = field(default_factory=SignatureConfig)

    def is_external(self, namespace: str, stream: str, tag: str) -> bool:
        """Whether ``namespace/stream:tag`` matches an ``external`` pattern (fnmatch,
        case-sensitive): a tag kept on the cluster, which references may name."""
        key = f"{namespace}/{stream}:{tag}"
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.external)


def parse_repo_config(text: str, file: str) -> tuple[RepoConfig, list[Violation]]:
    """Parse ``.reconciler.yaml``. Problems are violations; the defaults stand in for a
    field that is wrong, so a typo there never stops validation of the manifests."""
    refused = yamlguard.check_yaml(text)
    if refused is not None:
        return RepoConfig(), [
            Violation(file, refused.line, refused.column, "", "", refused.message)
        ]
    yaml = YAML(typ="rt")
    try:
        data: Any = yaml.load(text)
    except yamlguard.LOAD_ERRORS as exc:
        error = yamlguard.describe_error(exc, text)
        return RepoConfig(), [Violation(file, error.line, error.column, "", "", error.message)]
    if data is None:
        return RepoConfig(), []
    if not isinstance(data, dict):
        return RepoConfig(), [Violation(file, 1, 1, "", "", "must be a mapping")]

    problems: list[Violation] = []

    def where(key: str) -> tuple[int, int]:
        try:
            lc: Any = data.lc  # type: ignore[attr-defined]
            line, col = lc.key(key)
            return int(line) + 1, int(col) + 1
        except Exception:
            return 1, 1

    def bad(key: str, message: str) -> None:
        line, col = where(key)
        problems.append(Violation(file, line, col, "", key, message))

    for key in data:
        if key not in _KNOWN_KEYS:
            bad(str(key), f"unknown setting (known: {', '.join(sorted(_KNOWN_KEYS))})")

    values: dict[str, Any] = {}
    ns = data.get("defaultNamespace", "default")
    if not isinstance(ns, str) or not ns:
        bad("defaultNamespace", "must be a non-empty string")
    elif len(ns) > 63 or not _NAMESPACE.fullmatch(ns):
        bad(
            "defaultNamespace",
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and "
            f"ending with a letter or digit, at most 63 characters (got {ns!r})",
        )
    else:
        values["default_namespace"] = ns
    reg = data.get("localRegistry", DEFAULT_LOCAL_REGISTRY)
    if isinstance(reg, str) and reg:
        values["local_registry"] = reg.rstrip("/")
    else:
        bad("localRegistry", "must be a registry host[:port][/path]")
    insecure = data.get("localRegistryInsecure", False)
    if isinstance(insecure, bool):
        values["local_registry_insecure"] = insecure
    else:
        bad("localRegistryInsecure", "must be true or false")
    external = data.get("external", [])
    if isinstance(external, list) and all(isinstance(e, str) for e in external):
        values["external"] = tuple(external)
    else:
        bad("external", 'must be a list of "namespace/stream:tag" patterns')
    write_back = data.get("writeBack", False)
    if isinstance(write_back, bool):
        values["write_back"] = write_back
    else:
        bad("writeBack", "must be true or false")
    links, link_problems = parse_pull_secret_links(data.get("pullSecrets"))
    for problem in link_problems:
        bad("pullSecrets", problem)
    values["pull_secrets"] = links
    values["signatures"], signature_problems = parse_signature_config(data, file)
    problems.extend(signature_problems)
    return RepoConfig(**values), problems
