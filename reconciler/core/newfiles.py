"""New manifest files for the verbs that create them (``import-image`` and ``tag`` for a
new stream, ``new-app``): plain data written as YAML in a file's style (see
``reconciler.core.editing.Style``), quoting only what would not read back as a string.

Pure: data in, text out. Must not read or write files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.core.editing import DEFAULT_STYLE, Style, dump_documents, scalar


def _to_commented(value: Any, quote: str) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _to_commented(item, quote)
        return out
    if isinstance(value, list):
        seq = CommentedSeq()
        seq.extend(_to_commented(item, quote) for item in value)
        return seq
    if isinstance(value, str):
        # A value holding double quotes and no single ones (JSON, as in an annotation) reads
        # best single-quoted, as oc and kubectl print it.
        return scalar(value, "'" if '"' in value and "'" not in value else quote)
    return value


def new_file_text(
    objects: Sequence[Mapping[str, Any]], style: Style = DEFAULT_STYLE, header: str = ""
) -> str:
    """A new manifest file holding ``objects`` (several become YAML documents)."""
    documents = [_to_commented(obj, style.quote) for obj in objects]
    body = dump_documents(documents, style, explicit_start=False)
    return header + body


def new_stream(name: str, namespace: str | None) -> dict[str, Any]:
    """A new ImageStream as plain data, for :func:`new_file_text`: ``namespace`` is
    written only when given, ``lookupPolicy.local`` is false."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": metadata,
        "spec": {"lookupPolicy": {"local": False}},
    }
