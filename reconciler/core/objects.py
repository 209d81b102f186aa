"""The objects the reconciler reads from manifests, as data: which kinds those are,
what identifies one (``ObjectKey``), and one object as written (``ManifestObject``: its
body, the file, line and column of every field, and the text of its file).

Pure data: parsing YAML into these is ``reconciler.core.manifests``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.memo import pickled_by_fields
from reconciler.core.violations import Path, Violation, render_path

IMAGE_STREAM = "ImageStream"
BUILD_CONFIG = "BuildConfig"
DEPLOYMENT_CONFIG = "DeploymentConfig"
# Kubernetes workloads: consumers through the image.openshift.io/triggers annotation, or
# through a container image that names a stream with local lookup.
DEPLOYMENT = "Deployment"
STATEFUL_SET = "StatefulSet"
DAEMON_SET = "DaemonSet"
REPLICA_SET = "ReplicaSet"
JOB = "Job"
CRON_JOB = "CronJob"
WORKLOAD_KINDS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB, CRON_JOB)
# The kinds we read; documents of other kinds are counted and ignored.
KINDS = (IMAGE_STREAM, BUILD_CONFIG, DEPLOYMENT_CONFIG, *WORKLOAD_KINDS)
# How `oc` abbreviates the consumer kinds (record ids, messages for people).
SHORT_KINDS = {
    BUILD_CONFIG: "bc",
    DEPLOYMENT_CONFIG: "dc",
    DEPLOYMENT: "deploy",
    STATEFUL_SET: "sts",
    DAEMON_SET: "ds",
    REPLICA_SET: "rs",
    JOB: "job",
    CRON_JOB: "cj",
}


JSON = Any  # dict[str, JSON] | list[JSON] | str | int | float | bool | None


@pickled_by_fields
@dataclass(frozen=True, order=True, slots=True)
class ObjectKey:
    """What identifies an object in the repo: kind, namespace, name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@pickled_by_fields
@dataclass(frozen=True, eq=False, slots=True, weakref_slot=True)
class ManifestObject:
    """One object of a kind in :data:`KINDS`, as written. Compared and hashed by
    identity: two objects are the same only if they are the same place in a file.

    ``body`` is plain JSON data (dicts, lists, scalars); ``positions`` maps a field path
    inside ``body`` to its 1-based (line, column) in ``file`` (of the key, for a mapping
    value); ``source`` is the text of the whole file, for finding places inside a scalar
    (the JSON of an annotation) and for editing it.
    """

    file: str
    document: int  # 0-based index of the YAML document in the file
    base: Path  # where the object sits in its document: () or ("items", 3) or ("objects", 1)
    body: dict[str, JSON]
    positions: Mapping[Path, tuple[int, int]] = field(repr=False, compare=False)
    default_namespace: str = "default"
    in_template: bool = False  # inside a Template: ${PARAM} may stand for any scalar
    source: str = field(default="", repr=False, compare=False)

    @property
    def kind(self) -> str:
        """``kind``, or "" when missing."""
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        """``apiVersion``, or "" when missing."""
        return str(self.body.get("apiVersion", ""))

    @property
    def metadata(self) -> dict[str, JSON]:
        """``metadata``, or {} when missing or not a mapping."""
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        """``metadata.name``, or "" when missing or not a string."""
        name = self.metadata.get("name")
        return name if isinstance(name, str) else ""

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, or the repo's default namespace when unset or empty."""
        ns = self.metadata.get("namespace")
        return ns if isinstance(ns, str) and ns else self.default_namespace

    @property
    def key(self) -> ObjectKey:
        """The (kind, namespace, name) that identifies the object, namespace defaulted."""
        return ObjectKey(self.kind, self.namespace, self.name)

    @property
    def display(self) -> str:
        """``Kind/namespace/name``, as messages and violations name the object."""
        return str(self.key)

    @property
    def spec(self) -> dict[str, JSON]:
        """``spec``, or {} when missing or not a mapping."""
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    def locate(self, path: Path) -> tuple[int, int]:
        """Line and column of ``path`` (relative to the object), or of its nearest
        ancestor that exists (a missing field is reported where it should have been)."""
        full = self.base + tuple(path)
        while full:
            pos = self.positions.get(full)
            if pos is not None:
                return pos
            full = full[:-1]
        return self.positions.get((), (1, 1))

    def value(self, path: Path) -> Any:
        """The value at ``path`` (relative to the object), or None when it is not there."""
        body: Any = self.body
        for part in path:
            if isinstance(body, dict) and isinstance(part, str):
                body = body.get(part)
            elif isinstance(body, list) and isinstance(part, int) and part < len(body):
                body = body[part]
            else:
                return None
        return body

    def violation(self, path: Path, message: str, severity: str = "error") -> Violation:
        """A Violation about ``path`` (relative to the object), placed by :meth:`locate`.
        ``severity`` "warning" makes a warning; anything else an error."""
        line, col = self.locate(path)
        return Violation(
            file=self.file,
            line=line,
            column=col,
            object=self.display,
            path=render_path(path),
            message=message,
            severity="warning" if severity == "warning" else "error",
        )

    def violation_at(
        self, where: tuple[int, int], path: Path, message: str, severity: str = "error"
    ) -> Violation:
        """A Violation about ``path`` placed at ``where`` (line, column): a place inside
        a scalar, which positions do not hold."""
        return Violation(
            file=self.file,
            line=where[0],
            column=where[1],
            object=self.display,
            path=render_path(path),
            message=message,
            severity="warning" if severity == "warning" else "error",
        )
