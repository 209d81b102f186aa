"""``reconciler get is|istag|images [NAME]``: tables like ``oc get`` from the manifests and
the lock, or the objects as ``-o json|yaml`` (shaped like OpenShift's ImageStream,
ImageStreamTag, ImageStreamImage and Image objects, status built from the lock).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.references import expand_digest
from reconciler.core.tables import image_rows, is_rows, istag_rows, render_table
from reconciler.core.views import (
    expand_isimage,
    find_istag,
    image_views,
    istag_views,
    stream_views,
)

TYPES = {
    "is": "is",
    "imagestream": "is",
    "imagestreams": "is",
    "istag": "istag",
    "istags": "istag",
    "imagestreamtag": "istag",
    "imagestreamtags": "istag",
    "isimage": "istag",
    "isimages": "istag",
    "imagestreamimage": "istag",
    "imagestreamimages": "istag",
    "image": "images",
    "images": "images",
    # The fully qualified names oc prints with -o name.
    "imagestream.image.openshift.io": "is",
    "imagestreamtag.image.openshift.io": "istag",
    "imagestreamimage.image.openshift.io": "istag",
    "image.image.openshift.io": "images",
}
RESOURCE = {
    "is": "imagestream.image.openshift.io",
    "istag": "imagestreamtag.image.openshift.io",
    "images": "image.image.openshift.io",
}

EXAMPLES = """\
  reconciler get is                          # NAME  IMAGE REPOSITORY  TAGS  UPDATED
  reconciler get is -A -o wide               # every namespace, with the file of each stream
  reconciler get istag marsview:latest -o yaml
  reconciler get istag marsview@sha256:38c7...   # an image stream image
  reconciler get istag marsview@sha256:38c7e1f   # a unique prefix (7+ hex) is enough
  reconciler get images                      # every namespace's (images are cluster-scoped)
  reconciler get is approved-apache -o json
  reconciler get is/approved-apache is/marsview  # TYPE/NAME, as oc takes them
  reconciler get istag/marsview:latest -o name
