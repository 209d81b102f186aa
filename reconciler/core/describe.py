"""The text of ``reconciler describe is``, laid out as ``oc describe is`` prints it, and
of ``describe isimage``/``istag``, laid out as oc prints an Image.

Pure: a view and ``now`` in, text out. Owns the layout only: what a stream holds is
worked out in ``reconciler.core.views``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.lockdiff import picked
from reconciler.core.streams import (
    DOCKER_IMAGE,
    IMAGE_STREAM_IMAGE,
    IMAGE_STREAM_TAG,
    LOCAL,
)
from reconciler.core.times import ago
from reconciler.core.views import StreamView, TagView


def _source_line(tag: TagView) -> str:
    kind, name = tag.from_kind, tag.from_name
    if tag.from_namespace and kind in (IMAGE_STREAM_TAG, IMAGE_STREAM_IMAGE):
        name = f"{tag.from_namespace}/{name}"
    if tag.spec is None and tag.lock is not None and kind != "Push":
        return "  no spec tag (removed from the manifests; the lock keeps its history)"
    if kind is None or kind == "Push":
        return "  tag without source image (pushed by builds)"
    if kind == DOCKER_IMAGE:
        if tag.reference:
            return f"  reference to registry {name}"
        if tag.scheduled:
            return f"  updates automatically from registry {name}"
        return f"  tagged from {name}"
    if kind == IMAGE_STREAM_TAG:
        if tag.reference:
            return f"  reference to {name}"
        return f"  tagged from {name}"
    if kind == IMAGE_STREAM_IMAGE:
        if tag.reference:
            return f"  reference to image {name}"
        return f"  tagged from {name}"
    return f"  tagged from {kind} {name}"


def _table(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows) + 1 + 2
    out: list[str] = []
    for label, value in rows:
        lines = value.split("\n")
        out.append(f"{label + ':':<{width}}{lines[0]}".rstrip())
        out.extend(f"{'':<{width}}{line}" for line in lines[1:])
    return out


def _format_map(values: Mapping[str, str]) -> str:
    if not values:
        return "<none>"
    return "\n".join(f"{k}={v}" for k, v in sorted(values.items()))


def _choice_lines(tag: TagView, now: dt.datetime) -> list[str]:
    """How the tag's image is chosen, from the lock: the policy and its pick, the hold,
    what waits out the minimum age."""
    lock = tag.lock
    if lock is None:
        return []
    lines: list[str] = []
    policy = lock.source.policy
    if policy is not None:
        pick = picked(lock)
        skip = f", excluding {', '.join(policy.exclude)}" if policy.exclude else ""
        lines.append(
            f"    version policy: {policy.describe()}{skip}" + (f"; {pick}" if pick else "")
        )
    if lock.hold is not None:
        # The age is when the hold began; the end, if any, is a date to come.
        until = f", until {lock.hold.until}" if lock.hold.until else ", until released"
        since = ago(lock.hold.since, now).lower()
        lines.append(f"  ! held since {since}{until}: not updated: {lock.hold.reason}")
    for item in lock.waiting:
        lines.append(
            f"    waiting: {item.name}, first seen {ago(item.first_seen, now)} "
            f"(minimum-age {lock.source.minimum_age})"
        )
    if not lock.waiting and lock.source.minimum_age:
        lines.append(f"    minimum-age {lock.source.minimum_age}")
    return lines


def render_describe(view: StreamView, now: dt.datetime) -> str:
    """``oc describe is`` for one stream."""
    lines = _table(
        [
            ("Name", view.name),
            ("Namespace", view.namespace),
            ("Created", ago(view.created, now) if view.created else "<unknown>"),
            ("Labels", _format_map(view.labels)),
            ("Annotations", _format_map(view.annotations)),
            ("Image Repository", view.image_repository),
            ("Image Lookup", f"local={'true' if view.lookup_local else 'false'}"),
            ("Unique Images", str(view.unique_images)),
            ("Tags", str(len(view.tags)) if view.tags else "<none>"),
        ]
    )
    lines.append("")
    for tag in view.tags:
        lines.append(tag.name)
        lines.append(_source_line(tag))
        if tag.insecure:
            lines.append("    will use insecure HTTPS or HTTP connections")
        if tag.reference_policy == LOCAL:
            lines.append("    prefer registry pullthrough when referencing this tag")
        lines.extend(_choice_lines(tag, now))
        lines.append("")
        condition = tag.lock.condition if tag.lock else None
        if condition is not None:
            lines.append(f"  ! error: Import failed ({condition.reason}): {condition.message}")
            lines.append(f"      {ago(condition.last_transition, now)}")
        for index, item in enumerate(tag.history):
            marker = "  * " if index == 0 else "    "
            lines.append(f"{marker}{item.image}")
            lines.append(f"      {ago(item.created, now)}")
        if condition is not None or tag.history:
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


@dataclass(frozen=True)
class ImageDetails:
    """What an image's config says (as the registry serves it), for :func:`render_image`."""

    created: str | None = None
    architecture: str | None = None
    os: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str | None = None
    user: str | None = None
    exposed_ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


def render_image(
    digest: str, pull_spec: str, seen: str | None, details: ImageDetails | None, now: dt.datetime
) -> str:
    """``oc describe isimage`` (and ``istag``) for one image: its name and pull spec,
    when the lock first saw it (``Created``), then what its config says when it could be
    read (``details``). oc's layout (``DescribeImage`` in openshift/oc
    pkg/helpers/describe/describer.go), less what only a cluster keeps: layer sizes and
    signatures."""
    rows = [("Image Name", digest), ("Docker Image", pull_spec), ("Name", digest)]
    if seen:
        rows.append(("Created", ago(seen, now)))
    if details is not None:
        if details.created:
            rows.append(("Image Created", ago(details.created, now)))
        rows.append(("Author", ""))
        rows.append(("Arch", details.architecture or ""))
        if details.entrypoint:
            rows.append(("Entrypoint", " ".join(details.entrypoint)))
        if details.cmd or not details.entrypoint:
            rows.append(("Command", " ".join(details.cmd)))
        rows.append(("Working Dir", details.working_dir or ""))
        rows.append(("User", details.user or ""))
        rows.append(("Exposes Ports", ", ".join(sorted(details.exposed_ports))))
        labels = "\n".join(f"{k}={v}" for k, v in sorted(details.labels.items()))
        rows.append(("Docker Labels", labels))
        if details.env:
            rows.append(("Environment", "\n".join(details.env)))
        if details.volumes:
            rows.append(("Volumes", "\n".join(sorted(details.volumes))))
    return "\n".join(_table(rows)) + "\n"
