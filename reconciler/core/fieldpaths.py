"""The ``fieldPath`` of an ``image.openshift.io/triggers`` entry: the small JSONPath
subset OpenShift's trigger controller understands, parsed without a JSONPath library,
and the container it names in a workload's pod template.

The forms, as OpenShift's ``ContainerForObjectFieldPath`` reads them: the pod spec's own
path (``spec.template.spec``; ``spec.jobTemplate.spec.template.spec`` for a CronJob),
then ``containers[SELECTOR]`` or ``initContainers[SELECTOR]``, then ``.image``. The
selector is an index (``[0]``) or a name (``[?(@.name=="web")]``, double quotes, no
spaces). As there, a name is looked for among the init containers first, then the
containers, whichever list the path names.

Pure: text in, data or a ``FieldPathError`` (with the offset of the fault) out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.objects import CRON_JOB
from reconciler.core.violations import Path, render_path

POD_SPEC = ("spec", "template", "spec")
CRON_JOB_POD_SPEC = ("spec", "jobTemplate", "spec", "template", "spec")
_INDEX = re.compile(r"[0-9]{1,6}")
_BY_NAME = re.compile(r'\?\(@\.name=="([^"]*)"\)')


class FieldPathError(ValueError):
    """A fieldPath the trigger controller cannot follow; ``offset`` is where it goes
    wrong in the text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class FieldPath:
    """A parsed fieldPath: which list (``initContainers`` when ``init``) and which
    container in it, by ``index`` or by ``name`` (exactly one is set)."""

    text: str
    init: bool
    index: int | None
    name: str | None

    @property
    def selector(self) -> str:
        """How the container is named, for messages: ``"web"`` or ``index 0``."""
        return f"{self.name!r}" if self.name is not None else f"index {self.index}"


def pod_spec_path(kind: str) -> Path:
    """Where the pod spec stands in an object of ``kind``."""
    return CRON_JOB_POD_SPEC if kind == CRON_JOB else POD_SPEC


def parse_field_path(text: str, kind: str) -> FieldPath:
    """``text`` as a fieldPath of an object of ``kind``. Raises FieldPathError."""
    prefix = render_path(pod_spec_path(kind)) + "."
    if not text.startswith(prefix):
        common = 0
        while common < min(len(text), len(prefix)) and text[common] == prefix[common]:
            common += 1
        raise FieldPathError(f"must start with {prefix!r} for a {kind}", common)
    at = len(prefix)
    rest = text[at:]
    if rest.startswith("containers["):
        init, at = False, at + len("containers[")
    elif rest.startswith("initContainers["):
        init, at = True, at + len("initContainers[")
    else:
        raise FieldPathError(
            f"after {prefix!r} must come 'containers[...]' or 'initContainers[...]'", at
        )
    close = text.find("]", at)
    if close < 0:
        raise FieldPathError("']' is missing after the container selector", len(text))
    selector = text[at:close]
    index: int | None = None
    name: str | None = None
    by_name = _BY_NAME.fullmatch(selector)
    if _INDEX.fullmatch(selector):
        index = int(selector)
    elif by_name:
        name = by_name.group(1)
    else:
        raise FieldPathError(
            f"container selector {selector!r} must be an index ([0]) or "
            '?(@.name=="NAME"), with double quotes and no spaces',
            at,
        )
    if text[close + 1 :] != ".image":
        raise FieldPathError("must end with '.image' after the container", close + 1)
    return FieldPath(text=text, init=init, index=index, name=name)


def _containers(pod_spec: Mapping[str, Any], key: str) -> list[Any]:
    found = pod_spec.get(key)
    return found if isinstance(found, list) else []


def container_of(body: Mapping[str, Any], kind: str, path: FieldPath) -> Path | None:
    """The path (in ``body``) of the container ``path`` names, or None when the pod
    template has no such container."""
    spec: Any = body
    for part in pod_spec_path(kind):
        spec = spec.get(part) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return None
    base = pod_spec_path(kind)
    if path.index is not None:
        key = "initContainers" if path.init else "containers"
        items = _containers(spec, key)
        if path.index < len(items) and isinstance(items[path.index], dict):
            return (*base, key, path.index)
        return None
    for key in ("initContainers", "containers"):
        for i, item in enumerate(_containers(spec, key)):
            if isinstance(item, dict) and item.get("name") == path.name:
                return (*base, key, i)
    return None


def container_names(body: Mapping[str, Any], kind: str) -> list[str]:
    """The names of the pod template's containers and init containers, for messages."""
    spec: Any = body
    for part in pod_spec_path(kind):
        spec = spec.get(part) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    return [
        str(item.get("name"))
        for key in ("containers", "initContainers")
        for item in _containers(spec, key)
        if isinstance(item, dict) and item.get("name")
    ]
