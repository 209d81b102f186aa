"""What an ImageStream says about each of its tags, as typed values.

Owns the reading of ``spec.tags[]`` (``from``, ``importPolicy``, ``referencePolicy``,
``reference``) and of ImageStreamTag / ImageStreamImage names. Assumes the object passed
schema validation; anything still odd is read leniently (defaults), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.manifests import ManifestObject
from reconciler.core.memo import per_object, pickled_by_fields
from reconciler.core.violations import Path

# The values of from.kind, importPolicy.importMode and referencePolicy.type we read.
DOCKER_IMAGE = "DockerImage"
IMAGE_STREAM_TAG = "ImageStreamTag"
IMAGE_STREAM_IMAGE = "ImageStreamImage"
LEGACY = "Legacy"
PRESERVE_ORIGINAL = "PreserveOriginal"
SOURCE = "Source"
LOCAL = "Local"


@pickled_by_fields
@dataclass(frozen=True, order=True, slots=True)
class TagRef:
    """The address of an image stream tag: namespace, stream, tag."""

    namespace: str
    stream: str
    tag: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.stream}:{self.tag}"


def parse_istag_name(name: str, namespace: str) -> TagRef | None:
    """``"nodejs:16"`` in ``namespace`` -> TagRef. A missing tag means ``latest`` (as
    OpenShift's build controller reads it). None when the name is not stream[:tag]."""
    stream, sep, tag = name.partition(":")
    if not stream or "@" in name or "/" in stream or (sep and (not tag or ":" in tag)):
        return None
    return TagRef(namespace, stream, tag if sep else "latest")


def parse_isimage_name(name: str) -> tuple[str, str] | None:
    """``"nodejs@sha256:abc..."`` -> ("nodejs", "sha256:abc...")."""
    stream, sep, digest = name.partition("@")
    if not sep or not stream or not digest.startswith("sha256:") or len(digest) != 71:
        return None
    return stream, digest


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class TagSpec:
    """One ``spec.tags[]`` entry, with defaults applied."""

    ref: TagRef
    from_kind: str | None  # None: no ``from`` (the tag is filled by pushes, e.g. builds)
    from_name: str
    from_namespace: str | None
    scheduled: bool
    insecure: bool
    import_mode: str
    reference_policy: str
    reference: bool  # ``reference: true``: a pointer only, never imported
    index: int  # position in spec.tags
    path: Path  # the tag's path inside the object, for messages

    @property
    def from_path(self) -> Path:
        """The path of the tag's ``from`` inside the object, for messages."""
        return (*self.path, "from")

    def target(self) -> TagRef | None:
        """The tag this one follows, for an ImageStreamTag alias."""
        if self.from_kind != IMAGE_STREAM_TAG:
            return None
        return alias_target(self.ref, self.from_name, self.from_namespace)


def alias_target(ref: TagRef, name: str, namespace: str | None) -> TagRef | None:
    """Where a spec tag's ImageStreamTag ``from`` points. A bare name is another tag of
    the same stream (``latest`` from ``"3.2"`` is this stream's 3.2), as OpenShift reads it."""
    if ":" not in name:
        if not name or "@" in name or "/" in name:
            return None
        return TagRef(namespace or ref.namespace, ref.stream, name)
    return parse_istag_name(name, namespace or ref.namespace)


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def stream_tags(stream: ManifestObject) -> list[TagSpec]:
    """The ``spec.tags[]`` entries of ``stream`` in manifest order, defaults applied
    (``Legacy``, ``Source``, flags false). An entry without a name is skipped. Lenient:
    never raises. Read once per parsed object (a pass asks several times)."""
    return list(_stream_tags(stream, None))


@per_object
def _stream_tags(stream: ManifestObject, _: object) -> tuple[TagSpec, ...]:
    tags = stream.spec.get("tags")
    if not isinstance(tags, list):
        return ()
    out: list[TagSpec] = []
    for index, raw in enumerate(tags):
        tag = _dict(raw)
        name = tag.get("name")
        if not isinstance(name, str) or not name:
            continue
        source = _dict(tag.get("from"))
        kind = source.get("kind")
        import_policy = _dict(tag.get("importPolicy"))
        reference_policy = _dict(tag.get("referencePolicy"))
        namespace = source.get("namespace")
        mode = import_policy.get("importMode")
        policy = reference_policy.get("type")
        out.append(
            TagSpec(
                ref=TagRef(stream.namespace, stream.name, name),
                from_kind=kind if isinstance(kind, str) and kind else None,
                from_name=str(source.get("name") or ""),
                from_namespace=namespace if isinstance(namespace, str) and namespace else None,
                scheduled=import_policy.get("scheduled") is True,
                insecure=import_policy.get("insecure") is True,
                import_mode=mode if mode in (LEGACY, PRESERVE_ORIGINAL) else LEGACY,
                reference_policy=policy if policy in (SOURCE, LOCAL) else SOURCE,
                reference=tag.get("reference") is True,
                index=index,
                path=("spec", "tags", index),
            )
        )
    return tuple(out)
