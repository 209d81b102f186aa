"""The tables of ``reconciler get`` (``is``, ``istag``, ``images``), with ``oc get``'s
columns and widths.

Pure: views and ``now`` in, rows and text out. Owns the layout only: what a stream holds
is worked out in ``reconciler.core.views``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from reconciler.core.times import ago
from reconciler.core.views import ImageView, IsTagView, StreamView


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as kubectl's tab writer lays them out (min width 10, padding 3)."""
    widths = [
        max(10, max((len(r[i]) for r in [header, *rows]), default=0) + 3)
        for i in range(len(header))
    ]
    out = []
    for row in [header, *rows]:
        cells = [f"{cell:<{widths[i]}}" if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        out.append("".join(cells).rstrip())
    return "\n".join(out) + "\n"


def short_tags(names: Sequence[str], limit: int | None = 3) -> str:
    """Tag names joined by commas; past ``limit`` (None: no limit), the first ``limit``
    and ``+ N more...`` as oc prints them."""
    if limit is not None and len(names) > limit:
        return f"{','.join(names[:limit])} + {len(names) - limit} more..."
    return ",".join(names)


def is_rows(
    views: Sequence[StreamView], now: dt.datetime, *, wide: bool, all_namespaces: bool
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of ``get is``: name, repository, tags, age of the last update;
    FILE when ``wide``, NAMESPACE first when ``all_namespaces``. One row per view, in
    the order given."""
    header = ["NAME", "IMAGE REPOSITORY", "TAGS", "UPDATED"]
    if wide:
        header.append("FILE")
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for view in views:
        names = [t.name for t in view.tags]
        row = [
            view.name,
            view.image_repository,
            short_tags(names, None if wide else 3),
            ago(view.updated, now) if view.updated else "",
        ]
        if wide:
            row.append(view.file or "<lock only>")
        if all_namespaces:
            row.insert(0, view.namespace)
        rows.append(row)
    return header, rows


def istag_rows(
    tags: Sequence[IsTagView], now: dt.datetime, *, wide: bool, all_namespaces: bool
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of ``get istag``: name, pull spec, age; FROM and SCHEDULED when
    ``wide``, NAMESPACE first when ``all_namespaces``. A tag never resolved has empty
    cells."""
    header = ["NAME", "IMAGE REFERENCE", "UPDATED"]
    if wide:
        header += ["FROM", "SCHEDULED"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for view in tags:
        item = view.item
        row = [view.name, item.image if item else "", ago(item.created, now) if item else ""]
        if wide:
            tag = view.tag
            source = f"{tag.from_kind} {tag.from_name}" if tag and tag.from_kind else ""
            row += [source, ("true" if tag.scheduled else "false") if tag else ""]
        if all_namespaces:
            row.insert(0, view.stream.namespace)
        rows.append(row)
    return header, rows


def image_rows(images: Sequence[ImageView], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    """Header and rows of ``get images``: digest and pull spec; USED BY when
    ``wide``."""
    header = ["NAME", "IMAGE REFERENCE"]
    if wide:
        header.append("USED BY")
    rows = []
    for image in images:
        row = [image.digest, image.image]
        if wide:
            row.append(",".join(image.used_by))
        rows.append(row)
    return header, rows