""" + command.exit_codes_help(
    "a NAME is not found, its short digest is ambiguous, or TYPE is unknown (the names\n"
    "     that were found are still shown)"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "get",
        description="Like oc get, from the manifests and images.lock.yaml of a checkout. "
        "A digest may be shortened to sha256: and 7 or more hex characters when that is "
        "unique.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("type", metavar="TYPE", help="is | istag | images, or TYPE/NAME")
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="stream, stream:tag, stream@sha256:... (istag) or sha256:... (images)",
    )
    p.add_argument(
        "-o", "--output", choices=["table", "wide", "json", "yaml", "name"], default="table"
    )
    flags.add_repo_flags(p, all_namespaces=True)


def _listing(items: list[dict[str, Any]], single: bool) -> dict[str, Any]:
    if single:
        return items[0]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _groups(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """What to get, as (kind, names) in the order given: ``TYPE [NAME...]``, or
    ``TYPE/NAME...`` (one or more, of one type or several), as ``oc get`` takes them."""
    mixed = "/" not in args.type and any("/" in name for name in args.names)
    if "/" not in args.type and not mixed:
        kind = TYPES.get(args.type.lower())
        if kind is None:
            raise PermanentError(
                f"unknown type {args.type!r}: expected is, istag or images",
                exit_code=EXIT_PROBLEMS,
            )
        return [(kind, list(args.names))]
    groups: dict[str, list[str]] = {}
    for text in (args.type, *args.names):
        type_name, slash, name = text.partition("/")
        if not slash or mixed:
            # kubectl's own words for `get is is/ruby`.
            raise PermanentError(
                "there is no need to specify a resource type as a separate argument when "
                "passing arguments in resource/name form (e.g. 'reconciler get "
                "resource/<resource_name>' instead of 'reconciler get resource "
                "resource/<resource_name>')",
                exit_code=EXIT_PROBLEMS,
            )
        kind = TYPES.get(type_name.lower())
        if kind is None:
            raise PermanentError(
                f"unknown type {type_name!r}: expected is, istag or images",
                exit_code=EXIT_PROBLEMS,
            )
        if not name:
            raise PermanentError(f"{text!r}: expected TYPE/NAME", exit_code=EXIT_PROBLEMS)
        groups.setdefault(kind, []).append(name)
    return list(groups.items())


@dataclass
class _Found:
    objects: list[dict[str, Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    table: str = ""
    missing: list[str] = field(default_factory=list)
    invalid: bool = False  # a short digest that is ambiguous or too short (reported)


def _get(
    kind: str,
    wanted: list[str],
    checkout: Checkout,
    namespace: str | None,
    now: dt.datetime,
    wide: bool,
) -> _Found:
    found = _Found()
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
    if kind == "is":
        if wanted:
            found.missing = [n for n in wanted if n not in {v.name for v in views}]
            views = [v for v in views if v.name in wanted]
        found.objects = [v.to_object() for v in views]
        found.names = [v.name for v in views]
        found.table = render_table(
            *is_rows(views, now, wide=wide, all_namespaces=namespace is None)
        )
    elif kind == "istag":
        tags = []
        if wanted:
            for text in wanted:
                try:
                    view = find_istag(views, expand_isimage(views, text))
                except PermanentError as exc:
                    command.err(str(exc))
                    found.invalid = True
                    continue
                if view is None:
                    found.missing.append(text)
                else:
                    tags.append(view)
        else:
            tags = istag_views(views)
        found.objects = [t.to_object() for t in tags]
        found.names = [t.name for t in tags]
        found.table = render_table(
            *istag_rows(tags, now, wide=wide, all_namespaces=namespace is None)
        )
    else:
        # Images are cluster-scoped, as in OpenShift: every namespace's, whatever -n says.
        images = image_views(checkout.lock, None)
        if wanted:
            digests = []
            for text in wanted:
                try:
                    digests.append(expand_digest(text, (i.digest for i in images), text))
                except PermanentError as exc:
                    command.err(str(exc))
                    found.invalid = True
            found.missing = [n for n in digests if not any(i.digest == n for i in images)]
            images = [i for i in images if i.digest in digests]
        found.objects = [i.to_object() for i in images]
        found.names = [i.digest for i in images]
        found.table = render_table(*image_rows(images, wide=wide))
    return found


def run(args: argparse.Namespace, out: TextIO) -> int:
    groups = _groups(args)
    checkout = Checkout.open(args.repo)
    namespace = None if args.all_namespaces else checkout.namespace(args)
    now = flags.now_of(args)
    wide = args.output == "wide"
    results = [(kind, _get(kind, names, checkout, namespace, now, wide)) for kind, names in groups]
    asked = sum(len(names) for _, names in groups)
    missing = invalid = False
    for kind, found in results:
        resource, group = RESOURCE[kind].split(".", 1)
        for name in found.missing:
            command.err(f'{resource}s.{group} "{name}" not found')
        missing = missing or bool(found.missing)
        invalid = invalid or found.invalid
    objects = [o for _, found in results for o in found.objects]
    if args.output in ("json", "yaml"):
        if objects or not asked:
            command.print_data(
                _listing(objects, asked == 1 and len(objects) == 1), args.output, out
            )
    elif args.output == "name":
        for kind, found in results:
            for name in found.names:
                print(f"{RESOURCE[kind]}/{name}", file=out)
    elif objects:
        # Several types: one table each, a blank line between them, as oc prints them.
        out.write("\n".join(found.table for _, found in results if found.objects))
    elif not missing and not invalid:
        if all(kind == "images" for kind, _ in results):
            print("No resources found", file=out)  # kubectl's words for a cluster-scoped type
        else:
            where = "any namespace" if namespace is None else f"{namespace} namespace"
            print(f"No resources found in {where}.", file=out)
    return EXIT_PROBLEMS if missing or invalid else EXIT_OK
